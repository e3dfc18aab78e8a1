"""Pipelined writes to a bridged channel, and fsync() and close() as the
points where they are stored (issue 22).

A write to a bridged channel returns once its data is in the channel's
local buffer, as on a pipe; fsync() returns once JetStream stored all the
open wrote, and close() (FLUSH) once it stored all the closing process
wrote through it; both say EIO (or EPIPE) if any of it could not be.

- a write returns at once while the server is frozen (SIGSTOP); fsync
  and close wait, asleep (S) for the daemon, until it goes on (SIGCONT),
  then return 0, and the reader elsewhere gets the data;
- a child that closes a descriptor it inherited does not wait for what
  its parent wrote;
- a signal ends a waiting fsync with EINTR (and the daemon goes on); a
  close waiting for a frozen server dies of SIGKILL at once, never in D;
- fsync and close say EIO once the data cannot be stored: the channel's
  stream removed on another host while its pieces waited in the buffer,
  or a server gone past the bound (ten times nats_timeout);
- EAGAIN for an O_NONBLOCK writer once both the stream and this host's
  buffer are full, and room again once a reader elsewhere reads;
- several writers on two hosts write back to back, with fsync now and
  then: every record read once, each writer's in order.

Nothing here measures time: every wait is a bounded hang guard.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msgtest  # noqa: E402
import natstest  # noqa: E402
import test_bridge  # noqa: E402
from test_bridge import BridgeCase, figures, PY, LONG  # noqa: E402

# A process that writes, then fsyncs or closes, and says so:
#   sync PATH WHAT SIZE
# open, print "open", wait for a line, write SIZE bytes ("wrote N"), wait
# for a line, then WHAT: "fsync" (print "synced" or the errno's name),
# "close" (print "closed" or the errno's name), or "fsync-usr1": fsync
# with a SIGUSR1 handler that raises, so that EINTR shows ("EINTR").
SYNC = r'''
import errno, os, signal, sys
path, what, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
class Interrupted(Exception):
    pass
def on_usr1(signum, frame):
    raise Interrupted()
fd = os.open(path, os.O_WRONLY)
print("open", flush=True)
sys.stdin.readline()
print("wrote", os.write(fd, b"s" * size), flush=True)
sys.stdin.readline()
if what == "fsync-usr1":
    signal.signal(signal.SIGUSR1, on_usr1)
    print("syncing", flush=True)
    try:
        os.fsync(fd)
        print("synced", flush=True)
    except Interrupted:
        print("EINTR", flush=True)
    except OSError as e:
        print(errno.errorcode[e.errno], flush=True)
    sys.exit(0)
print("syncing", flush=True)
try:
    if what == "fsync":
        os.fsync(fd)
        print("synced", flush=True)
    else:
        os.close(fd)
        print("closed", flush=True)
except OSError as e:
    print(errno.errorcode[e.errno], flush=True)
'''


def state(pid):
    return msgtest.task_state(pid)


def wchan(pid):
    return msgtest.task_state(pid)[1] or ""


class Sync(BridgeCase):
    """fsync and close of a bridged channel, with the one server frozen
    or gone now and then."""

    hosts = 2
    options = ("-o", "nats_timeout=1")
    guard = 170
    CAP = 4096
    SIZE = 256
    # Writes until EAGAIN with the stream full (test_bridge's).
    fill = test_bridge.BackPressure.fill

    def tearDown(self):
        # Opens closed with the server frozen would wait for it.
        self.thaw()
        super().tearDown()

    def syncer(self, path, what, size=100):
        p = self.spawn(PY, "-c", SYNC, path, what, str(size),
                       stdin=subprocess.PIPE)
        self.expect_line(p, "open")
        return p

    def step(self, p, want):
        p.stdin.write("\n")
        p.stdin.flush()
        line = p.stdout.readline().split()
        self.assertEqual(line[:1], [want], "printed %r; stderr %s" % (
            line, self.rest(p) if p.poll() is not None else ""))
        return line

    def freeze(self):
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        self.addCleanup(self.thaw)

    def thaw(self):
        if self.server.running():
            os.kill(self.server.proc.pid, signal.SIGCONT)

    def asleep_in_daemon(self, pid, samples=10):
        """pid waits for the daemon, asleep (S), for samples tenths of a
        second on end: seen in a FUSE request (msgtest.wait_asleep), and
        never in D after."""
        self.assertEqual(msgtest.wait_asleep(pid), "S")
        seen = []
        for _ in range(samples):
            seen.append((state(pid)[0], wchan(pid)))
            self.assertNotEqual(seen[-1][0], "D", "in D: %r" % seen)
            time.sleep(0.1)

    def test_fsync_and_close_wait_for_the_server(self):
        for what, done in (("fsync", "synced"), ("close", "closed")):
            with self.subTest(what=what):
                pa, pb = self.channel() if what == "fsync" else \
                    (self.A(self.dir, "c"), self.B(self.dir, "c"))
                rfd = self.open(pb, os.O_RDONLY)
                s = self.syncer(pa, what)
                self.until("B's reader counted on A", lambda: figures(
                    pa)["remote_readers"] == 1)
                self.freeze()
                # The write returns with the server frozen: the data is
                # in A's buffer.
                self.assertEqual(self.step(s, "wrote"), ["wrote", "100"])
                s.stdin.write("\n")
                s.stdin.flush()
                self.expect_line(s, "syncing")
                self.asleep_in_daemon(s.pid)
                self.thaw()
                self.assertEqual(s.stdout.readline().split(), [done])
                self.assertEqual(self.drain(rfd, 100), b"s" * 100)
                self.finish(s)
                self.close(rfd)
        self.answers()

    def test_child_close_does_not_wait(self):
        """A child that closes a descriptor its parent wrote through (as
        subprocess does before exec) does not wait for the parent's
        data; the parent's own close does."""
        pa, pb = self.channel()
        rfd = self.open(pb, os.O_RDONLY)
        wfd = os.open(pa, os.O_WRONLY)
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        self.freeze()
        self.assertEqual(os.write(wfd, b"p" * 50), 50)
        pid = os.fork()
        if pid == 0:
            os.close(wfd)
            os._exit(0)
        self.until("the child ends", lambda: os.waitpid(
            pid, os.WNOHANG)[0] == pid, LONG)
        self.thaw()
        os.close(wfd)
        self.assertEqual(self.drain(rfd, 50), b"p" * 50)
        self.answers()

    def test_signal_ends_fsync(self):
        pa, pb = self.channel()
        rfd = self.open(pb, os.O_RDONLY)
        s = self.syncer(pa, "fsync-usr1")
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        self.freeze()
        self.step(s, "wrote")
        self.step(s, "syncing")
        self.asleep_in_daemon(s.pid, 3)
        s.send_signal(signal.SIGUSR1)
        self.assertEqual(s.stdout.readline().split(), ["EINTR"])
        # (Its exit's close waits for the server; it is let go below.)
        # A close waiting for the frozen server dies of SIGKILL.
        c = self.syncer(pa, "close")
        self.step(c, "wrote")
        self.step(c, "syncing")
        self.asleep_in_daemon(c.pid, 3)
        c.kill()
        try:
            c.wait(timeout=LONG)
        except subprocess.TimeoutExpired:
            self.fail("a close held for the server survives SIGKILL: %r"
                      % (state(c.pid),))
        self.thaw()
        self.finish(s)
        # Nothing was lost: the data of both goes to B.
        self.assertEqual(self.drain(rfd, 200), b"s" * 200)
        self.answers()

    def test_eio_when_the_stream_goes(self):
        """A channel full cluster-wide, more in A's buffer, then the
        channel removed on B (its reader still open): what A buffered can
        never be stored, and fsync says EIO.  (With the reader closed
        first it says EPIPE.)"""
        cap = self.CAP
        pa, pb = self.channel(capacity=cap)
        rfd = self.open(pb, os.O_RDONLY)
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        wfd = self.open(pa, os.O_WRONLY | os.O_NONBLOCK)
        self.fill(pa, wfd)
        # Removed on B while the reader there is open: the stream goes.
        os.unlink(pb)
        self.goes(pa)
        self.assertEqual(self.errno_of(os.fsync, wfd), "EIO")
        # Said once: the next fsync has nothing to say.
        os.fsync(wfd)
        self.answers()

    def test_eio_when_the_server_is_gone(self):
        """The server frozen past the bound (ten times nats_timeout, 10 s
        here): fsync says EIO, and so does close for what it wrote."""
        pa, pb = self.channel()
        rfd = self.open(pb, os.O_RDONLY)
        s = self.syncer(pa, "fsync")
        c = self.syncer(pa, "close")
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        self.freeze()
        self.step(s, "wrote")
        self.step(c, "wrote")
        s.stdin.write("\n")
        s.stdin.flush()
        c.stdin.write("\n")
        c.stdin.flush()
        self.expect_line(s, "syncing")
        self.expect_line(c, "syncing")
        self.assertEqual(self.finish(s, wait=LONG).split(), ["EIO"])
        self.assertEqual(self.finish(c, wait=LONG).split(), ["EIO"])
        self.thaw()
        self.close(rfd)
        self.answers()

    def test_eagain_when_stream_and_buffer_are_full(self):
        cap = self.CAP
        pa, pb = self.channel(capacity=cap)
        rfd = self.open(pb, os.O_RDONLY)
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        wfd = self.open(pa, os.O_WRONLY | os.O_NONBLOCK)
        total = self.fill(pa, wfd)
        # The stream's capacity and the buffer's.
        self.assertGreater(total, cap)
        self.assertLessEqual(total, 2 * cap)
        self.assertEqual(self.errno_of(os.write, wfd, b"z" * 256),
                         "EAGAIN")
        data = self.drain(rfd, total)
        self.assertEqual(data, b"".join(bytes([65 + i % 26]) * 256
                                        for i in range(total // 256)))
        os.fsync(wfd)
        self.answers()


class Writers(BridgeCase):
    """Several writers on two hosts, back to back, with fsync now and
    then, two readers: each record once, each writer's in order."""

    hosts = 3
    COUNT = 3000

    def test_writers_pipelined(self):
        self.bridged()
        self.made(self.A, "q", framing="messages")
        readers = [self.work("reader", h(self.dir, "q"), "messages",
                             self.COUNT) for h in (self.C, self.C)]
        for r in readers:
            self.expect_line(r, "open")
        ws = [self.spawn(PY, "-c", WRITE, h(self.dir, "q"), str(i),
                         str(self.COUNT), stdin=subprocess.PIPE)
              for i, h in enumerate((self.A, self.A, self.B))]
        for w in ws:
            self.expect_line(w, "open")
        for w in ws:
            w.stdin.write("go\n")
            w.stdin.flush()
        for w in ws:
            self.assertEqual(self.finish(w).split(),
                             ["done", str(self.COUNT)])
        got = []
        for r in readers:
            got.append(json.loads(self.finish(r)))
        seen = {}
        for recs in got:
            last = {}
            for w, n in recs:
                self.assertGreater(n, last.get(w, -1),
                                   "writer %d out of order" % w)
                last[w] = n
                seen[(w, n)] = seen.get((w, n), 0) + 1
        twice = [k for k, v in seen.items() if v > 1]
        self.assertEqual(twice, [])
        self.assertEqual(len(seen), 3 * self.COUNT)


# A writer of test_bridge's records, in its messages, back to back, with
# an fsync every 50 writes: WRITE PATH W COUNT.
WRITE = r'''
import os, sys
sys.path.insert(0, %r)
from test_bridge import record, writes
path, w, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_WRONLY)
print("open", flush=True)
sys.stdin.readline()
for i, nums in enumerate(writes(w, count, "messages")):
    data = b"".join(record(w, n) for n in nums)
    assert os.write(fd, data) == len(data)
    if i %% 50 == 49:
        os.fsync(fd)
os.close(fd)
print("done", count, flush=True)
''' % os.path.dirname(os.path.abspath(__file__))


if __name__ == "__main__":
    unittest.main()
