"""The NATS bridge's rules for settings, outages and end of file (issue 19,
findings 3, 4, 9 and 10), without faults other than a stopped server: one
nats-server per test class and two ipcfs daemons bridged to it, hosts A
and B (test_bridge.BridgeCase and its helpers).

- Settings while the channel's stream holds data (finding 3): lowering
  user.ipcfs.capacity below what the stream holds, and changing
  user.ipcfs.framing or user.ipcfs.delivery, fail with EBUSY on every
  host and lose nothing; raising the capacity works; once the stream is
  drained and nothing is open, the change works and shows on the other
  host.
- A broadcast made from a queue (finding 4): a host that read messages
  as a queue, after the switch to broadcast, gets every message written
  after its reader opened, from the first.
- An outage (finding 9): while the daemon cannot reach the server, an
  O_NONBLOCK write answers at once (issue 22: its data goes in the
  host's buffer), an O_NONBLOCK read answers EAGAIN at once, and a
  blocking write waits asleep (S, never D) and dies of SIGKILL.
- End of file (finding 10): a reader on B blocked in read() gets end of
  file soon after the last writer, on A, closes: within a deadline of 1.5
  s, every time, in broadcast and queue delivery.

Every wait is bounded as a hang guard; the one deadline on a promised
behaviour (end of file) is said where it is checked.  At the end of each
test the daemons must still run and answer: a listing of the mount and a
write and read back on a local channel.
"""

import errno
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
import msgtest  # noqa: E402
import test_bridge  # noqa: E402

WAIT = test_bridge.WAIT         # seconds; a hang guard
FRAMING = test_bridge.FRAMING
DELIVERY = test_bridge.DELIVERY
CAPACITY = test_bridge.CAPACITY
figures = ipcfs_test.figures
# How soon end of file must come after the last writer closed: a deadline
# on what docs/bridge.md promises ("a reader gets end of file once no
# writer is left"), well over the few hundred ms it takes when it works
# and under the 2 s of a pull request left to expire.  Not a benchmark.
EOF_DEADLINE = 1.5
ROUNDS = 10
# How long a call must have answered in, while the server is down, before
# the server is started again: a hang guard, not a measurement.
OUTAGE = 5.0


class RulesCase(test_bridge.BridgeCase):
    """Two hosts, A and B, on one server."""

    hosts = 2

    def setUp(self):
        super().setUp()
        self.problems = []

    def problem(self, text):
        self.problems.append(text)

    def conclude(self):
        """Fail with every problem found, once each."""
        said = list(dict.fromkeys(self.problems))
        self.assertEqual(said, [], "\n" + "\n".join(said))

    def daemons_answer(self):
        """Each daemon still runs and its mount answers
        (natstest.Host.trouble); problems if not."""
        for h in self.all:
            trouble = h.trouble("local-%s" % self.dir)
            if trouble is not None:
                self.problem(trouble)

    def reader(self, path):
        """A "lines" worker on path (test_bridge.worker): each read one
        JSON string a line, "eof" at the end; open when returned."""
        r = self.work("lines", path)
        self.expect_line(r, "open")
        return r

    def collect(self, r, wait=WAIT):
        """The reads of a "lines" worker until end of file, or until wait
        seconds have gone by (a hang guard; the worker is killed then):
        (reads, True if it got end of file)."""
        reads, ended = [], threading.Event()

        def take():
            for line in r.stdout:
                line = line.rstrip("\n")
                if line == "eof":
                    ended.set()
                    return
                reads.append(json.loads(line))
        t = threading.Thread(target=take, daemon=True)
        t.start()
        t.join(wait)
        if t.is_alive():
            r.kill()
            t.join(WAIT)
        r.wait()
        return list(reads), ended.is_set()

    def no_opens(self, *paths):
        """Wait until no host counts an open of these paths elsewhere."""
        for p in paths:
            self.until("no open of %s counted" % p, lambda: (
                figures(p)["remote_readers"], figures(p)["remote_writers"])
                == (0, 0))

    def setting_refused(self, path, name, value, what):
        """setxattr that must fail with EBUSY: a problem if it does not."""
        try:
            os.setxattr(path, name, value)
        except OSError as e:
            if e.errno != errno.EBUSY:
                self.problem("%s: setxattr %s=%s failed with %s, not EBUSY"
                             % (what, name, value.decode(),
                                errno.errorcode.get(e.errno, e.errno)))
            return
        self.problem("%s: setxattr %s=%s succeeded (want EBUSY)" % (
            what, name, value.decode()))


