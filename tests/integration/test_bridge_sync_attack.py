"""A hostile review of issue 22, part 1 (pipelined bridged writes, fsync
and close as the points of durability): what a user or a fault can do to
others' closes and to the daemon.

- a writer killed (SIGKILL) while its host's buffer holds pieces the full
  stream refuses: the close at its exit (FLUSH) must not keep it alive,
  unkillable, until a reader somewhere reads (the kernel ignores further
  signals for a process that is exiting, and nobody sees that close's
  answer): the same for a writer that exits without closing;
- a parent and its child writing through one open, both of whose data is
  given up: each one's close says EIO, not only the first one's;
- many closes waiting behind a long buffer of another process's pieces
  (each answer must not cost a scan of the buffer for each close);
- many channels whose streams are full, each with its host's buffer
  filled by a writer: what the buffers hold counts against max_memory,
  all of it (a piece's bookkeeping too), and once that is used up a
  write waits (EAGAIN with O_NONBLOCK) instead of going in.

Nothing here measures time: every wait is a bounded hang guard.
"""

import errno
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msgtest  # noqa: E402
from test_bridge import BridgeCase, figures, PY, LONG, WAIT  # noqa: E402

# Writes 256-byte blocks to PATH until it blocks (the stream and the
# host's buffer full): FILL PATH.
FILL = r'''
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
print("open", flush=True)
while True:
    os.write(fd, b"f" * 256)
'''

# Writes 256-byte blocks to PATH, non-blocking, until EAGAIN, says so,
# waits for a line, then exits without closing it: EXIT PATH.
EXIT = r'''
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
print("open", flush=True)
try:
    while True:
        os.write(fd, b"f" * 256)
except BlockingIOError:
    pass
print("full", flush=True)
sys.stdin.readline()
os._exit(0)
'''


class Exit(BridgeCase):
    """Closes at a process's exit."""

    hosts = 2
    options = ("-o", "nats_timeout=1")
    guard = 170
    CAP = 4096

    def test_killed_writer_of_a_full_stream_dies(self):
        """A writer held by a full channel (stream and buffer) is killed:
        it is gone at once, though its pieces wait in A's buffer, and
        they go once the reader reads."""
        pa, pb = self.channel(capacity=self.CAP)
        rfd = self.open(pb, os.O_RDONLY)
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        w = self.spawn(PY, "-c", FILL, pa)
        self.expect_line(w, "open")

        def held():
            st = figures(pa)
            return st["stream_full"] and \
                st["unstored_bytes"] + 256 > self.CAP and \
                "request_wait_answer" in (msgtest.task_state(w.pid)[1]
                                          or "")
        self.until("the writer held by a full stream and buffer", held)
        w.kill()
        try:
            w.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            st = msgtest.task_state(w.pid)
            # A second SIGKILL does nothing to an exiting process.
            w.kill()
            time.sleep(0.5)
            alive = w.poll() is None
            # Let it go: the reader reads.
            got = self.drain(rfd, 2 * self.CAP - 256)
            w.wait(timeout=LONG)
            self.fail("a writer killed with pieces buffered for a full "
                      "stream lives on in its exit's close %r (a second "
                      "SIGKILL: %s) until a reader reads (%d bytes read)"
                      % (st, "still alive" if alive else "gone",
                         len(got)))
        # What it wrote still goes, once.
        n = figures(pa)["bytes_written"]
        got = self.drain(rfd, n)
        self.assertEqual(got, b"f" * n)
        self.until("A's buffer stored", lambda: figures(
            pa)["unstored_bytes"] == 0)
        self.answers()

    def test_exit_of_a_writer_of_a_full_stream(self):
        """A writer that filled the channel (stream and buffer) exits
        without closing: its exit's close is one nobody sees the answer
        of, and the kernel ignores any signal for an exiting process; it
        must not wait, unkillable, for a reader that may never come."""
        pa, pb = self.channel(capacity=self.CAP)
        rfd = self.open(pb, os.O_RDONLY)
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        w = self.spawn(PY, "-c", EXIT, pa, stdin=subprocess.PIPE)
        self.expect_line(w, "open")
        self.until("the stream full", lambda: figures(pa)["stream_full"])
        w.stdin.write("\n")
        w.stdin.flush()
        self.expect_line(w, "full")
        self.until("the stream full and A's buffer too", lambda: figures(
            pa)["stream_full"] and figures(pa)["unstored_bytes"] > 0)
        try:
            w.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            st = msgtest.task_state(w.pid)
            w.kill()
            time.sleep(0.5)
            alive = w.poll() is None
            n = figures(pa)["bytes_written"]
            self.drain(rfd, n)
            w.wait(timeout=LONG)
            self.fail("a writer that exits with pieces buffered for a full "
                      "stream lives on in its exit's close %r (SIGKILL: "
                      "%s) until a reader reads" % (
                          st, "still alive" if alive else "gone"))
        n = figures(pa)["bytes_written"]
        self.assertEqual(self.drain(rfd, n), b"f" * n)
        self.until("A's buffer stored", lambda: figures(
            pa)["unstored_bytes"] == 0)
        self.answers()


