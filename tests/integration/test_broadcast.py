"""Broadcast delivery (issue 11, docs/modes.md "Broadcast delivery"),
against a real mount: user.ipcfs.delivery=broadcast gives every open for
reading its own copy of every message or byte, in order.  Four readers of
10,000 messages and of a byte stream, each its own process; back-pressure
from the slowest reader, and a reader killed mid-stream that holds nobody
back; the late joiner rule; end of file, POLLIN and EPIPE per reader; an
O_RDWR open that reads its own writes.

Nothing here measures time; every wait is bounded by a hang guard only."""

import errno
import hashlib
import json
import os
import select
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msgtest  # noqa: E402
from msgtest import PY, Call, figures, revents, wait_for  # noqa: E402

IN, OUT = select.POLLIN, select.POLLOUT
HUP, ERR = select.POLLHUP, select.POLLERR

# Opens, reads N bytes (one read), says so and waits to be killed.
SLOW_READER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", flush=True)
n = int(sys.argv[2])
data = os.read(fd, n) if n else b""
print("read", len(data), flush=True)
time.sleep(3600)
"""


class BroadcastCase(msgtest.ChannelCase):

    def bchan(self, framing="messages", capacity=None):
        return self.chan(framing=framing, capacity=capacity,
                         delivery="broadcast")

    def read_all(self, fd, n):
        """Read until n bytes, with reads of up to 64 KiB."""
        buf = b""
        while len(buf) < n:
            data = os.read(fd, min(65536, n - len(buf)))
            self.assertNotEqual(data, b"", "end of file too soon")
            buf += data
        return buf


class Fanout(BroadcastCase):

    COUNT = 10000
    LARGEST = 2048
    READERS = 4

    def test_four_readers_10000_messages(self):
        p = self.bchan()
        cap = figures(p)["capacity"]
        sizes = msgtest.sizes(0, self.COUNT, self.LARGEST)
        readers = [self.spawn(PY, msgtest.ME, "reader", p, "65536")
                   for _ in range(self.READERS)]
        # A fifth stops after 100 messages, holds the writer back, and is
        # killed: then it holds nobody back any more.
        stopper = self.spawn(PY, msgtest.ME, "reader", p, "65536", "100")
        wait_for("readers", lambda: figures(p)["readers"], self.READERS + 1)
        writer = self.spawn(PY, msgtest.ME, "writer", p, "0",
                            str(self.COUNT), str(self.LARGEST), "block")
        self.assertEqual(stopper.stdout.readline(), "stopped\n")
        # The writer waits, every other reader has everything and waits
        # too: only the stopped reader holds the writer back.
        wait_for("held writes and reads", lambda: (
            lambda st: (st["held_writes"], st["held_reads"]))(figures(p)),
            (1, self.READERS))
        st = figures(p)
        self.assertLessEqual(st["buffered_bytes"], cap)
        self.assertGreater(st["buffered_bytes"], cap - self.LARGEST, st)
        stopper.kill()
        self.assertEqual(self.finish(stopper)[0], -signal.SIGKILL)
        self.assertEqual(self.finish(writer), (0, f"wrote {self.COUNT}\n",
                                               ""))
        want = [msgtest.key(0, s, n) for s, n in enumerate(sizes)]
        for i, proc in enumerate(readers):
            rc, out, err = self.finish(proc)
            self.assertEqual((rc, err), (0, ""), f"reader {i}")
            got = json.loads(out)
            self.assertEqual(len(got), self.COUNT, f"reader {i}")
            self.assertEqual(got, want, f"reader {i}: not all, in order")
        st = figures(p)
        total = sum(sizes)
        self.assertEqual((st["framing"], st["delivery"]),
                         ("messages", "broadcast"))
        self.assertEqual((st["readers"], st["writers"], st["buffered_bytes"],
                          st["buffered_messages"]), (0, 0, 0, 0))
        self.assertEqual((st["messages_written"], st["bytes_written"]),
                         (self.COUNT, total))
        # What all readers got, the stopped one's 100 messages too.
        self.assertEqual((st["messages_read"], st["bytes_read"]),
                         (self.READERS * self.COUNT + 100,
                          self.READERS * total + sum(sizes[:100])))

    def test_four_readers_byte_stream(self):
        p = self.bchan(framing="bytes")
        count, largest = self.COUNT, 4096
        stream = b"".join(msgtest.message(1, s, n) for s, n in
                          enumerate(msgtest.sizes(1, count, largest)))
        readers = [self.spawn(PY, msgtest.ME, "bytes", p, f"seed{i}")
                   for i in range(self.READERS)]
        wait_for("readers", lambda: figures(p)["readers"], self.READERS)
        writer = self.spawn(PY, msgtest.ME, "writer", p, "1", str(count),
                            str(largest), "block")
        self.assertEqual(self.finish(writer), (0, f"wrote {count}\n", ""))
        want = f"{len(stream)} {hashlib.sha256(stream).hexdigest()}\n"
        for i, proc in enumerate(readers):
            self.assertEqual(self.finish(proc), (0, want, ""),
                             f"reader {i}: not the whole stream")
        st = figures(p)
        self.assertEqual((st["buffered_bytes"], st["bytes_written"],
                          st["bytes_read"]),
                         (0, len(stream), self.READERS * len(stream)))


class BackPressure(BroadcastCase):

    def test_slowest_reader_holds_the_writer(self):
        p = self.bchan(framing="bytes", capacity="8K")
        fast = self.open(p, os.O_RDONLY)
        slow = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        data = bytes(i % 253 for i in range(8192 + 100 + 1000))
        self.assertEqual(os.write(w, data[:8192]), 8192)
        self.assertEqual(self.read_all(fast, 8192), data[:8192])
        # The fast reader has it all; the slow one is capacity behind.
        self.assertEqual(self.errno_of(os.write, w, b"x"), "EAGAIN")
        self.assertEqual(revents(w, OUT), 0)
        self.assertEqual(figures(p)["buffered_bytes"], 8192)
        self.assertEqual(os.read(slow, 100), data[:100])
        self.assertEqual(figures(p)["buffered_bytes"], 8092)
        self.assertEqual(os.write(w, data[8192:8292]), 100)
        self.assertEqual(self.errno_of(os.write, w, b"x"), "EAGAIN")
        # A blocking write waits for the slow reader, and goes on when it
        # reads.
        os.set_blocking(w, True)
        writer = Call(os.write, w, data[8292:])
        self.assertTrue(writer.blocked())
        wait_for("held_writes", lambda: figures(p)["held_writes"], 1)
        self.assertEqual(self.read_all(slow, 4096), data[100:4196])
        self.assertEqual(writer.outcome(), 1000)
        self.assertEqual(self.read_all(fast, 1100), data[8192:])
        self.assertEqual(self.read_all(slow, len(data) - 4196),
                         data[4196:])
        st = figures(p)
        self.assertEqual((st["buffered_bytes"], st["bytes_read"]),
                         (0, 2 * len(data)))

    def test_slowest_reader_holds_messages(self):
        p = self.bchan(capacity="8K")
        fast = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        slow = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        msgs = [msgtest.message(2, s, 3000) for s in range(3)]
        self.assertEqual(os.write(w, msgs[0]), 3000)
        self.assertEqual(os.write(w, msgs[1]), 3000)
        self.assertEqual(os.read(fast, 65536), msgs[0])
        self.assertEqual(os.read(fast, 65536), msgs[1])
        self.assertEqual(self.errno_of(os.read, fast, 65536), "EAGAIN")
        # 2,192 bytes are free for the slow reader: not the whole
        # message, so nothing of it.
        self.assertEqual(self.errno_of(os.write, w, msgs[2]), "EAGAIN")
        st = figures(p)
        self.assertEqual((st["buffered_bytes"], st["buffered_messages"]),
                         (6000, 2))
        self.assertEqual(os.read(slow, 65536), msgs[0])
        self.assertEqual(os.write(w, msgs[2]), 3000)
        self.assertEqual(os.read(fast, 65536), msgs[2])
        self.assertEqual(os.read(slow, 65536), msgs[1])
        self.assertEqual(os.read(slow, 65536), msgs[2])
        self.assertEqual(figures(p)["buffered_messages"], 0)

    def check_killed_reader(self, framing):
        p = self.bchan(framing=framing, capacity="8K")
        fast = self.open(p, os.O_RDONLY)
        slow = self.spawn(PY, "-c", SLOW_READER, p,
                          "65536" if framing == "messages" else "10")
        self.assertEqual(slow.stdout.readline(), "open\n")
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"a" * 10)
        self.assertEqual(slow.stdout.readline(), "read 10\n")
        self.assertEqual(os.read(fast, 65536), b"a" * 10)
        self.assertEqual(os.write(w, b"b" * 4000), 4000)
        self.assertEqual(os.write(w, b"c" * 4000), 4000)
        self.assertEqual(self.read_all(fast, 8000), b"b" * 4000 + b"c" * 4000)
        writer = Call(os.write, w, b"d" * 4000)
        self.assertTrue(writer.blocked(), "no wait for the slow reader")
        self.assertEqual(figures(p)["readers"], 2)
        slow.kill()
        self.assertEqual(self.finish(slow)[0], -signal.SIGKILL)
        self.assertEqual(writer.outcome(), 4000)
        self.assertEqual(os.read(fast, 65536), b"d" * 4000)
        st = figures(p)
        self.assertEqual((st["readers"], st["buffered_bytes"]), (1, 0))

    def test_killed_reader_holds_nobody_back(self):
        self.check_killed_reader("messages")

    def test_killed_reader_holds_nobody_back_bytes(self):
        self.check_killed_reader("bytes")


class LateJoiners(BroadcastCase):
    """An open for reading starts where the furthest reader has got to."""

    def test_data_kept_for_the_first_reader(self):
        p = self.bchan(framing="bytes")
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"early ")
        os.write(w, b"bird")
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(self.read_all(r, 10), b"early bird")

    def test_joiner_gets_what_no_reader_has(self):
        p = self.bchan(framing="bytes")
        a = self.open(p, os.O_RDONLY)
        b = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"0123456789")
        self.assertEqual(os.read(a, 4), b"0123")
        self.assertEqual(os.read(b, 2), b"01")
        c = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        self.assertEqual(os.read(c, 100), b"456789")
        self.assertEqual(self.errno_of(os.read, c, 100), "EAGAIN")
        self.assertEqual(self.read_all(b, 8), b"23456789")
        self.assertEqual(self.read_all(a, 6), b"456789")
        # From now on the joiner gets everything, like the others.
        os.write(w, b"new")
        for fd in (a, b, c):
            self.assertEqual(self.read_all(fd, 3), b"new")

    def test_joiner_of_messages(self):
        p = self.bchan()
        a = self.open(p, os.O_RDONLY)
        b = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        for m in (b"m1", b"m2", b"m3"):
            os.write(w, m)
        self.assertEqual(os.read(a, 100), b"m1")
        self.assertEqual(os.read(a, 100), b"m2")
        c = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        self.assertEqual(os.read(c, 100), b"m3")
        self.assertEqual(self.errno_of(os.read, c, 100), "EAGAIN")
        self.assertEqual([os.read(b, 100) for _ in range(3)],
                         [b"m1", b"m2", b"m3"])
        self.assertEqual(os.read(a, 100), b"m3")

    def test_after_the_readers_closed(self):
        p = self.bchan(framing="bytes")
        w = self.open(p, os.O_WRONLY)
        a = self.open(p, os.O_RDONLY)
        os.write(w, b"hello world")
        self.assertEqual(os.read(a, 5), b"hello")
        self.close(a)
        d = self.open(p, os.O_RDONLY)
        self.assertEqual(self.read_all(d, 6), b" world")
        self.assertEqual(figures(p)["buffered_bytes"], 0)

    def test_subscriber_before_publisher_gets_all(self):
        p = self.bchan()
        subs = [self.open(p, os.O_RDONLY) for _ in range(3)]
        w = self.open(p, os.O_WRONLY)
        msgs = [msgtest.message(3, s, 100 + s) for s in range(20)]
        for m in msgs:
            os.write(w, m)
        self.close(w)
        for fd in subs:
            got = []
            while m := os.read(fd, 65536):
                got.append(m)
            self.assertEqual(got, msgs)


class PerReader(BroadcastCase):

    def test_eof_and_pollin_per_reader(self):
        p = self.bchan()
        a = self.open(p, os.O_RDONLY)
        b = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        self.assertEqual((revents(a, IN), revents(b, IN)), (0, 0))
        os.write(w, b"x")
        self.assertEqual((revents(a, IN), revents(b, IN)), (IN, IN))
        self.assertEqual(os.read(a, 10), b"x")
        # a has read it: nothing for a, b still has it.
        self.assertEqual((revents(a, IN), revents(b, IN)), (0, IN))
        self.close(w)
        # End of file for a, which has everything; not yet for b.
        self.assertEqual(revents(a, IN), IN | HUP)
        self.assertEqual(revents(b, IN), IN)
        self.assertEqual(os.read(a, 10), b"")
        self.assertEqual(os.read(b, 10), b"x")
        self.assertEqual(revents(b, IN), IN | HUP)
        self.assertEqual(os.read(b, 10), b"")

    def test_blocked_readers_each_woken(self):
        p = self.bchan(framing="bytes")
        a = self.open(p, os.O_RDONLY)
        b = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        ra, rb = Call(os.read, a, 100), Call(os.read, b, 100)
        self.assertTrue(ra.blocked() and rb.blocked())
        os.write(w, b"both")
        self.assertEqual((ra.outcome(), rb.outcome()), (b"both", b"both"))
        ra, rb = Call(os.read, a, 100), Call(os.read, b, 100)
        self.assertTrue(ra.blocked() and rb.blocked())
        self.close(w)
        self.assertEqual((ra.outcome(), rb.outcome()), (b"", b""))

    def test_epipe_when_all_readers_close(self):
        p = self.bchan()
        a = self.open(p, os.O_RDONLY)
        b = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"one")
        self.close(a)
        self.assertEqual(os.write(w, b"two"), 3)
        self.assertEqual(revents(w, OUT), OUT)
        self.close(b)
        self.assertTrue(revents(w, OUT) & ERR)
        with self.assertRaises(BrokenPipeError):
            os.write(w, b"three")
        # A held write, when the last reader goes.
        p = self.bchan(framing="bytes", capacity="4K")
        a = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"x" * 4096)
        writer = Call(os.write, w, b"y" * 100)
        self.assertTrue(writer.blocked())
        self.close(a)
        with self.assertRaises(OSError) as cm:
            writer.outcome()
        self.assertEqual(cm.exception.errno, errno.EPIPE)

    def test_rdwr_reads_its_own_writes(self):
        for framing in ("messages", "bytes"):
            p = self.bchan(framing=framing)
            other = self.open(p, os.O_RDONLY)
            rw = self.open(p, os.O_RDWR)
            st = figures(p)
            self.assertEqual((st["readers"], st["writers"]), (2, 1))
            os.write(rw, b"mine")
            self.assertEqual(os.read(rw, 100), b"mine", framing)
            self.assertEqual(os.read(other, 100), b"mine", framing)
            self.assertEqual(figures(p)["buffered_bytes"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
