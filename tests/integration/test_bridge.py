"""The NATS bridge (issue 13, -o nats, user.ipcfs.bridge) as users see it,
without faults: one nats-server with JetStream per test class and two to
four ipcfs daemons bridged to it (natstest.Host), standing for hosts.
Each test works in a directory of its own, bridged on every host.

- names: channels and subdirectories made, renamed and removed on one
  host show on the others (os.listdir and os.stat of the name), with
  their settings; bridging a directory brings the names the cluster has;
  the errors of user.ipcfs.bridge and of a rename across the bridge;
  user.ipcfs.bridge and user.ipcfs.stats read back;
- queue delivery: three writers on two hosts, three readers on two
  others, every record read exactly once and each writer's in order, in
  message framing and byte framing, every reader ending at end of file;
- broadcast delivery: every reader on every host gets every message;
- back-pressure: EAGAIN when the channel is full cluster-wide and the
  writer's host buffers a capacity more (issue 22), a writer
  that sleeps (S, never D), resumes when a reader elsewhere drains, and
  dies at SIGKILL;
- end of file and EPIPE with the readers and writers of every host, and
  a killed host that stops counting after nats_timeout;
- everyday tools across hosts: echo, bash's read, cat, seq, sort, sed,
  Python text files; O_NONBLOCK reads and poll/select woken by a write
  on another host.

Faults (a server restart, a lost cluster node, a daemon killed under
load, a cut network) are test_bridge_faults's.  Nothing here measures
time: every wait is bounded only as a hang guard.

Run as "test_bridge.py worker ..." this file is a worker process (see
worker() below).
"""

import ctypes
import errno
import json
import mmap
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
import msgtest  # noqa: E402
import natstest  # noqa: E402

PY = "/usr/bin/python3"
ME = os.path.abspath(__file__)
WAIT = 10.0         # seconds for a change to show elsewhere; a hang guard
LONG = 60.0         # seconds for a process to finish; a hang guard
BRIDGE = "user.ipcfs.bridge"
FRAMING = "user.ipcfs.framing"
DELIVERY = "user.ipcfs.delivery"
CAPACITY = "user.ipcfs.capacity"
figures = ipcfs_test.figures

# -- records: what the writers write and the readers check ------------------

REC = 64            # bytes in a record: "w<id> <n>", spaces, "\n"
LARGEST = 4096      # the most one write carries


def record(w, n):
    r = b"w%d %d" % (w, n)
    return r + b" " * (REC - 1 - len(r)) + b"\n"


def parse(rec):
    """(writer, number) of one record, checked whole; ValueError if not."""
    try:
        w, n = rec.split()
        out = int(w[1:]), int(n)
    except ValueError:
        raise ValueError("not a record: %r" % rec) from None
    if not w.startswith(b"w") or record(*out) != rec:
        raise ValueError("not a record: %r" % rec)
    return out


def per_write(w, n, framing):
    """How many records writer w puts in the write that starts at record
    n: 1 to 16 in a message, 1 to 64 (4096 bytes) in a byte stream."""
    return 1 + (n * 13 + w * 7) % (16 if framing == "messages" else 64)


def writes(w, count, framing):
    """Writer w's writes of its records 0..count-1: lists of numbers."""
    out, n = [], 0
    while n < count:
        k = min(per_write(w, n, framing), count - n)
        out.append(list(range(n, n + k)))
        n += k
    return out


def check_read(data, framing, count):
    """The records of one read, checked: whole records, and in message
    framing exactly one write's.  ValueError if not."""
    if len(data) % REC:
        raise ValueError("a read of %d bytes, not whole records: %r..%r" % (
            len(data), data[:REC], data[-REC:]))
    recs = [parse(data[i:i + REC]) for i in range(0, len(data), REC)]
    if framing == "messages":
        w, n = recs[0]
        want = [(w, i) for i in range(n, n + min(per_write(w, n, framing),
                                                 count - n))]
        if recs != want:
            raise ValueError("a message is not as written: %r, not %r"
                             % (recs, want))
    return recs


# -- the worker processes ---------------------------------------------------

def worker(argv):
    """The processes the tests start, each with its own open:

    writer PATH W COUNT FRAMING
        open for writing, print "open", wait for a line on stdin (so
        that every writer is open before any writes, and none closes
        before all have opened: end of file comes only once all are
        done), write writer W's records (each write whole, or fail),
        close, print "done N"
    reader PATH FRAMING COUNT
        open for reading, print "open", read until end of file (4096
        bytes a read in a byte stream, one message a read otherwise),
        check every read, print one JSON list of [writer, number]
    lines PATH
        open for reading, print "open", then each read as it comes, one
        JSON string a line, and "eof" at end of file
    block PATH SIZE
        open for writing, print "writing", one blocking write of SIZE
        bytes, print "wrote N" or the errno's name; then "close ERRNO"
        if the close failed
    """
    what, path = argv[0], argv[1]
    if what == "writer":
        w, count, framing = int(argv[2]), int(argv[3]), argv[4]
        fd = os.open(path, os.O_WRONLY)
        print("open", flush=True)
        sys.stdin.readline()
        total = 0
        for nums in writes(w, count, framing):
            data = b"".join(record(w, n) for n in nums)
            n = os.write(fd, data)
            if n != len(data):
                sys.exit("writer %d: a write of %d bytes returned %d"
                         % (w, len(data), n))
            total += len(nums)
        os.close(fd)
        print("done", total, flush=True)
    elif what == "reader":
        framing, count = argv[2], int(argv[3])
        fd = os.open(path, os.O_RDONLY)
        print("open", flush=True)
        got = []
        size = LARGEST if framing == "bytes" else 65536
        while True:
            data = os.read(fd, size)
            if not data:
                break
            try:
                got.extend(check_read(data, framing, count))
            except ValueError as e:
                sys.exit("reader: after %d records: %s" % (len(got), e))
        os.close(fd)
        print(json.dumps(got), flush=True)
    elif what == "lines":
        fd = os.open(path, os.O_RDONLY)
        print("open", flush=True)
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            print(json.dumps(data.decode()), flush=True)
        os.close(fd)
        print("eof", flush=True)
    elif what == "block":
        fd = os.open(path, os.O_WRONLY)
        print("writing", flush=True)
        try:
            n = os.write(fd, b"b" * int(argv[2]))
            print("wrote", n, flush=True)
        except OSError as e:
            print(errno.errorcode[e.errno], flush=True)
        try:
            os.close(fd)
        except OSError as e:
            print("close", errno.errorcode[e.errno], flush=True)
    else:
        sys.exit("test_bridge.py: no worker %r" % what)