class Owners(BridgeCase):
    """Two processes writing through one open, and the closes that say
    what became of their data."""

    hosts = 2
    options = ("-o", "nats_timeout=1")
    guard = 170

    def tearDown(self):
        if self.server.running():
            os.kill(self.server.proc.pid, signal.SIGCONT)
        super().tearDown()

    def test_each_owners_close_says_its_loss(self):
        """A parent and its child write through one open with the server
        frozen past the bound (ten times nats_timeout): both their data
        is given up, so both their closes say EIO, not only the close of
        the process whose piece failed first."""
        self.bridged()
        pa = self.made(self.A, "c")
        self.open(self.B(self.dir, "c"), os.O_RDONLY)
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        wfd = os.open(pa, os.O_WRONLY)
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        self.assertEqual(os.write(wfd, b"p" * 100), 100)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.write(wfd, b"c" * 100)
                os.close(wfd)
                res = b"0"
            except OSError as e:
                res = errno.errorcode[e.errno].encode()
            os.write(w, res)
            os._exit(0)
        os.close(w)
        # The child's close waits, then the bound passes.
        with os.fdopen(r, "rb") as f:
            child = f.read().decode()
        os.waitpid(pid, 0)
        parent = self.errno_of(os.close, wfd)
        os.kill(self.server.proc.pid, signal.SIGCONT)
        self.assertEqual((parent, child), ("EIO", "EIO"),
                         "(parent's close, child's close)")
        for h in self.all:
            self.assertIsNone(h.trouble(), h)


class Closes(BridgeCase):
    """Many closes waiting at once for one open's pieces."""

    hosts = 2
    guard = 170
    COUNT = 20000
    CHILDREN = 32
    options = ("-o", "nats_timeout=10")

    def tearDown(self):
        if self.server.running():
            os.kill(self.server.proc.pid, signal.SIGCONT)
        super().tearDown()

    def test_closes_behind_many_pieces(self):
        """A parent writes 20,000 small messages with the server frozen,
        then 32 children each write one and close (each close waits for
        its own piece, behind the parent's): once the server goes on,
        all is stored and every close returns, within the hang guard,
        and the daemon answers meanwhile."""
        self.bridged()
        pa = self.make(self.A, "m", framing="messages",
                       capacity=64 << 20)
        self.open(self.B(self.dir, "m"), os.O_RDONLY)
        self.until("B's reader counted on A", lambda: figures(
            pa)["remote_readers"] == 1)
        wfd = os.open(pa, os.O_WRONLY)
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        for _ in range(self.COUNT):
            os.write(wfd, b"p")
        kids = []
        for _ in range(self.CHILDREN):
            pid = os.fork()
            if pid == 0:
                try:
                    os.write(wfd, b"c")
                    os.close(wfd)
                finally:
                    os._exit(0)
            kids.append(pid)
        self.until("the children's closes wait", lambda: all(
            "request_wait_answer" in (msgtest.task_state(k)[1] or "")
            for k in kids))
        os.kill(self.server.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + LONG
        left = set(kids)
        while left and time.monotonic() < deadline:
            for k in list(left):
                if os.waitpid(k, os.WNOHANG)[0] == k:
                    left.discard(k)
            time.sleep(0.05)
        stats = figures(pa)
        for k in left:
            os.kill(k, signal.SIGKILL)
            os.waitpid(k, 0)
        self.assertEqual(len(left), 0, "closes still waiting after %ds; "
                         "A's stats %r" % (LONG, stats))
        os.close(wfd)
        for h in self.all:
            self.assertIsNone(h.trouble(), h)


class Memory(BridgeCase):
    """The host's buffers of pieces and max_memory."""

    hosts = 2
    guard = 170
    MAX = 256 << 10
    CHANNELS = 16
    options = ("-o", "nats_timeout=2,max_memory=256K")

    def test_buffers_count_against_max_memory(self):
        """Sixteen channels of 64 KiB, no reader: each stream fills, then
        A's buffer for it, until a write gets EAGAIN.  Without a bound
        the buffers held 16 x 64 KiB with max_memory 256K; now what A
        holds stays within max_memory, but for the one piece an empty
        buffer takes (each channel's first, its write's copy counted when
        it came)."""
        self.bridged()
        fds = []
        # Made first: names need room in max_memory too.
        paths = [self.made(self.A, "c%d" % i) for i in range(self.CHANNELS)]
        try:
            self.fill(paths, fds)
        finally:
            # The streams go, and so do the pieces waiting for them: the
            # closes do not wait for a reader.
            for p in paths:
                os.unlink(p)
            for fd in fds:
                self.fds.discard(fd)
                try:
                    os.close(fd)
                except OSError as e:
                    self.assertIn(e.errno, (errno.EIO, errno.EPIPE))
        self.until("A's buffers emptied", lambda: figures(
            self.A.path)["held_bytes"] == 0, wait=LONG)
        for h in self.all:
            self.assertIsNone(h.trouble(), h)

    def fill(self, paths, fds):
        for i, p in enumerate(paths):
            fd = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
            fds.append(fd)
            for _ in range(1000):       # a hang guard: 4 MiB at most
                try:
                    os.write(fd, b"m" * 4096)
                except BlockingIOError:
                    break
            else:
                self.fail("c%d took 4 MiB, its capacity 64 KiB" % i)
        held = figures(self.A.path)["held_bytes"]
        self.assertLessEqual(held, self.MAX + self.CHANNELS * 8192,
                             "A holds %d bytes, max_memory %d" % (
                                 held, self.MAX))


if __name__ == "__main__":
    unittest.main()
