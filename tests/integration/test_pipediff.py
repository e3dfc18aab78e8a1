"""Differential test: a channel against a kernel FIFO.

A seeded random sequence of operations runs against an ipcfs channel and,
side by side, against a FIFO made with mkfifo in a temporary directory: opens
and closes of readers, writers and read-write descriptors (with and without
O_NONBLOCK at open), non-blocking reads of random sizes, non-blocking writes
of random sizes on both sides of PIPE_BUF (4096), and poll with timeout 0.
After every operation the two answers are compared: the bytes read, the
counts written (whole, partial or none), EAGAIN, EPIPE and end of file, and
poll's POLLIN, POLLOUT, POLLHUP and POLLERR.  A model of pipe(7) follows
along and says what both must answer; a difference between the channel and
the FIFO, or between either and the model, fails the test with the seed and
the last operations.

Every read and write is non-blocking, so nothing can hang; each call on the
mount is still guarded by an alarm.  The mount has capacity=65536, the size
of a kernel pipe (16 pages); the test checks F_GETPIPE_SZ and sets the FIFO
to that size if the system default differs.

Where ipcfs differs from a FIFO on purpose, or where pipe(7) leaves the
answer to the kernel, the sequences stay out of those states or each side is
held to its own rule:

- Open never waits on a channel.  A FIFO's O_RDONLY open waits for a writer
  and its O_WRONLY open waits for a reader (O_WRONLY|O_NONBLOCK fails with
  ENXIO).  So readers open without O_NONBLOCK only while a writer is open,
  and writers open only while a reader is open; O_RDWR opens any time.
  Descriptors opened without O_NONBLOCK are switched to it with fcntl, so
  the daemon sees the flag change.
- End of file needs the open to have seen a writer on a channel (one was
  open, or data was buffered, when it opened, or a writer opened since).  A
  FIFO reader gets end of file whenever the FIFO is empty with no writer,
  even one that never saw a writer; there the channel must say EAGAIN.
- EPIPE needs the open to have seen a reader.  Writers only open while a
  reader is open here, so they all have, and EPIPE must match exactly.
- A channel keeps its data when every descriptor is closed; a FIFO drops it.
  The last descriptor is never closed while data is buffered.
- poll at end of file: the channel gives POLLIN|POLLHUP, the FIFO POLLHUP
  alone; select() and "readable" agree.  With data left and no writer, the
  FIFO adds POLLHUP to POLLIN, the channel does not until the data is read.
  A FIFO reader that never saw a writer gets no POLLHUP, like the channel,
  but a channel reader that opened while data was buffered with no writer
  open has seen one, a FIFO reader has not: POLLHUP is only compared where
  the two rules agree.  With no reader the channel gives POLLERR|POLLOUT,
  the FIFO POLLERR and POLLOUT only while not full.
- Capacity: a FIFO stores data in page buffers, so how much it takes
  depends on earlier write sizes (3000-byte writes fill it at 48000 bytes);
  pipe(7) says not to rely on it.  A channel takes bytes up to 65536.  So
  writes are only made, and POLLOUT only compared, where both must give the
  same answer: into an empty pipe (both take min(n, 65536)), into a full one
  (both EAGAIN), and where the buffered bytes are few enough that the FIFO
  surely has the page buffers free (see fifo_pages_free).

The daemon learns of a close asynchronously (FUSE RELEASE).  Before an
answer that depends on a close (end of file, EPIPE, POLLHUP, POLLERR) the
test waits, bounded, until the channel shows POLLHUP or POLLERR where the
close must make it appear; elsewhere it relies on the daemon handling the
RELEASE before the next request, which FUSE queues after it.

By default 40 seeds run 1000 operations each (a second or two);
PIPEDIFF_SEEDS (a count, or first-last) and PIPEDIFF_OPS change that.
"""

import errno
import fcntl
import os
import random
import select
import shutil
import signal
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