class Settings(RulesCase):
    """Settings of a channel whose stream holds data (finding 3), and a
    queue made a broadcast (finding 4)."""

    MSGS = [bytes([ord("a") + i]) * 3000 for i in range(3)]

    def filled(self):
        """A message channel made on A, its three messages of 3000 bytes
        written on A by a writer that closed (no reader anywhere yet: a
        writer that never saw a reader writes on, as locally); its path
        on A and on B."""
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c", framing="messages", delivery="queue")
        fd = self.open(p, os.O_WRONLY)
        for m in self.MSGS:
            self.assertEqual(os.write(fd, m), len(m))
        self.close(fd)
        q = B(self.dir, "c")
        self.no_opens(p, q)
        return p, q

    def read_all(self, q):
        """Read q on B until end of file: every message, each whole (one
        a read), in order; problems if not."""
        reads, eof = self.collect(self.reader(q))
        want = [m.decode() for m in self.MSGS]
        if reads != want:
            self.problem("B read %d message(s) of the %d written: %s" % (
                len(reads), len(self.MSGS), ", ".join(
                    "%d x %r" % (len(x), x[:1]) for x in reads) or
                "none"))
        if not eof:
            self.problem("no end of file on B within %ds" % WAIT)

    def test_capacity_below_content(self):
        """Lowering the capacity below what the stream holds (9000 bytes
        in 3 messages) fails with EBUSY, on the host that wrote them and
        on the other, and nothing is lost; raising it works and shows on
        the other host."""
        p, q = self.filled()
        for path, host in ((p, "A"), (q, "B")):
            self.setting_refused(path, CAPACITY, b"4096",
                                 "capacity lowered on %s" % host)
        for path, host in ((p, "A"), (q, "B")):
            if os.getxattr(path, CAPACITY) != b"65536":
                self.problem("the capacity on %s is %s after a refused "
                             "change" % (host, os.getxattr(
                                 path, CAPACITY).decode()))
        os.setxattr(p, CAPACITY, b"131072")
        self.settled(q, capacity=131072)
        self.read_all(q)
        self.daemons_answer()
        self.conclude()

    def mode_change(self, name, value):
        """Changing a mode setting while the stream holds data fails with
        EBUSY on both hosts, and nothing is lost; once the stream is
        drained and nothing is open, it works and shows on B."""
        p, q = self.filled()
        old = os.getxattr(p, name)
        for path, host in ((p, "A"), (q, "B")):
            self.setting_refused(path, name, value,
                                 "%s changed on %s while the stream held 3 "
                                 "messages" % (name, host))
        for path, host in ((p, "A"), (q, "B")):
            if os.getxattr(path, name) != old:
                self.problem("%s on %s is %s after a refused change" % (
                    name, host, os.getxattr(path, name).decode()))
        self.read_all(q)
        self.no_opens(p, q)
        os.setxattr(p, name, value)
        try:
            self.settled(q, **{name.rsplit(".", 1)[1]: value.decode()})
        except AssertionError as e:
            self.problem("the change made once drained: %s" % e)
        self.daemons_answer()
        self.conclude()

    def test_framing_change_with_data(self):
        """Messages to bytes: EBUSY while the stream holds messages."""
        self.mode_change(FRAMING, b"bytes")

    def test_delivery_change_with_data(self):
        """Queue to broadcast: EBUSY while the stream holds messages (the
        stream is made again for a new delivery, and what it held was
        gone with it)."""
        self.mode_change(DELIVERY, b"broadcast")

    def test_broadcast_after_queue(self):
        """B reads 5 messages as a queue; the channel, empty now and open
        nowhere, becomes a broadcast; a reader on B then gets each of the
        8 messages written after it opened, b0 first (not from the sixth
        on: the stream was made again, and its sequence numbers started
        again with it)."""
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c", framing="messages", delivery="queue")
        q = B(self.dir, "c")
        r = self.reader(q)
        fd = self.open(p, os.O_WRONLY)
        for i in range(5):
            os.write(fd, b"q%d" % i)
        self.close(fd)
        reads, eof = self.collect(r)
        self.assertEqual((reads, eof), (["q%d" % i for i in range(5)], True),
                         "the queue's reads on B")
        self.no_opens(p, q)
        os.setxattr(p, DELIVERY, b"broadcast")
        self.settled(q, delivery="broadcast")
        # The reader is open (its host's consumer made) before any write.
        r = self.reader(q)
        fd = self.open(p, os.O_WRONLY)
        for i in range(8):
            os.write(fd, b"b%d" % i)
        self.close(fd)
        reads, eof = self.collect(r)
        want = ["b%d" % i for i in range(8)]
        if reads != want or not eof:
            self.problem("the broadcast reader on B got %s%s, not %s" % (
                reads, "" if eof else " and no end of file", want))
        self.daemons_answer()
        self.conclude()