# -- the test classes ------------------------------------------------------

class BridgeCase(ipcfs_test.GuardedTestCase):
    """One nats-server for the class and `hosts` daemons bridged to it
    (A, B, C...), each with `options` too.  A test's directory,
    self.dir, is made and bridged on every host by bridged()."""

    hosts = 3
    options = ()
    guard = 120

    @classmethod
    def setUpClass(cls):
        natstest.skip_unless_nats()
        cls.server = natstest.NatsServer("s")
        cls.all = []
        try:
            for _ in range(cls.hosts):
                cls.all.append(natstest.Host(cls.server.url, *cls.options))
        except BaseException:
            cls.tearDownClass()
            raise
        for name, h in zip("ABCD", cls.all):
            setattr(cls, name, h)

    @classmethod
    def tearDownClass(cls):
        errors = []
        for h in cls.all:
            try:
                h.close()
            except AssertionError as e:
                errors.append("host %s: %s" % (h.id, e))
        cls.server.close()
        if errors:
            raise AssertionError("\n".join(errors))

    def setUp(self):
        super().setUp()
        self.dir = self._testMethodName
        self.extra = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for h in self.extra:
                h.close()

    # -- helpers --

    def until(self, what, fn, wait=WAIT):
        """Poll fn until it returns something true, and return that; fail
        after wait seconds (a hang guard, not a measurement)."""
        deadline = time.monotonic() + wait
        while True:
            got = fn()
            if got:
                return got
            if time.monotonic() > deadline:
                self.fail("not within %ds: %s%s" % (wait, what,
                                                     self.logs()))
            time.sleep(0.02)

    def logs(self):
        """The bridge's lines in each daemon's log, for a failure."""
        out = []
        for n, h in zip("ABCDEFG", self.all + self.extra):
            lines = [x for x in h.log().splitlines() if "bridge" in x]
            out.append("\n%s %s:\n  %s" % (n, h.path if h.mount else "-",
                                            "\n  ".join(lines[-15:])))
        return "".join(out)

    def bridged(self, *hosts, name=None):
        """Make directory name (self.dir) on hosts (all of them) and
        bridge it there; its name."""
        name = name or self.dir
        for h in hosts or self.all:
            os.mkdir(h(name), 0o755)
            natstest.mark(h(name))
        return name

    def make(self, host, *names, framing=None, delivery=None,
             capacity=None):
        """Make channel self.dir/names... on host, with these settings;
        its path there."""
        p = host(self.dir, *names)
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        if capacity is not None:
            os.setxattr(p, CAPACITY, str(capacity).encode())
        if framing is not None:
            os.setxattr(p, FRAMING, framing.encode())
        if delivery is not None:
            os.setxattr(p, DELIVERY, delivery.encode())
        return p

    def channel(self, capacity=None):
        """A bridged channel c made on A: its path on A and on B."""
        self.bridged()
        p = self.made(self.A, "c", capacity=capacity)
        return p, self.B(self.dir, "c")

    def answers(self):
        """Every host's daemon still runs and answers."""
        for h in self.all:
            self.assertIsNone(h.trouble(), h)

    def made(self, host, *names, framing=None, delivery=None,
             capacity=None):
        """make() on host, then wait until every host has the channel with
        these settings and counts no open of it elsewhere (the open that
        made it is closed): a test of data then starts from a channel that
        no host thinks is open.  (test_no_eof_from_a_closed_creator is
        about what happens without that wait.)"""
        p = self.make(host, *names, framing=framing, delivery=delivery,
                      capacity=capacity)
        for h in self.all:
            q = h(self.dir, *names)
            self.settled(q, framing, delivery, capacity)
            self.until("no open of %s counted" % q, lambda: (
                figures(q)["remote_readers"], figures(q)["remote_writers"])
                == (0, 0))
        return p

    @staticmethod
    def exists(path):
        """True if both os.stat and os.listdir of its directory find it."""
        try:
            os.stat(path)
        except FileNotFoundError:
            return False
        try:
            return os.path.basename(path) in os.listdir(os.path.dirname(path))
        except FileNotFoundError:
            return False

    @staticmethod
    def absent(path):
        """True if neither os.stat nor os.listdir finds it."""
        try:
            os.stat(path)
            return False
        except FileNotFoundError:
            pass
        try:
            return os.path.basename(path) not in os.listdir(
                os.path.dirname(path))
        except FileNotFoundError:
            return True

    def shows(self, path, wait=WAIT):
        self.until("%s shows" % path, lambda: self.exists(path), wait)

    def goes(self, path, wait=WAIT):
        self.until("%s goes" % path, lambda: self.absent(path), wait)

    def settled(self, path, framing=None, delivery=None, capacity=None):
        """Wait until path is there with these settings."""
        want = {}
        if framing is not None:
            want[FRAMING] = framing.encode()
        if delivery is not None:
            want[DELIVERY] = delivery.encode()
        if capacity is not None:
            want[CAPACITY] = str(capacity).encode()

        def ok():
            if not self.exists(path):
                return False
            return all(os.getxattr(path, k) == v for k, v in want.items())

        def now():
            try:
                return {k: os.getxattr(path, k) for k in want}
            except OSError as e:
                return str(e)
        if not ok():
            try:
                self.until("%s with %r" % (path, want), ok)
            except AssertionError as e:
                raise AssertionError("%s\n(it has %r)" % (e, now())) from None

    def open(self, path, flags):
        fd = os.open(path, flags)
        self.fds.add(fd)
        return fd

    def spawn(self, *argv, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(argv, text=True, **kw)
        self.procs.append(p)
        return p

    def work(self, *args):
        """A worker process (worker() above)."""
        return self.spawn(PY, ME, "worker", *map(str, args),
                          stdin=subprocess.PIPE)

    def writers(self, path, framing, count, *placed):
        """Writer processes, (id, host) in placed, each open before any
        writes; they write and close."""
        ps = [self.work("writer", h(self.dir, path), w, count, framing)
              for w, h in placed]
        for p in ps:
            self.expect_line(p, "open")
        for p in ps:
            p.stdin.write("go\n")
            p.stdin.flush()
        return ps

    def expect_line(self, p, want):
        """The next line p prints must be want."""
        line = p.stdout.readline().rstrip("\n")
        if line != want:
            self.fail("%s printed %r, not %r; stderr: %s" % (
                p.args, line, want, self.rest(p)))

    @staticmethod
    def output(p, wait):
        """What p prints until it ends, through the same buffered files
        as readline() before (communicate() would skip what they hold);
        None for stdout if p did not end within wait seconds (it is
        killed then)."""
        got = {}

        def take(name, f):
            got[name] = f.read() if f is not None else ""
        ts = [threading.Thread(target=take, args=(n, f), daemon=True)
              for n, f in (("out", p.stdout), ("err", p.stderr))]
        for t in ts:
            t.start()
        try:
            p.wait(timeout=wait)
            ended = True
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            ended = False
        for t in ts:
            t.join(LONG)
        return (got.get("out", "") if ended else None), got.get("err", "")

    def rest(self, p):
        """What p still prints, once it is killed."""
        if p.poll() is None:
            p.kill()
        out, err = self.output(p, LONG)
        return (out or "") + err

    def finish(self, p, wait=LONG):
        """Wait for p to end (bounded); its stdout, or fail."""
        out, err = self.output(p, wait)
        if out is None:
            self.fail("%s did not end within %ds (killed); stderr %r" % (
                p.args, wait, err[-2000:]))
        if p.returncode != 0:
            self.fail("%s exited %s: stdout %r stderr %r" % (
                p.args, p.returncode, out[-500:], err[-2000:]))
        return out

    def stream_of(self, path):
        return figures(path)["stream"]

    def drain(self, fd, n):
        """Blocking reads of fd until n bytes came; them."""
        buf = b""
        while len(buf) < n:
            data = os.read(fd, 65536)
            self.assertNotEqual(data, b"", "end of file after %d of %d "
                                "bytes" % (len(buf), n))
            buf += data
        return buf

    def errno_of(self, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        return errno.errorcode[cm.exception.errno]


class Names(BridgeCase):
    """Names and settings, as every host sees them."""

    def test_made_shows_everywhere(self):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        self.make(A, "c")
        os.mkdir(A(self.dir, "sub"), 0o755)
        self.make(A, "sub", "d")
        # A name with a dot and a space: the path, not the key, is shared.
        self.make(A, "a.b c")
        for h in (B, C):
            for names in (("c",), ("sub",), ("sub", "d"), ("a.b c",)):
                self.shows(h(self.dir, *names))
            self.assertTrue(stat.S_ISREG(os.stat(h(self.dir, "c")).st_mode))
            self.assertTrue(stat.S_ISDIR(os.stat(h(self.dir, "sub")).st_mode))
            self.assertTrue(stat.S_ISREG(os.stat(h(self.dir, "sub",
                                                   "d")).st_mode))
            self.assertEqual(sorted(os.listdir(h(self.dir))),
                             ["a.b c", "c", "sub"])
            self.assertEqual(os.listdir(h(self.dir, "sub")), ["d"])
            self.assertEqual(figures(h(self.dir, "c"))["bridge"], "nats")
            # One channel: one stream on every host.
            self.assertEqual(self.stream_of(h(self.dir, "sub", "d")),
                             self.stream_of(A(self.dir, "sub", "d")))
        # Made on another host, seen back here.
        self.make(C, "sub", "fromC")
        self.shows(A(self.dir, "sub", "fromC"))
        self.shows(B(self.dir, "sub", "fromC"))

    def test_rename_shows_with_its_data(self):
        self.bridged()
        A, B = self.A, self.B
        old = self.make(A, "old")
        self.shows(B(self.dir, "old"))
        stream = self.stream_of(old)
        fd = self.open(old, os.O_WRONLY)
        self.assertEqual(os.write(fd, b"before the rename\n"), 18)
        self.close(fd)
        os.rename(old, A(self.dir, "new"))
        self.goes(B(self.dir, "old"))
        self.shows(B(self.dir, "new"))
        self.assertEqual(self.stream_of(B(self.dir, "new")), stream)
        r = self.work("lines", B(self.dir, "new"))
        self.expect_line(r, "open")
        out = self.finish(r).splitlines()
        self.assertEqual("".join(json.loads(x) for x in out[:-1]),
                         "before the rename\n")
        self.assertEqual(out[-1], "eof")

    def test_rename_into_subdirectory(self):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        os.mkdir(A(self.dir, "sub"), 0o755)
        self.make(A, "c")
        self.shows(C(self.dir, "sub"))
        self.shows(C(self.dir, "c"))
        stream = self.stream_of(A(self.dir, "c"))
        os.rename(A(self.dir, "c"), A(self.dir, "sub", "c2"))
        for h in (B, C):
            self.goes(h(self.dir, "c"))
            self.shows(h(self.dir, "sub", "c2"))
            self.assertEqual(self.stream_of(h(self.dir, "sub", "c2")),
                             stream)
        # And a rename made on B shows on A.
        os.rename(B(self.dir, "sub", "c2"), B(self.dir, "c3"))
        self.goes(A(self.dir, "sub", "c2"))
        self.shows(A(self.dir, "c3"))

    def test_rename_subdirectory(self):
        """Renaming a subdirectory of a bridged directory shows elsewhere
        (issue 13: "creating, renaming or removing ... channels and
        subdirectories ... show on the other hosts")."""
        self.bridged()
        A, B = self.A, self.B
        os.mkdir(A(self.dir, "sub"), 0o755)
        self.make(A, "sub", "c")
        self.shows(B(self.dir, "sub", "c"))
        os.rename(A(self.dir, "sub"), A(self.dir, "moved"))
        self.goes(B(self.dir, "sub"))
        self.shows(B(self.dir, "moved", "c"))

    def test_rename_over_a_channel(self):
        """rename(2) over an existing channel replaces it everywhere: the
        old name goes, the new one is the moved channel, with its data."""
        self.bridged()
        A, B = self.A, self.B
        src = self.make(A, "src")
        dst = self.make(A, "dst")
        self.shows(B(self.dir, "src"))
        self.shows(B(self.dir, "dst"))
        stream = self.stream_of(src)
        fd = self.open(src, os.O_WRONLY)
        self.assertEqual(os.write(fd, b"moved\n"), 6)
        self.close(fd)
        os.rename(src, dst)
        self.goes(B(self.dir, "src"))
        self.until("dst is src's channel on B", lambda: self.exists(
            B(self.dir, "dst")) and self.stream_of(B(self.dir, "dst"))
            == stream)
        self.assertEqual(sorted(os.listdir(B(self.dir))), ["dst"])
        r = self.work("lines", B(self.dir, "dst"))
        self.expect_line(r, "open")
        self.assertEqual(self.finish(r), '"moved\\n"\neof\n')

    def test_unlink_and_rmdir_show(self):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        self.make(A, "c")
        os.mkdir(A(self.dir, "sub"), 0o755)
        self.make(A, "sub", "d")
        for h in (B, C):
            self.shows(h(self.dir, "c"))
            self.shows(h(self.dir, "sub", "d"))
        os.unlink(A(self.dir, "c"))
        for h in (B, C):
            self.goes(h(self.dir, "c"))
        os.unlink(B(self.dir, "sub", "d"))
        self.goes(A(self.dir, "sub", "d"))
        self.goes(C(self.dir, "sub", "d"))
        os.rmdir(C(self.dir, "sub"))
        self.goes(A(self.dir, "sub"))
        self.goes(B(self.dir, "sub"))
        for h in self.all:
            self.assertEqual(os.listdir(h(self.dir)), [])
        # The name can be made again, anew, elsewhere.
        self.make(B, "c")
        self.shows(A(self.dir, "c"))

    def test_settings_show(self):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        p = self.make(A, "c")
        self.shows(B(self.dir, "c"))
        os.setxattr(p, FRAMING, b"messages")
        os.setxattr(p, DELIVERY, b"broadcast")
        os.setxattr(p, CAPACITY, b"8192")
        for h in (B, C):
            self.settled(h(self.dir, "c"), "messages", "broadcast", 8192)
        # Set on B: seen on A.
        os.setxattr(B(self.dir, "c"), CAPACITY, b"16384")
        os.setxattr(B(self.dir, "c"), DELIVERY, b"queue")
        self.settled(A(self.dir, "c"), "messages", "queue", 16384)
        self.settled(C(self.dir, "c"), "messages", "queue", 16384)
        # A channel made with settings shows with them.
        self.make(A, "d", framing="messages", capacity=4096)
        self.settled(C(self.dir, "d"), "messages", "queue", 4096)

    def test_bridging_brings_existing_names(self):
        A, B, C = self.A, self.B, self.C
        self.bridged(A, C)
        self.make(A, "c", framing="messages", capacity=8192)
        os.mkdir(A(self.dir, "sub"), 0o755)
        self.make(A, "sub", "d")
        # Once C has them, the cluster has them.
        self.settled(C(self.dir, "c"), "messages", "queue", 8192)
        self.shows(C(self.dir, "sub", "d"))
        self.bridged(B)
        self.settled(B(self.dir, "c"), "messages", "queue", 8192)
        self.shows(B(self.dir, "sub", "d"))
        self.assertEqual(self.stream_of(B(self.dir, "sub", "d")),
                         self.stream_of(A(self.dir, "sub", "d")))

    def test_bridge_errors(self):
        A = self.A
        # Not empty.
        os.mkdir(A(self.dir), 0o755)
        os.close(os.open(A(self.dir, "c"), os.O_CREAT | os.O_WRONLY, 0o666))
        self.assertEqual(self.errno_of(os.setxattr, A(self.dir), BRIDGE,
                                       b"nats"), "ENOTEMPTY")
        with self.assertRaises(OSError) as cm:
            os.getxattr(A(self.dir), BRIDGE)
        self.assertEqual(cm.exception.errno, errno.ENODATA)
        os.unlink(A(self.dir, "c"))
        os.mkdir(A(self.dir, "d"), 0o755)
        self.assertEqual(self.errno_of(os.setxattr, A(self.dir), BRIDGE,
                                       b"nats"), "ENOTEMPTY")
        os.rmdir(A(self.dir, "d"))
        # Another value.
        for bad in (b"zmq", b"", b"NATS", b"nats2"):
            self.assertEqual(self.errno_of(os.setxattr, A(self.dir), BRIDGE,
                                           bad), "EINVAL", bad)
        # Empty now: it works.
        natstest.mark(A(self.dir))
        self.assertEqual(os.getxattr(A(self.dir), BRIDGE), b"nats")

    def test_without_nats(self):
        m = ipcfs_test.Mount()
        try:
            os.mkdir(m("d"), 0o755)
            with self.assertRaises(OSError) as cm:
                os.setxattr(m("d"), BRIDGE, b"nats")
            self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)
            os.close(os.open(m("c"), os.O_CREAT | os.O_WRONLY, 0o666))
            self.assertEqual(figures(m("c")).get("bridge", "none"), "none")
        finally:
            m.close()

    def test_rename_across_the_bridge(self):
        self.bridged()
        A = self.A
        p = self.make(A, "c")
        outside = A("outside-%s" % self.dir)
        self.assertEqual(self.errno_of(os.rename, p, outside), "EXDEV")
        self.assertTrue(self.exists(p))
        os.close(os.open(outside, os.O_CREAT | os.O_WRONLY, 0o666))
        self.addCleanup(os.unlink, outside)
        self.assertEqual(self.errno_of(os.rename, outside, A(self.dir, "in")),
                         "EXDEV")
        self.assertTrue(self.exists(outside))
        self.assertTrue(self.absent(A(self.dir, "in")))

    def test_bridge_attribute(self):
        self.bridged()
        A, B = self.A, self.B
        os.mkdir(A(self.dir, "sub"), 0o755)
        self.make(A, "sub", "c")
        self.make(A, "c")
        self.shows(B(self.dir, "sub", "c"))
        self.shows(B(self.dir, "c"))
        for h in (A, B):
            for names in ((), ("sub",), ("sub", "c"), ("c",)):
                self.assertEqual(os.getxattr(h(self.dir, *names), BRIDGE),
                                 b"nats", names)
        with self.assertRaises(OSError) as cm:
            os.getxattr(A.path, BRIDGE)
        self.assertEqual(cm.exception.errno, errno.ENODATA)

    def test_stats_count_remote_opens(self):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        p = self.make(A, "c")
        self.shows(B(self.dir, "c"))
        self.shows(C(self.dir, "c"))

        def remote(h, key):
            return figures(h(self.dir, "c"))[key]
        st = figures(p)
        self.assertEqual(st["bridge"], "nats")
        self.assertEqual((st["remote_readers"], st["remote_writers"]), (0, 0))
        r1 = self.open(B(self.dir, "c"), os.O_RDONLY)
        r2 = self.open(B(self.dir, "c"), os.O_RDONLY | os.O_NONBLOCK)
        w = self.open(C(self.dir, "c"), os.O_WRONLY)
        self.until("2 remote readers on A",
                   lambda: remote(A, "remote_readers") == 2)
        self.until("1 remote writer on A",
                   lambda: remote(A, "remote_writers") == 1)
        self.until("1 remote writer on B",
                   lambda: remote(B, "remote_writers") == 1)
        self.until("2 remote readers on C",
                   lambda: remote(C, "remote_readers") == 2)
        # The host's own opens are not remote.
        self.assertEqual(remote(B, "remote_readers"), 0)
        self.assertEqual(remote(C, "remote_writers"), 0)
        self.assertEqual(figures(B(self.dir, "c"))["readers"], 2)
        self.close(r1)
        self.until("1 remote reader on A",
                   lambda: remote(A, "remote_readers") == 1)
        self.close(r2)
        self.close(w)
        self.until("no remote open on A", lambda: (
            remote(A, "remote_readers"), remote(A, "remote_writers"))
            == (0, 0))
        self.until("no remote open on B",
                   lambda: remote(B, "remote_writers") == 0)

    def test_root_stats(self):
        for h in self.all:
            self.assertEqual(figures(h.path)["nats"], "connected")


class Queue(BridgeCase):
    """Queue delivery across hosts: exactly once, each writer's order."""

    COUNT = {"messages": 1500, "bytes": 4000}    # records per writer

    def run_queue(self, framing):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        self.made(A, "q", framing=framing, delivery="queue")
        count = self.COUNT[framing]
        readers = [self.work("reader", h(self.dir, "q"), framing, count)
                   for h in (B, B, C)]
        for r in readers:
            self.expect_line(r, "open")
        writers = self.writers("q", framing, count, (1, A), (2, A), (3, B))
        for p in writers:
            self.assertEqual(self.finish(p).split(), ["done", str(count)])
        got = [json.loads(self.finish(r)) for r in readers]

        seen = {}
        for i, recs in enumerate(got):
            last = {}
            for w, n in recs:
                self.assertNotIn((w, n), seen, "record w%d %d read twice "
                                 "(readers %s and %d)" % (
                                     w, n, seen.get((w, n)), i))
                seen[(w, n)] = i
                if n <= last.get(w, -1):
                    self.fail("reader %d: w%d's record %d after %d" % (
                        i, w, n, last[w]))
                last[w] = n
        want = {(w, n) for w in (1, 2, 3) for n in range(count)}
        self.assertEqual(set(seen) - want, set(), "records never written")
        missing = sorted(want - set(seen))
        self.assertEqual(missing, [], "%d records never read" % len(missing))
        for h in self.all:
            st = figures(h(self.dir, "q"))
            self.assertEqual((st["buffered_bytes"], st["held_reads"],
                              st["held_writes"]), (0, 0, 0), (h, st))

    def test_messages(self):
        self.run_queue("messages")

    def test_bytes(self):
        self.run_queue("bytes")


class Broadcast(BridgeCase):

    COUNT = 300

    def test_every_reader_gets_every_message(self):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        p = self.made(A, "b", framing="messages", delivery="broadcast")
        readers = [self.work("reader", h(self.dir, "b"), "messages",
                             self.COUNT) for h in (B, B, C)]
        for r in readers:
            self.expect_line(r, "open")
        # Every reader is open: from here on each gets every message.
        fd = self.open(p, os.O_WRONLY)
        for nums in writes(1, self.COUNT, "messages"):
            data = b"".join(record(1, n) for n in nums)
            self.assertEqual(os.write(fd, data), len(data))
        self.close(fd)
        want = [[1, n] for n in range(self.COUNT)]
        for i, r in enumerate(readers):
            got = json.loads(self.finish(r))
            if got != want:
                nums = [n for _, n in got]
                self.fail("reader %d got %d of %d records; missing %s; "
                          "out of order or twice: %s" % (
                              i, len(got), len(want),
                              sorted(set(range(self.COUNT)) - set(nums)),
                              [n for j, n in enumerate(nums)
                               if j and n <= nums[j - 1]]))

    def test_reader_joins_before_a_write(self):
        """A reader that opens on C while B's reader is busy reading gets
        a message written right after its open returned, even when B has
        already read it (a reader joins at its open, not later)."""
        self.bridged()
        A, B, C = self.A, self.B, self.C
        p = self.made(A, "b", framing="messages", delivery="broadcast")
        r = self.work("lines", B(self.dir, "b"))
        self.expect_line(r, "open")
        wfd = self.open(p, os.O_WRONLY)
        os.write(wfd, b"warm")
        self.assertEqual(json.loads(r.stdout.readline()), "warm")
        for i in range(5):
            msg = "m%d" % i
            cfd = self.open(C(self.dir, "b"), os.O_RDONLY | os.O_NONBLOCK)
            os.write(wfd, msg.encode())
            self.assertEqual(json.loads(r.stdout.readline()), msg)
            got = []
            while msg not in got:
                if not msgtest.revents(cfd, select.POLLIN):
                    p_ = select.poll()
                    p_.register(cfd, select.POLLIN)
                    if not p_.poll(int(WAIT * 1000)):
                        self.fail("round %d: the reader on C, open before "
                                  "%r was written, never got it (got %r)"
                                  % (i, msg, got))
                data = os.read(cfd, 100)
                self.assertNotEqual(data, b"", "end of file on C")
                got.append(data.decode())
            self.close(cfd)
        self.close(wfd)
        self.assertEqual(self.finish(r), "eof\n")

    def test_many_opens_waiting(self):
        """Twelve readers' opens on B wait at once for B's consumer (the
        server is frozen meanwhile), and each is answered as an open of
        its kind: the kernel gets its own flags for each, so each can map
        the channel (a reply amended with another open's flags, or none,
        as when the daemon kept eight waiting opens at most, could not:
        issue 21 review)."""
        self.bridged()
        A, B = self.A, self.B
        self.made(A, "b", framing="messages", delivery="broadcast")
        q = B(self.dir, "b")
        fds, errors = [], []

        def opener():
            try:
                fds.append(os.open(q, os.O_RDONLY))
            except OSError as e:
                errors.append(e)

        self.server.proc.send_signal(signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=opener) for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                state = msgtest.wait_asleep(t.native_id)
                self.assertEqual(state, "S", "an open waits in %s" % state)
            self.assertEqual(len(fds) + len(errors), 0, "opens answered "
                             "with the server frozen")
        finally:
            self.server.proc.send_signal(signal.SIGCONT)
        for t in threads:
            t.join(WAIT)
        self.fds.update(fds)
        self.assertEqual(errors, [])
        self.assertEqual(len(fds), 12)
        # mmap(2) itself: Python's refuses a length past the size.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int, ctypes.c_long)
        libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        refused = []
        for fd in fds:
            addr = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_SHARED,
                             fd, 0)
            if addr in (None, ctypes.c_void_p(-1).value):
                refused.append(os.strerror(ctypes.get_errno()))
            else:
                libc.munmap(addr, 4096)
        self.assertEqual(refused, [], "opens that cannot map")
        self.assertFalse(B.trouble())

    def test_writers_on_two_hosts(self):
        """Two writers on A and C, readers on B and C: every reader gets
        both writers' messages, each writer's in order."""
        self.bridged()
        A, B, C = self.A, self.B, self.C
        self.made(A, "b", framing="messages", delivery="broadcast")
        readers = [self.work("reader", h(self.dir, "b"), "messages",
                             self.COUNT) for h in (B, C)]
        for r in readers:
            self.expect_line(r, "open")
        writers = self.writers("b", "messages", self.COUNT, (1, A), (2, C))
        for w in writers:
            self.finish(w)
        for i, r in enumerate(readers):
            got = json.loads(self.finish(r))
            for w in (1, 2):
                nums = [n for x, n in got if x == w]
                if nums != list(range(self.COUNT)):
                    self.fail("reader %d got %d of writer %d's %d records; "
                              "missing %s" % (
                                  i, len(nums), w, self.COUNT,
                                  sorted(set(range(self.COUNT)) - set(nums))))
            self.assertEqual(len(got), 2 * self.COUNT)