CAPACITY = 65536	# the mount's capacity=, a kernel pipe's default size
ATOMIC = 4096		# PIPE_BUF
PAGE = 4096		# a FIFO's buffer unit on x86_64
PAGES = CAPACITY // PAGE
MAX_FDS = 6
GUARD = 10		# seconds; a hang guard per call, never a measurement
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)

IN, OUT, HUP, ERR = select.POLLIN, select.POLLOUT, select.POLLHUP, \
    select.POLLERR


def seeds():
    spec = os.environ.get("PIPEDIFF_SEEDS", "40")
    if "-" in spec:
        first, last = spec.split("-")
        return range(int(first), int(last) + 1)
    return range(1, int(spec) + 1)


OPS = int(os.environ.get("PIPEDIFF_OPS", "1000"))


class HangGuard(Exception):
    pass


def alarm(signum, frame):
    raise HangGuard(f"a call on the mount took more than {GUARD} s")


def guarded(fn, *args):
    """fn(*args) under the hang guard; an OSError becomes its errno name."""
    signal.setitimer(signal.ITIMER_REAL, GUARD)
    try:
        return fn(*args)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def fifo_pages_min_bytes(pages):
    """The fewest bytes that can occupy this many FIFO page buffers.

    The oldest buffer may hold a single unread byte.  Any later buffer was
    started by a write that did not fit in the one before it (or continued
    a write that filled it), so two neighbours after the oldest together
    hold more than a page: at least PAGE + 1 bytes per pair."""
    if pages == 0:
        return 0
    rest = pages - 1
    return 1 + (rest // 2) * (PAGE + 1) + rest % 2


def fifo_pages_max_used(buffered):
    """The most FIFO page buffers that buffered bytes can occupy."""
    pages = 0
    while pages < PAGES and fifo_pages_min_bytes(pages + 1) <= buffered:
        pages += 1
    return pages


def fifo_pages_free(buffered):
    """Page buffers a FIFO holding buffered bytes surely has free."""
    return PAGES - fifo_pages_max_used(buffered)


def write_outcome(buffered, n):
    """What a non-blocking write of n bytes must give on both sides, with
    a reader open, or None where pipe(7) leaves it to the FIFO's pages."""
    if n == 0:
        return 0
    if buffered == 0:
        return min(n, CAPACITY)
    if buffered == CAPACITY:
        return "EAGAIN"
    if buffered + n > CAPACITY:
        return None
    if fifo_pages_free(buffered) >= -(-n // PAGE):
        return n
    return None


class Fd:
    """One descriptor open on both sides, and what the rules know of it."""

    def __init__(self, n, mode, chan_fd, fifo_fd, seen_writer, fifo_hup):
        self.n = n
        self.mode = mode		# "r", "w" or "rw"
        self.chan = chan_fd
        self.fifo = fifo_fd
        # The channel's rule: a writer was open, or data buffered, at open,
        # or a writer opened since.
        self.seen_writer = seen_writer
        # The FIFO's rule for POLLHUP: a writer opened since, unless the
        # open itself found a writer or waited for one.
        self.fifo_hup = fifo_hup

    @property
    def reads(self):
        return "r" in self.mode

    @property
    def writes(self):
        return "w" in self.mode

    def __repr__(self):
        return f"fd{self.n}({self.mode})"


class Diff:
    """One seeded run against a channel and a FIFO."""

    def __init__(self, test, seed, chan_path, fifo_path):
        self.test = test
        self.seed = seed
        self.rng = random.Random(seed)
        self.chan_path = chan_path
        self.fifo_path = fifo_path
        self.fds = []
        self.next_fd = 0
        self.stream = bytearray()	# buffered bytes, oldest first
        self.log = []
        self.counts = {}

    # Reporting.

    def fail(self, what):
        state = (f"buffered {len(self.stream)}, readers {self.readers}, "
                 f"writers {self.writers}, fds {self.fds}")
        recent = "\n    ".join(self.log[-25:])
        self.test.fail(f"seed {self.seed}, op {len(self.log)}: {what}\n"
                       f"  state: {state}\n  last operations:\n    {recent}")

    def note(self, text):
        self.log.append(text)

    def same(self, what, chan, fifo, want=None):
        """Both sides gave the same answer, and the model's if it has one."""
        if chan != fifo:
            self.fail(f"{what}: channel {short(chan)}, FIFO {short(fifo)}")
        if want is not None and chan != want:
            self.fail(f"{what}: both {short(chan)}, pipe(7) says "
                      f"{short(want)}")

    def own(self, what, side, got, want):
        if got != want:
            self.fail(f"{what}: {side} {short(got)}, its rule says "
                      f"{short(want)}")

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    # The model.

    @property
    def readers(self):
        return sum(1 for f in self.fds if f.reads)

    @property
    def writers(self):
        return sum(1 for f in self.fds if f.writes)

    # Operations.

    def op_open(self, mode):
        readers, writers = self.readers, self.writers
        if mode == "w" and readers == 0:
            return False		# a FIFO would wait, or give ENXIO
        # A FIFO reader without a writer must not wait.
        nonblock = self.rng.random() < 0.5 or (mode == "r" and writers == 0)
        flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[mode]
        if nonblock:
            flags |= os.O_NONBLOCK
        chan = guarded(os.open, self.chan_path, flags)
        fifo = guarded(os.open, self.fifo_path, flags)
        if isinstance(chan, str) or isinstance(fifo, str):
            for fd in (chan, fifo):
                if not isinstance(fd, str):
                    os.close(fd)
            self.fail(f"open {mode}: channel {chan}, FIFO {fifo}")
        for fd in (chan, fifo):
            if not nonblock:
                fl = fcntl.fcntl(fd, fcntl.F_GETFL)
                fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        if "w" in mode:
            for f in self.fds:
                f.seen_writer = True
                f.fifo_hup = True
        seen = writers > 0 or "w" in mode or len(self.stream) > 0
        hup = not (mode == "r" and nonblock and writers == 0)
        fd = Fd(self.next_fd, mode, chan, fifo, seen, hup)
        self.next_fd += 1
        self.fds.append(fd)
        self.note(f"open {fd}{' nonblock' if nonblock else ''}")
        if self.next_fd == 1:
            size = fcntl.fcntl(fifo, F_GETPIPE_SZ)
            if size != CAPACITY:
                fcntl.fcntl(fifo, F_SETPIPE_SZ, CAPACITY)
            self.test.assertEqual(fcntl.fcntl(fifo, F_GETPIPE_SZ),
                                  CAPACITY)
        return True

    def op_close(self, fd):
        if len(self.fds) == 1 and self.stream:
            return False		# the FIFO would drop its data
        self.fds.remove(fd)
        os.close(fd.chan)
        os.close(fd.fifo)
        self.note(f"close {fd}")
        self.settle()
        return True

    def settle(self):
        """Wait until the channel shows what the closes so far must show.

        A reader that has seen a writer gets POLLHUP once the last writer
        is gone and the channel is empty; a writer gets POLLERR once the
        last reader is gone.  The daemon learns of closes asynchronously,
        so wait for those (bounded) before comparing anything."""
        waits = []
        if self.writers == 0 and not self.stream:
            waits += [(f, HUP) for f in self.fds if f.seen_writer]
        if self.readers == 0:
            waits += [(f, ERR) for f in self.fds if f.writes]
        for f, bit in waits:
            p = select.poll()
            p.register(f.chan, IN | OUT)
            for _ in range(GUARD * 10):
                ev = p.poll(100)
                if ev and ev[0][1] & bit:
                    break
            else:
                self.fail(f"{f} never showed {pollname(bit)} after the "
                          f"close")

    def read_size(self):
        r = self.rng.random()
        if r < 0.02:
            return 0
        if r < 0.2:
            return self.rng.randint(1, 16)
        if r < 0.6:
            return self.rng.randint(1, ATOMIC)
        return self.rng.randint(ATOMIC + 1, CAPACITY + 4500)

    def op_read(self, fd):
        n = self.read_size()
        chan = guarded(os.read, fd.chan, n)
        fifo = guarded(os.read, fd.fifo, n)
        what = f"read {fd} {n}"
        self.note(f"{what} -> {short(chan)} / {short(fifo)}")
        if self.stream or n == 0:
            want = bytes(self.stream[:n])
            self.same(what, chan, fifo, want)
            del self.stream[:len(want)]
            self.count("read data" if n else "read 0")
            if not self.stream and self.writers == 0:
                self.settle()
        elif self.writers > 0:
            self.same(what, chan, fifo, "EAGAIN")
            self.count("read EAGAIN")
        elif fd.seen_writer:
            self.same(what, chan, fifo, b"")
            self.count("read EOF")
        else:
            # Empty with no writer, and this open never saw one.
            self.own(what, "FIFO", fifo, b"")
            self.own(what, "channel", chan, "EAGAIN")
            self.count("read EOF/EAGAIN (differs)")
        return True

    def write_size(self):
        r = self.rng.random()
        if r < 0.02:
            return 0
        if r < 0.2:
            return self.rng.randint(1, 64)
        if r < 0.6:
            return self.rng.randint(1, ATOMIC)
        if r < 0.7:
            return self.rng.randint(ATOMIC - 8, ATOMIC + 8)
        return self.rng.randint(ATOMIC + 1, CAPACITY + 40000)

    def op_write(self, fd):
        n = self.write_size()
        if self.readers == 0:
            want = 0 if n == 0 else "EPIPE"
        else:
            want = write_outcome(len(self.stream), n)
            if want is None:
                if self.rng.random() < 0.5:
                    return self.op_write_near_full(fd, n)
                # Try a size both must take whole; else do something else.
                n = self.rng.randint(1, ATOMIC)
                want = write_outcome(len(self.stream), n)
                if want is None:
                    return False
        data = self.rng.randbytes(n)
        chan = guarded(os.write, fd.chan, data)
        fifo = guarded(os.write, fd.fifo, data)
        what = f"write {fd} {n}"
        self.note(f"{what} -> {chan} / {fifo}")
        self.same(what, chan, fifo, want)
        if isinstance(chan, int):
            self.stream += data[:chan]
            if chan == n:
                self.count("write whole")
            else:
                self.count("write partial")
        else:
            self.count(f"write {chan}")
        return True

    def op_write_near_full(self, fd, n):
        """A write where the FIFO's answer depends on its page buffers.

        Each side is held to its own rule: the channel takes exactly what
        fits in 65536 bytes, the FIFO anything pipe(7) allows (a write of
        at most PIPE_BUF whole or EAGAIN, a bigger one in part).  Where the
        two took different amounts, both are drained through a reader and
        each must give back exactly its own bytes; then both are empty and
        the sequence goes on from the same state."""
        room = CAPACITY - len(self.stream)
        if n <= ATOMIC:
            want = n if n <= room else "EAGAIN"
        else:
            want = min(n, room) if room > 0 else "EAGAIN"
        data = self.rng.randbytes(n)
        chan = guarded(os.write, fd.chan, data)
        fifo = guarded(os.write, fd.fifo, data)
        what = f"write {fd} {n} near full"
        self.note(f"{what} -> {chan} / {fifo}")
        self.own(what, "channel", chan, want)
        if n <= ATOMIC:
            if fifo not in (n, "EAGAIN"):
                self.fail(f"{what}: FIFO {fifo}: not atomic")
        elif not (fifo == "EAGAIN" or (isinstance(fifo, int) and
                                       0 < fifo <= min(n, room))):
            self.fail(f"{what}: FIFO {fifo}, room for {room}")
        self.count("write near full, channel EAGAIN" if chan == "EAGAIN"
                   else "write near full, channel took some")
        if chan == fifo:
            if isinstance(chan, int):
                self.stream += data[:chan]
            return True
        self.count("write near full, sides differ: drained")
        chan_stream = self.stream + (data[:chan] if isinstance(chan, int)
                                     else b"")
        fifo_stream = self.stream + (data[:fifo] if isinstance(fifo, int)
                                     else b"")
        reader = self.rng.choice([f for f in self.fds if f.reads])
        for side, osfd, stream in (("channel", reader.chan, chan_stream),
                                   ("FIFO", reader.fifo, fifo_stream)):
            got = bytearray()
            while True:
                b = guarded(os.read, osfd, CAPACITY)
                if not isinstance(b, bytes) or not b:
                    break
                got += b
            self.note(f"drain {reader} {side} -> {len(got)} bytes, then {b}")
            if b != "EAGAIN" or got != stream:
                self.fail(f"drain {reader}: {side} gave {len(got)} bytes "
                          f"then {short(b)}, wrote {len(stream)}"
                          + (" (different bytes)" if len(got) ==
                             len(stream) else ""))
        self.stream = bytearray()
        return True

    def poll_expect(self, fd):
        """The bits each side must show: {bit: bool}, for channel, FIFO."""
        chan, fifo = {}, {}
        buffered = len(self.stream)
        if fd.reads:
            if buffered:
                chan[IN] = fifo[IN] = True
                chan[HUP] = False
                fifo[HUP] = self.writers == 0 and fd.fifo_hup
            elif self.writers:
                chan[IN] = fifo[IN] = chan[HUP] = fifo[HUP] = False
            else:
                chan[IN] = chan[HUP] = fd.seen_writer
                fifo[IN] = False
                fifo[HUP] = fd.fifo_hup
        if fd.writes:
            chan[ERR] = fifo[ERR] = self.readers == 0
            if self.readers == 0:
                chan[OUT] = True
                if buffered == CAPACITY:
                    fifo[OUT] = False
                elif fifo_pages_free(buffered) > 0:
                    fifo[OUT] = True
            else:
                # The channel: POLLOUT while a PIPE_BUF write would fit.
                chan[OUT] = CAPACITY - buffered >= ATOMIC
                if buffered == CAPACITY:
                    fifo[OUT] = False
                elif fifo_pages_free(buffered) > 0:
                    fifo[OUT] = True
        return chan, fifo

    def op_poll(self, fd):
        def poll(osfd):
            p = select.poll()
            p.register(osfd, IN | OUT)
            ev = p.poll(0)
            return ev[0][1] if ev else 0

        chan = guarded(poll, fd.chan)
        fifo = guarded(poll, fd.fifo)
        what = f"poll {fd}"
        self.note(f"{what} -> {pollname(chan)} / {pollname(fifo)}")
        want_chan, want_fifo = self.poll_expect(fd)
        bits = ((IN, HUP) if fd.reads else ()) + \
            ((OUT, ERR) if fd.writes else ())
        for bit in bits:
            c, f = want_chan.get(bit), want_fifo.get(bit)
            got_c, got_f = bool(chan & bit), bool(fifo & bit)
            if c is not None and c == f:
                self.same(f"{what} {pollname(bit)}", got_c, got_f, c)
                self.count("poll bit compared")
                continue
            if c is not None:
                self.own(f"{what} {pollname(bit)}", "channel", got_c, c)
            if f is not None:
                self.own(f"{what} {pollname(bit)}", "FIFO", got_f, f)
            if c is None and f is None:
                self.count("poll bit left to capacity")
            else:
                self.count("poll bit on own rule")
        # select()'s readable, POLLIN or POLLHUP, agrees wherever both
        # sides know it.
        if fd.reads and (self.stream or self.writers or
                         fd.seen_writer == fd.fifo_hup):
            self.same(f"{what} readable", bool(chan & (IN | HUP)),
                      bool(fifo & (IN | HUP)))
        return True

    def step(self):
        kind = self.rng.choices(
            ["open", "close", "read", "write", "poll"],
            [18, 12, 25, 28, 17])[0]
        if kind == "open":
            if len(self.fds) >= MAX_FDS:
                return False
            return self.op_open(self.rng.choice(["r", "r", "w", "w", "rw"]))
        if not self.fds:
            return False
        if kind == "close":
            return self.op_close(self.rng.choice(self.fds))
        if kind == "read":
            fds = [f for f in self.fds if f.reads]
            return fds and self.op_read(self.rng.choice(fds))
        if kind == "write":
            fds = [f for f in self.fds if f.writes]
            return fds and self.op_write(self.rng.choice(fds))
        return self.op_poll(self.rng.choice(self.fds))

    def run(self, ops):
        try:
            done = 0
            while done < ops:
                if self.step():
                    done += 1
        finally:
            for f in self.fds:
                os.close(f.chan)
                os.close(f.fifo)
            self.fds = []
        return self.counts


def short(x):
    if isinstance(x, (bytes, bytearray)):
        return f"{len(x)} bytes" if x else "EOF (0 bytes)"
    return str(x)


def pollname(ev):
    names = [n for n, b in (("IN", IN), ("OUT", OUT), ("HUP", HUP),
                            ("ERR", ERR)) if ev & b]
    return "|".join(names) or "0"


class PipeDiffTest(ipcfs_test.MountedTestCase):
    """Channels and FIFOs answer the same random sequences alike."""

    options = ("-o", f"capacity={CAPACITY}")

    def setUp(self):
        if os.sysconf("SC_PAGE_SIZE") != PAGE:
            self.skipTest("the FIFO model assumes 4096-byte pages")
        self.old_alarm = signal.signal(signal.SIGALRM, alarm)
        self.tmp = tempfile.mkdtemp(prefix="ipcfs-pipediff.")

    def tearDown(self):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old_alarm)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_model(self):
        """The page bound behind the write rule holds on this kernel: on a
        FIFO alone, random writes and reads of the sizes the sequences use
        never get another answer than write_outcome promises."""
        path = os.path.join(self.tmp, "probe")
        os.mkfifo(path)
        r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        rng = random.Random(0)
        checked = 0
        try:
            if fcntl.fcntl(w, F_GETPIPE_SZ) != CAPACITY:
                fcntl.fcntl(w, F_SETPIPE_SZ, CAPACITY)
            buffered = 0
            for i in range(20000):
                if rng.random() < 0.5:
                    n = rng.choice([rng.randint(1, 64),
                                    rng.randint(1, ATOMIC),
                                    rng.randint(ATOMIC + 1, CAPACITY)])
                    want = write_outcome(buffered, n)
                    try:
                        got = os.write(w, b"x" * n)
                    except BlockingIOError:
                        got = "EAGAIN"
                    if want is not None:
                        checked += 1
                        self.assertEqual(got, want, f"write {n} with "
                                         f"{buffered} buffered, op {i}")
                    if got != "EAGAIN":
                        buffered += got
                else:
                    n = rng.choice([rng.randint(1, 64),
                                    rng.randint(1, ATOMIC),
                                    rng.randint(1, CAPACITY)])
                    try:
                        buffered -= len(os.read(r, n))
                    except BlockingIOError:
                        self.assertEqual(buffered, 0)
        finally:
            os.close(r)
            os.close(w)
        self.assertGreater(checked, 1000)

    def test_seeds(self):
        """Random sequences, one per seed: the same answers throughout."""
        totals = {}
        for seed in seeds():
            with self.subTest(seed=seed):
                chan = self.mnt(f"diff-{seed}")
                fifo = os.path.join(self.tmp, f"fifo-{seed}")
                # mknod, not open: no earlier writer for the daemon to see.
                os.mknod(chan, 0o600 | stat.S_IFREG)
                os.mkfifo(fifo, 0o600)
                try:
                    counts = Diff(self, seed, chan, fifo).run(OPS)
                finally:
                    os.unlink(chan)
                    os.unlink(fifo)
                for k, v in counts.items():
                    totals[k] = totals.get(k, 0) + v
        print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(totals.items())),
              file=sys.stderr)
        # Full runs must reach the interesting cases at all.
        if len(seeds()) * OPS < 3000:
            return
        for case in ("read EOF", "read EAGAIN", "write EAGAIN", "write EPIPE",
                     "write partial", "write whole", "read data"):
            self.assertGreater(totals.get(case, 0), 0, case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