class Outage(RulesCase):
    """Calls on bridged channels while the server is stopped (finding
    9).  Each test stops the class's server and starts it again."""

    def down(self):
        """Stop the server; wait until both daemons say they are
        disconnected (user.ipcfs.stats of the mount's root)."""
        self.server.stop()
        self.addCleanup(self.up)
        for h in self.all:
            self.until("%r disconnected" % h, lambda: figures(h.path)[
                "nats"] == "disconnected")

    def up(self):
        """Start the server again if it is down; wait until both daemons
        are connected."""
        if not self.server.running():
            self.server.start()
        for h in self.all:
            self.until("%r connected" % h, lambda: figures(h.path)[
                "nats"] == "connected", wait=30)

    def during(self, fn, *args):
        """fn(*args) in a thread while the server is down: its outcome,
        ("ok", result) or ("error", errno name), if it answered within
        OUTAGE seconds; otherwise the server is started again, and the
        outcome is ("late", what it answered once the server was back)."""
        call = msgtest.Call(fn, *args)
        call.join(OUTAGE)
        late = call.is_alive()
        if late:
            # Held meanwhile: asleep (S), as a held call must be.
            state, wchan = msgtest.task_state(call.native_id)
            if state not in ("S", None):
                self.problem("%s held in state %s (%s)" % (
                    fn.__name__, state, wchan))
            self.up()
            call.join(WAIT)
            if call.is_alive():
                return ("late", "gave no answer %ds after the server came "
                        "back" % WAIT)
        if call.error is not None:
            got = errno.errorcode.get(getattr(call.error, "errno", None),
                                      repr(call.error))
        else:
            got = "returned %r" % (call.result,)
        return ("late", got) if late else ("ok", got)

    def test_nonblocking_write(self):
        """An O_NONBLOCK write while the daemon cannot reach the server
        answers at once: it must not wait for the server.  (Issue 22: it
        goes in the host's buffer, which has room, and returns its count,
        as on a pipe; EAGAIN comes once the buffer is full.  The data
        reaches the reader once the server is back.)"""
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c", framing="messages")
        rfd = self.open(B(self.dir, "c"), os.O_RDONLY)
        self.until("B's reader counted on A",
                   lambda: figures(p)["remote_readers"] == 1)
        wfd = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        self.assertEqual(os.write(wfd, b"before"), 6)
        self.assertEqual(os.read(rfd, 100), b"before")
        self.down()
        when, got = self.during(os.write, wfd, b"during")
        if (when, got) != ("ok", "returned 6"):
            self.problem("an O_NONBLOCK write with the server down: %s" % (
                got if when == "ok" else "no answer within %ds; once the "
                "server was started again it %s" % (OUTAGE, got)))
        self.up()
        if when == "ok":
            os.fsync(wfd)
            self.assertEqual(os.read(rfd, 100), b"during")
        self.daemons_answer()
        self.conclude()

    def test_nonblocking_read(self):
        """An O_NONBLOCK read of an empty channel while the daemon cannot
        reach the server answers EAGAIN at once."""
        self.bridged()
        A, B = self.A, self.B
        p = self.made(A, "c", framing="messages")
        rfd = self.open(B(self.dir, "c"), os.O_RDONLY | os.O_NONBLOCK)
        wfd = self.open(p, os.O_WRONLY)
        self.until("A's writer counted on B", lambda: figures(
            B(self.dir, "c"))["remote_writers"] == 1)
        self.down()
        when, got = self.during(os.read, rfd, 100)
        if (when, got) != ("ok", "EAGAIN"):
            self.problem("an O_NONBLOCK read with the server down: %s" % (
                got if when == "ok" else "no answer within %ds; once the "
                "server was started again it %s" % (OUTAGE, got)))
        self.up()
        self.close(wfd)
        self.daemons_answer()
        self.conclude()

    def test_blocking_write(self):
        """A blocking write while the daemon cannot reach the server
        waits asleep (S, never D) and dies of SIGKILL.  (Issue 22: the
        write itself goes in the host's buffer; the close after it is
        what waits for the server.)"""
        self.bridged()
        A = self.A
        p = self.made(A, "c", framing="messages")
        self.down()
        w = self.work("block", p, 64)
        self.expect_line(w, "writing")
        self.assertEqual(msgtest.wait_asleep(w.pid), "S")
        for _ in range(20):
            state, wchan = msgtest.task_state(w.pid)
            if state is None:
                self.fail("the writer ended with the server down: %s" %
                          self.rest(w))
            self.assertEqual(state, "S", "a held write in %s (%s)" % (
                state, wchan))
            time.sleep(0.05)
        w.kill()
        try:
            w.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.fail("a write held by an outage survives SIGKILL: %r" % (
                msgtest.task_state(w.pid),))
        self.assertEqual(w.returncode, -9)
        self.up()
        self.until("no held write on A",
                   lambda: figures(p)["held_writes"] == 0)
        self.daemons_answer()
        self.conclude()