class BackPressure(BridgeCase):
    """A channel of 4096 bytes, full cluster-wide."""

    hosts = 2
    CAP = 4096
    SIZE = 256

    def full_channel(self):
        """A channel of CAP bytes, a reader open on B that does not read,
        and a non-blocking writer on A that wrote until EAGAIN (the
        stream holds CAP, A's buffer CAP more): (path on A, reader's fd,
        writer's fd, bytes written)."""
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c", capacity=self.CAP)
        rfd = self.open(B(self.dir, "c"), os.O_RDONLY)
        self.until("B's reader counted on A",
                   lambda: figures(p)["remote_readers"] == 1)
        wfd = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        total = self.fill(p, wfd)
        self.assertGreater(total, self.CAP)
        self.assertLessEqual(total, 2 * self.CAP)
        return p, rfd, wfd, total

    def fill(self, p, wfd):
        """Write SIZE bytes at a time to non-blocking wfd until EAGAIN
        with the stream full (A's buffer may fill before its pieces get
        to the stream: write on while they go); the bytes written."""
        total = i = 0

        def room():
            st = figures(p)
            return st["stream_full"] and st["unstored_bytes"] > 0 or \
                select.select([], [wfd], [], 0)[1]
        while True:
            try:
                n = os.write(wfd, bytes([65 + i % 26]) * self.SIZE)
            except BlockingIOError:
                st = figures(p)
                if st["stream_full"] and \
                        st["unstored_bytes"] + self.SIZE > self.CAP:
                    return total
                self.until("the stream full or room in A's buffer", room)
                continue
            self.assertEqual(n, self.SIZE)
            total += n
            i += 1
            if total > 4 * self.CAP:
                self.fail("no EAGAIN after %d bytes in a channel of %d" %
                          (total, self.CAP))

    def test_eagain_when_full(self):
        p, rfd, wfd, total = self.full_channel()
        # Still full: EAGAIN again.
        self.assertEqual(self.errno_of(os.write, wfd, b"x" * self.SIZE),
                         "EAGAIN")
        data = self.drain(rfd, total)
        self.assertEqual(data, b"".join(
            bytes([65 + i % 26]) * self.SIZE
            for i in range(total // self.SIZE)))
        # Room again, once B has read.
        self.until("room after B read", lambda: self.try_write(wfd))
        self.assertEqual(self.drain(rfd, self.SIZE), b"z" * self.SIZE)

    @staticmethod
    def try_write(fd):
        try:
            return os.write(fd, b"z" * BackPressure.SIZE)
        except BlockingIOError:
            return 0

    def test_blocked_writer_sleeps_and_resumes(self):
        p, rfd, wfd, total = self.full_channel()
        w = self.work("block", p, self.SIZE)
        self.expect_line(w, "writing")
        self.assertEqual(msgtest.wait_asleep(w.pid), "S")
        # Held, and asleep the way a pipe's writer is: S, never D.
        for _ in range(20):
            state, _ = msgtest.task_state(w.pid)
            self.assertEqual(state, "S")
            time.sleep(0.01)
        self.assertEqual(figures(p)["held_writes"], 1)
        data = self.drain(rfd, total + self.SIZE)
        self.assertEqual(data[total:], b"b" * self.SIZE)
        self.assertEqual(self.finish(w).split(), ["wrote", str(self.SIZE)])

    def test_blocked_writer_is_killable(self):
        p, rfd, wfd, total = self.full_channel()
        w = self.work("block", p, self.SIZE)
        self.expect_line(w, "writing")
        self.assertEqual(msgtest.wait_asleep(w.pid), "S")
        w.kill()
        try:
            w.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.fail("a writer held by a full bridged channel survives "
                      "SIGKILL: %r" % (msgtest.task_state(w.pid),))
        self.assertEqual(w.returncode, -signal.SIGKILL)
        self.until("no held write on A",
                   lambda: figures(p)["held_writes"] == 0)
        # The channel still works: B reads what was stored.
        self.assertEqual(len(self.drain(rfd, total)), total)

    def test_held_writer_gets_epipe_when_readers_go(self):
        """A write held by a full channel fails with EPIPE once the last
        reader, on another host, closes (the local rule for a held write
        that has seen a reader)."""
        p, rfd, wfd, total = self.full_channel()
        w = self.work("block", p, self.SIZE)
        self.expect_line(w, "writing")
        self.assertEqual(msgtest.wait_asleep(w.pid), "S")
        self.close(rfd)
        self.until("B's reader gone on A",
                   lambda: figures(p)["remote_readers"] == 0)
        self.assertEqual(self.finish(w, wait=WAIT).split(), ["EPIPE"])


class Ends(BridgeCase):
    """End of file and EPIPE with the opens of every host counted."""

    options = ("-o", "nats_timeout=2")

    def test_eof_after_remote_writer_closes(self):
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c")
        r = self.work("lines", B(self.dir, "c"))
        self.expect_line(r, "open")
        fd = self.open(p, os.O_WRONLY)
        for i in range(3):
            os.write(fd, b"line %d\n" % i)
        self.close(fd)
        out = self.finish(r).splitlines()
        self.assertEqual(out[-1], "eof")
        self.assertEqual("".join(json.loads(x) for x in out[:-1]),
                         "line 0\nline 1\nline 2\n")

    def test_no_eof_from_a_closed_creator(self):
        """A channel made on A (an open for writing, closed at once) and
        given settings: once C shows the settings, a reader opening on C
        finds no writer anywhere, so it waits for one (as locally) instead
        of getting end of file at once."""
        self.bridged()
        A, C = self.A, self.C
        for i in range(3):
            name = "c%d" % i
            p = self.make(A, name, framing="messages", delivery="broadcast")
            self.settled(C(self.dir, name), "messages", "broadcast")
            r = self.work("lines", C(self.dir, name))
            self.expect_line(r, "open")
            # The reader is open before the writer, as in a pipe.
            fd = self.open(p, os.O_WRONLY)
            os.write(fd, b"first\n")
            line = r.stdout.readline()
            if line == "eof\n":
                self.fail("round %d: end of file on C before any writer "
                          "wrote (C still counted the creating open of A "
                          "when the reader opened)" % i)
            self.assertEqual(json.loads(line), "first\n")
            self.close(fd)
            self.assertEqual(self.finish(r), "eof\n")

    def test_no_eof_while_a_new_writer_writes(self):
        """A reader on B open before a writer on A: the writer's first
        data must not be followed by end of file while it is still open,
        even if B gets the data before it hears of the writer."""
        self.bridged()
        A, B = self.A, self.B
        for i in range(5):
            p = self.made(A, "c%d" % i)
            r = self.work("lines", B(self.dir, "c%d" % i))
            self.expect_line(r, "open")
            fd = self.open(p, os.O_WRONLY)
            os.write(fd, b"one\n")
            self.assertEqual(json.loads(r.stdout.readline()), "one\n")
            os.write(fd, b"two\n")
            line = r.stdout.readline()
            if line == "eof\n":
                self.fail("round %d: end of file on B while A's writer "
                          "is open" % i)
            self.assertEqual(json.loads(line), "two\n")
            self.close(fd)
            self.assertEqual(self.finish(r), "eof\n")

    def test_eof_waits_for_every_host(self):
        self.bridged()
        A, B, C = self.A, self.B, self.C
        p = self.made(A, "c")
        r = self.work("lines", B(self.dir, "c"))
        self.expect_line(r, "open")
        wa = self.open(p, os.O_WRONLY)
        wc = self.open(C(self.dir, "c"), os.O_WRONLY)
        self.until("C's writer counted on B",
                   lambda: figures(B(self.dir, "c"))["remote_writers"] == 2)
        os.write(wa, b"from A\n")
        self.close(wa)
        self.assertEqual(json.loads(r.stdout.readline()), "from A\n")
        self.until("A's writer gone on B",
                   lambda: figures(B(self.dir, "c"))["remote_writers"] == 1)
        # No end of file while C's writer is open: its data still comes.
        os.write(wc, b"from C\n")
        self.assertEqual(json.loads(r.stdout.readline()), "from C\n")
        self.close(wc)
        self.assertEqual(self.finish(r), "eof\n")

    def test_epipe_when_remote_readers_go(self):
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c")
        rfd = self.open(B(self.dir, "c"), os.O_RDONLY)
        self.until("B's reader counted on A",
                   lambda: figures(p)["remote_readers"] == 1)
        wfd = self.open(p, os.O_WRONLY)
        self.assertEqual(os.write(wfd, b"seen\n"), 5)
        self.assertEqual(os.read(rfd, 100), b"seen\n")
        self.close(rfd)
        self.until("B's reader gone on A",
                   lambda: figures(p)["remote_readers"] == 0)
        self.assertEqual(self.errno_of(os.write, wfd, b"lost\n"), "EPIPE")
        # A writer that never saw a reader writes on (as locally).
        w2 = self.open(p, os.O_WRONLY)
        self.assertEqual(os.write(w2, b"kept\n"), 5)

    def test_killed_host_stops_counting(self):
        """A host dies with a writer open: a reader elsewhere gets what it
        wrote, then end of file once nats_timeout (2 s) has passed."""
        self.bridged()
        A, B = self.A, self.B
        D = natstest.Host(self.server.url, *self.options)
        self.extra.append(D)
        self.bridged(D)
        self.made(A, "c")
        self.shows(D(self.dir, "c"))
        r = self.work("lines", B(self.dir, "c"))
        self.expect_line(r, "open")
        w = self.spawn(PY, "-c", "import os, sys, time\n"
                       "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
                       "os.write(fd, b'before\\n')\n"
                       "print('wrote', flush=True)\n"
                       "time.sleep(3600)\n", D(self.dir, "c"))
        self.expect_line(w, "wrote")
        self.assertEqual(json.loads(r.stdout.readline()), "before\n")
        self.until("D's writer counted on B",
                   lambda: figures(B(self.dir, "c"))["remote_writers"] == 1)
        D.kill()
        self.assertEqual(self.finish(r, wait=30), "eof\n")
        self.assertEqual(figures(B(self.dir, "c"))["remote_writers"], 0)
        # A drops D on its own clock, not necessarily before B did.
        self.until("D's writer gone on A", lambda: figures(
            A(self.dir, "c"))["remote_writers"] == 0)


class Tools(BridgeCase):
    """Everyday tools on two hosts."""

    hosts = 2

    def shell(self, script, *args):
        return self.spawn("bash", "-c", script, "bash", *args)

    def test_echo_and_read(self):
        self.bridged()
        A, B = self.A, self.B
        self.made(A, "c")
        r = self.shell('read -r line < "$1" && printf "<%s>\\n" "$line"',
                       B(self.dir, "c"))
        self.finish(self.shell('echo hi > "$1"', A(self.dir, "c")))
        self.assertEqual(self.finish(r), "<hi>\n")

    def test_seq_and_cat(self):
        self.bridged()
        A, B = self.A, self.B
        self.made(A, "c")
        r = self.spawn("cat", B(self.dir, "c"))
        self.finish(self.shell('seq 1 20000 > "$1"', A(self.dir, "c")))
        out = self.finish(r)
        self.assertEqual(out, "".join("%d\n" % i for i in range(1, 20001)))

    def test_created_by_the_shell(self):
        """echo > A/x/new makes the channel; B's cat, started once the
        name shows there, reads what was written then end of file."""
        self.bridged()
        A, B = self.A, self.B
        self.finish(self.shell('printf "one\\ntwo\\n" > "$1"',
                               A(self.dir, "new")))
        self.shows(B(self.dir, "new"))
        self.assertEqual(self.finish(self.spawn("cat", B(self.dir, "new"))),
                         "one\ntwo\n")

    def test_python_text_lines(self):
        self.bridged()
        A, B = self.A, self.B
        self.made(A, "c")
        r = self.spawn(PY, "-c", "import sys\n"
                       "with open(sys.argv[1]) as f:\n"
                       "    for line in f:\n"
                       "        print(repr(line), flush=True)\n",
                       B(self.dir, "c"))
        with open(A(self.dir, "c"), "w") as f:
            for i in range(2000):
                print("line %d é" % i, file=f)
        out = self.finish(r).splitlines()
        self.assertEqual(out, [repr("line %d é\n" % i) for i in range(2000)])

    def test_stdio_tools(self):
        self.bridged()
        A, B = self.A, self.B
        self.made(A, "c")
        self.made(A, "d")
        s = self.spawn("sort", "-n", B(self.dir, "c"))
        e = self.spawn("sed", "-n", "s/^a/A/p", B(self.dir, "d"))
        self.finish(self.shell('printf "3\\n1\\n2\\n" > "$1"',
                               A(self.dir, "c")))
        self.finish(self.shell('printf "ab\\nb\\nac\\n" > "$1"',
                               A(self.dir, "d")))
        self.assertEqual(self.finish(s), "1\n2\n3\n")
        self.assertEqual(self.finish(e), "Ab\nAc\n")


class Readiness(BridgeCase):
    """O_NONBLOCK, poll and select on one host, data from another."""

    hosts = 2

    def sleeping(self, tid):
        """Wait until thread tid of this process sleeps (in poll or
        select, the caller knows which)."""
        def asleep():
            state, wchan = msgtest.task_state(tid)
            return state == "S" and wchan not in ("", "0", None) and (
                "poll" in wchan or "select" in wchan or
                "schedule" in wchan)
        self.until("thread %d asleep in poll/select" % tid, asleep)

    def test_nonblocking_read(self):
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c")
        rfd = self.open(B(self.dir, "c"), os.O_RDONLY | os.O_NONBLOCK)
        self.assertEqual(self.errno_of(os.read, rfd, 100), "EAGAIN")
        wfd = self.open(p, os.O_WRONLY)
        self.until("A's writer counted on B",
                   lambda: figures(B(self.dir, "c"))["remote_writers"] == 1)
        self.assertEqual(self.errno_of(os.read, rfd, 100), "EAGAIN")
        self.assertEqual(os.write(wfd, b"data"), 4)

        def read():
            try:
                return os.read(rfd, 100)
            except BlockingIOError:
                return None
        self.assertEqual(self.until("data on B", read), b"data")
        self.assertEqual(self.errno_of(os.read, rfd, 100), "EAGAIN")
        self.close(wfd)
        self.until("end of file on B", lambda: read() == b"")

    def woken(self, wait_fn):
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c")
        rfd = self.open(B(self.dir, "c"), os.O_RDONLY)
        wfd = self.open(p, os.O_WRONLY)
        self.assertEqual(msgtest.revents(rfd, select.POLLIN), 0)
        call = msgtest.Call(wait_fn, rfd)
        self.sleeping(call.native_id)
        self.assertTrue(call.is_alive())
        self.assertEqual(os.write(wfd, b"wake\n"), 5)
        self.assertTrue(call.outcome())
        self.assertEqual(os.read(rfd, 100), b"wake\n")

    def test_poll_wakes(self):
        def wait(fd):
            p = select.poll()
            p.register(fd, select.POLLIN)
            got = p.poll(int(WAIT * 2000))
            return got and got[0][1] & select.POLLIN
        self.woken(wait)

    def test_select_wakes(self):
        def wait(fd):
            return fd in select.select([fd], [], [], WAIT * 2)[0]
        self.woken(wait)


class Scope(BridgeCase):
    """What the bridge leaves alone: channels outside bridged directories,
    and regions, which stay on their host (docs/bridge.md)."""

    hosts = 2

    def test_unbridged_stays_local(self):
        A, B = self.A, self.B
        plain = self.dir + "-plain"
        for h in (A, B):
            os.mkdir(h(plain), 0o755)
        os.close(os.open(A(plain, "c"), os.O_CREAT | os.O_WRONLY, 0o666))
        # Made after it on A: once B has this one, it would have that.
        self.bridged()
        self.make(A, "after")
        self.shows(B(self.dir, "after"))
        self.assertFalse(os.path.exists(B(plain, "c")))
        self.assertNotIn("bridge", figures(A(plain, "c")))
        self.assertEqual(figures(A(self.dir, "after"))["bridge"], "nats")
        # The same name on both hosts is two channels.
        os.close(os.open(B(plain, "c"), os.O_CREAT | os.O_WRONLY, 0o666))
        rfd = self.open(B(plain, "c"), os.O_RDONLY | os.O_NONBLOCK)
        wfd = self.open(A(plain, "c"), os.O_WRONLY)
        self.assertEqual(os.write(wfd, b"local"), 5)
        self.assertEqual(figures(A(plain, "c"))["buffered_bytes"], 5)
        self.assertEqual(self.errno_of(os.read, rfd, 100), "EAGAIN")

    def test_region_stays_on_its_host(self):
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c")
        fd = self.open(p, os.O_RDWR)
        os.ftruncate(fd, 4096)
        with mmap.mmap(fd, 4096) as m:
            m[:5] = b"hello"
        # Another mapping on A sees it; B's region is its own.
        fd1 = self.open(p, os.O_RDWR)
        with mmap.mmap(fd1, 4096) as m:
            self.assertEqual(m[:5], b"hello")
        self.assertEqual(os.stat(B(self.dir, "c")).st_size, 0)
        fd2 = self.open(B(self.dir, "c"), os.O_RDWR)
        os.ftruncate(fd2, 4096)
        with mmap.mmap(fd2, 4096) as m:
            self.assertEqual(m[:5], bytes(5))


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2:])
    else:
        unittest.main()