class EndOfFile(RulesCase):
    """End of file soon after the last writer closes (finding 10)."""

    def rounds(self, delivery):
        """ROUNDS times, each on a channel of its own: a reader on B
        blocked in read(); a writer opens on A, writes one message once B
        counts it, and closes; the reader gets the message, then end of
        file within EOF_DEADLINE of the close."""
        self.bridged()
        A, B = self.A, self.B
        took = []

        def read_to_eof(fd):
            out = []
            while True:
                data = os.read(fd, 65536)
                out.append((data, time.monotonic()))
                if not data:
                    return out
        for i in range(ROUNDS):
            # A new channel each round, idle as one not used for a while
            # is: a host that has just given a reader end of file goes on
            # asking the server quickly for some time, which would hide a
            # slow end of file on a channel used again at once.
            p = self.made(A, "c%d" % i, framing="messages",
                          delivery=delivery)
            q = B(self.dir, "c%d" % i)
            rfd = self.open(q, os.O_RDONLY)
            call = msgtest.Call(read_to_eof, rfd)
            self.until("the reader on B held in read()",
                       lambda: figures(q)["held_reads"] == 1)
            self.assertEqual(msgtest.wait_asleep(call.native_id), "S")
            # B knows of the writer before it writes: the end of file to
            # come is that of a writer B has counted.
            wfd = os.open(p, os.O_WRONLY)
            self.until("A's writer counted on B",
                       lambda: figures(q)["remote_writers"] == 1)
            os.write(wfd, b"r%d" % i)
            os.close(wfd)
            t_close = time.monotonic()
            got = call.outcome()
            self.close(rfd)
            if [d for d, _ in got] != [b"r%d" % i, b""]:
                self.problem("round %d: B read %r" % (
                    i, [d for d, _ in got]))
                continue
            took.append(got[-1][1] - t_close)
        # The deadline on a promised behaviour (see EOF_DEADLINE), not a
        # benchmark: what each round took is said only if one is late.
        late = [t for t in took if t > EOF_DEADLINE]
        if late:
            self.problem("%s: end of file came more than %.1f s after the "
                         "last writer closed in %d of %d rounds; it took "
                         "%s s" % (delivery, EOF_DEADLINE, len(late),
                                   len(took), ", ".join(
                                       "%.2f" % t for t in took)))
        self.daemons_answer()
        self.conclude()

    def test_broadcast(self):
        self.rounds("broadcast")

    def test_queue(self):
        self.rounds("queue")


if __name__ == "__main__":
    unittest.main()
