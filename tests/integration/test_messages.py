"""Message framing (issue 11, docs/modes.md "Message framing"), against a
real mount: user.ipcfs.framing=messages makes each write() one message
that goes in whole or not at all and each read() return one whole
message.  Concurrent writers in their own processes, EMSGSIZE both ways,
O_NONBLOCK, end of file, EPIPE, poll, st_blksize, the tools users read
with (cat, Python's open(), os.read), the stats, a held message write
that is killed or interrupted, and the same from C (build/msgio).

Nothing here measures time: "X blocks" is checked by seeing X asleep in a
FUSE request and not yet returned; every wait is bounded by a generous
hang guard only."""

import collections
import errno
import json
import os
import select
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
import msgtest  # noqa: E402
from msgtest import (CAPACITY, DELIVERY, FRAMING, GUARD, PY, Call,  # noqa
                     figures, is_power_of_two, revents, task_state,
                     wait_asleep, wait_for)

MSGIO = os.environ.get("MSGIO", os.path.join(ipcfs_test.TOP, "build",
                                             "msgio"))
DEFAULT_CAP = 65536             # the daemon's default capacity
PAGE = os.sysconf("SC_PAGE_SIZE")
MAX_WRITE = 1 << 20             # libfuse 3's max_write
BIGGEST = MAX_WRITE - PAGE      # the largest message any channel takes


MessageCase = msgtest.ChannelCase


class Boundaries(MessageCase):
    """8 writers, each its own process and O_WRONLY open, write messages
    of 1 byte to the largest; every message must arrive whole, exactly
    once, and each writer's in order."""

    WRITERS = 8
    COUNT = 120

    def run_writers(self, nreaders, count, nonblocking=()):
        p = self.chan()
        largest = figures(p)["max_message"]
        self.assertEqual(largest, DEFAULT_CAP)
        # An open for writing of ours stays until every writer is done, so
        # that readers see end of file only then.
        hold = self.open(p, os.O_WRONLY)
        readers = [self.spawn(PY, msgtest.ME, "reader", p, str(largest))
                   for _ in range(nreaders)]
        wait_for("readers", lambda: figures(p)["readers"], nreaders)
        writers = [self.spawn(PY, msgtest.ME, "writer", p, str(w),
                              str(count), str(largest),
                              "nonblock" if w in nonblocking else "block")
                   for w in range(self.WRITERS)]
        for w, proc in enumerate(writers):
            rc, out, err = self.finish(proc)
            self.assertEqual((rc, out, err), (0, f"wrote {count}\n", ""),
                             f"writer {w}")
        self.close(hold)
        got = []
        for i, proc in enumerate(readers):
            rc, out, err = self.finish(proc)
            self.assertEqual((rc, err), (0, ""), f"reader {i}")
            got.append(json.loads(out))
        expect = {w: [msgtest.key(w, s, n) for s, n in
                      enumerate(msgtest.sizes(w, count, largest))]
                  for w in range(self.WRITERS)}
        total = sum(len(g) for g in got)
        self.assertEqual(total, self.WRITERS * count)
        # Exactly once: the messages all readers got are those written.
        self.assertEqual(
            collections.Counter(tuple(k) for g in got for k in g),
            collections.Counter(tuple(k) for v in expect.values() for k in v))
        # In each writer's order, for each reader.
        for i, g in enumerate(got):
            for w in range(self.WRITERS):
                seqs = [s for ww, s, _ in g if ww == w and s >= 0]
                self.assertEqual(seqs, sorted(seqs),
                                 f"reader {i}: writer {w} out of order")
        st = figures(p)
        nbytes = sum(n for v in expect.values() for _, _, n in v)
        self.assertEqual((st["buffered_bytes"], st["buffered_messages"]),
                         (0, 0))
        self.assertEqual((st["messages_written"], st["messages_read"]),
                         (self.WRITERS * count, self.WRITERS * count))
        self.assertEqual((st["bytes_written"], st["bytes_read"]),
                         (nbytes, nbytes))
        return got, expect

    def test_eight_writers_one_reader(self):
        got, expect = self.run_writers(1, self.COUNT)
        # One reader: each writer's messages, every one of them, in order.
        for w in range(self.WRITERS):
            self.assertEqual([k for k in got[0] if k[0] == w], expect[w],
                             f"writer {w}")

    def test_eight_writers_three_readers_some_nonblocking(self):
        self.run_writers(3, self.COUNT * 2 // 3, nonblocking=(1, 3, 5, 7))


class Sizes(MessageCase):

    def test_write_larger_than_max_message(self):
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        st = figures(p)
        self.assertEqual((st["framing"], st["capacity"], st["max_message"]),
                         ("messages", DEFAULT_CAP, DEFAULT_CAP))
        for n in (DEFAULT_CAP + 1, 2 * DEFAULT_CAP, 3 * MAX_WRITE + 1):
            self.assertEqual(self.errno_of(os.write, w, b"m" * n),
                             "EMSGSIZE", n)
            st = figures(p)
            self.assertEqual((st["buffered_messages"], st["buffered_bytes"],
                              st["messages_written"], st["bytes_written"]),
                             (0, 0, 0, 0), n)
        # The largest goes in and comes out whole, by one read.
        big = msgtest.message(0, 0, DEFAULT_CAP)
        self.assertEqual(os.write(w, big), DEFAULT_CAP)
        self.assertEqual(figures(p)["buffered_messages"], 1)
        self.assertEqual(os.read(r, DEFAULT_CAP), big)
        self.assertEmpty(p, r)

    def test_max_message_with_large_capacities(self):
        # The largest message is the capacity, but at most max_write less
        # a page: the kernel cuts larger writes into several requests.
        for cap, largest in ((1 << 20, BIGGEST), (5000, 5000),
                             (64 << 20, BIGGEST)):
            p = self.chan(capacity=cap)
            st = figures(p)
            self.assertEqual((st["capacity"], st["max_message"]),
                             (cap, largest))
            blk = os.stat(p).st_blksize
            self.assertTrue(is_power_of_two(blk), blk)
            self.assertGreaterEqual(blk, largest)
            self.assertLess(blk // 2, largest, "not the smallest")
        p = self.chan(capacity="1M")
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        for n in (BIGGEST + 1, MAX_WRITE, MAX_WRITE + 1, 2 * MAX_WRITE + 7):
            self.assertEqual(self.errno_of(os.write, w, b"M" * n),
                             "EMSGSIZE", n)
            st = figures(p)
            self.assertEqual((st["buffered_messages"], st["buffered_bytes"],
                              st["bytes_written"]), (0, 0, 0), n)
        big = msgtest.message(1, 0, BIGGEST)
        self.assertEqual(os.write(w, big), BIGGEST)
        self.assertEqual(self.errno_of(os.read, r, BIGGEST - 1), "EMSGSIZE")
        self.assertEqual(os.read(r, os.stat(p).st_blksize), big)
        self.assertEmpty(p, r)

    def test_read_buffer_too_small(self):
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        a, b = msgtest.message(2, 0, 100), msgtest.message(2, 1, 5)
        os.write(w, a)
        os.write(w, b)
        for n in (1, 50, 99):
            self.assertEqual(self.errno_of(os.read, r, n), "EMSGSIZE", n)
        st = figures(p)
        self.assertEqual((st["buffered_messages"], st["buffered_bytes"],
                          st["messages_read"], st["bytes_read"]),
                         (2, 105, 0, 0))
        # It stayed queued, first, for a read with a big enough buffer;
        # and a read never takes more than one message.
        self.assertEqual(os.read(r, 100), a)
        self.assertEqual(self.errno_of(os.read, r, 4), "EMSGSIZE")
        self.assertEqual(os.read(r, 65536), b)
        for i in range(3):
            os.write(w, b"%d" % i * 10)
        for i in range(3):
            self.assertEqual(os.read(r, 65536), b"%d" % i * 10)
        self.assertEmpty(p, r)

    def test_st_blksize(self):
        p = self.chan(framing=None)
        # A byte stream: the largest write never split.
        self.assertEqual(os.stat(p).st_blksize, 4096)
        self.assertEqual(figures(p)["max_message"], 4096)
        # Once messages, what stat says changes with it, even just after
        # a stat the kernel could have kept.
        os.setxattr(p, FRAMING, b"messages")
        st = os.stat(p)
        self.assertEqual(st.st_blksize, DEFAULT_CAP)
        self.assertGreaterEqual(st.st_blksize, figures(p)["max_message"])
        fd = self.open(p, os.O_RDONLY)
        self.assertEqual(os.fstat(fd).st_blksize, DEFAULT_CAP)
        self.close(fd)
        os.setxattr(p, CAPACITY, b"5000")
        self.assertEqual(os.stat(p).st_blksize, 8192)
        os.setxattr(p, CAPACITY, b"1M")
        self.assertEqual(os.stat(p).st_blksize, 1 << 20)
        os.setxattr(p, FRAMING, b"bytes")
        self.assertEqual(os.stat(p).st_blksize, 4096)

    def test_zero_length_write(self):
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(os.write(w, b""), 0)
        st = figures(p)
        self.assertEqual((st["buffered_messages"], st["messages_written"],
                          st["bytes_written"]), (0, 0, 0))
        self.assertEqual(revents(r, select.POLLIN), 0)
        self.assertEmpty(p, r)
        os.write(w, b"x")
        self.assertEqual(os.write(w, b""), 0)
        os.write(w, b"y")
        self.assertEqual(os.read(r, 10), b"x")
        self.assertEqual(os.read(r, 10), b"y")
        self.assertEqual(figures(p)["messages_written"], 2)


class NonBlocking(MessageCase):

    def test_empty_channel(self):
        p = self.chan()
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        self.assertEqual(self.errno_of(os.read, r, 65536), "EAGAIN")
        w = self.open(p, os.O_WRONLY)
        self.assertEqual(self.errno_of(os.read, r, 65536), "EAGAIN")
        os.write(w, b"one")
        self.assertEqual(os.read(r, 65536), b"one")
        self.assertEqual(self.errno_of(os.read, r, 65536), "EAGAIN")

    def test_full_4096(self):
        p = self.chan(capacity=4096)
        self.assertEqual(figures(p)["max_message"], 4096)
        w = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        a = msgtest.message(3, 0, 3000)
        self.assertEqual(os.write(w, a), 3000)
        # A message that does not fit whole: EAGAIN, and nothing of it in.
        self.assertEqual(self.errno_of(os.write, w, b"b" * 2000), "EAGAIN")
        self.assertEqual(self.errno_of(os.write, w, b"b" * 1097), "EAGAIN")
        st = figures(p)
        self.assertEqual((st["buffered_bytes"], st["buffered_messages"],
                          st["messages_written"]), (3000, 1, 1))
        # One that fits exactly goes in; then the channel is full.
        c = msgtest.message(3, 1, 1096)
        self.assertEqual(os.write(w, c), 1096)
        self.assertEqual(self.errno_of(os.write, w, b"d"), "EAGAIN")
        self.assertEqual(os.read(r, 4096), a)
        self.assertEqual(os.write(w, b"e" * 2000), 2000)
        self.assertEqual(os.read(r, 4096), c)
        self.assertEqual(os.read(r, 4096), b"e" * 2000)
        self.assertEmpty(p, r)

    def test_large_message_never_partial(self):
        # A stream takes what fits of a write over 4096 bytes; a message
        # channel takes all of it or nothing.
        p = self.chan(capacity="16K")
        w = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(os.write(w, b"a" * 10000), 10000)
        self.assertEqual(self.errno_of(os.write, w, b"b" * 8000), "EAGAIN")
        self.assertEqual(figures(p)["buffered_bytes"], 10000)
        self.assertEqual(os.read(r, 65536), b"a" * 10000)
        self.assertEqual(os.write(w, b"b" * 8000), 8000)
        self.assertEqual(os.read(r, 65536), b"b" * 8000)
        self.assertEmpty(p, r)

    def test_blocking_write_waits_for_room_for_all_of_it(self):
        p = self.chan(capacity="8K")
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        a, b = msgtest.message(4, 0, 5000), msgtest.message(4, 1, 5000)
        os.write(w, a)
        writer = Call(os.write, w, b)
        self.assertTrue(writer.blocked(), "a write that does not fit")
        wait_for("held_writes", lambda: figures(p)["held_writes"], 1)
        st = figures(p)
        self.assertEqual((st["buffered_bytes"], st["buffered_messages"]),
                         (5000, 1), "part of a held message went in")
        self.assertEqual(os.read(r, 65536), a)
        self.assertEqual(writer.outcome(), 5000)
        self.assertEqual(os.read(r, 65536), b)
        self.assertEmpty(p, r)


class EndAndPipe(MessageCase):

    def test_eof_after_writers_close(self):
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w1 = self.open(p, os.O_WRONLY)
        w2 = self.open(p, os.O_WRONLY)
        os.write(w1, b"first")
        os.write(w2, b"second")
        self.close(w1)
        self.assertEqual(os.read(r, 65536), b"first")
        reader = Call(os.read, r, 65536)
        self.close(w2)
        self.assertEqual(reader.outcome(), b"second")
        self.assertEqual(os.read(r, 65536), b"")
        # A reader blocked on the empty channel gets end of file when the
        # last writer goes.
        w = self.open(p, os.O_WRONLY)
        reader = Call(os.read, r, 65536)
        self.assertTrue(reader.blocked())
        self.close(w)
        self.assertEqual(reader.outcome(), b"")

    def test_epipe(self):
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        # No reader seen yet: kept for the next one.
        self.assertEqual(os.write(w, b"kept"), 4)
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(os.read(r, 100), b"kept")
        self.close(r)
        with self.assertRaises(BrokenPipeError):
            os.write(w, b"lost")
        self.assertEqual(figures(p)["buffered_messages"], 0)
        # A held write, when the last reader goes.
        p = self.chan(capacity="4K")
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        os.write(w, b"x" * 4000)
        writer = Call(os.write, w, b"y" * 200)
        self.assertTrue(writer.blocked())
        self.close(r)
        with self.assertRaises(BrokenPipeError):
            writer.outcome()


class Polling(MessageCase):

    def test_pollin_when_a_whole_message_waits(self):
        p = self.chan(capacity="8K")
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        IN = select.POLLIN
        self.assertEqual(revents(r, IN), 0)
        os.write(w, b"x" * 5000)
        self.assertEqual(revents(r, IN), IN)
        # A message held for room is not there for readers: after the
        # one that is, nothing to read until the held one is in whole.
        writer = Call(os.write, w, b"y" * 5000)
        self.assertTrue(writer.blocked())
        self.assertEqual(os.read(r, 65536), b"x" * 5000)
        self.assertEqual(writer.outcome(), 5000)
        self.assertEqual(revents(r, IN), IN)
        self.assertEqual(os.read(r, 65536), b"y" * 5000)
        self.assertEqual(revents(r, IN), 0)
        # A poll that waits wakes for a message.
        poller = Call(msgtest.poll_until, r, IN)
        os.write(w, b"z")
        self.assertEqual(poller.outcome(), IN)
        self.assertEqual(os.read(r, 10), b"z")
        self.close(w)
        self.assertEqual(revents(r, IN), IN | select.POLLHUP)
        self.assertEqual(os.read(r, 10), b"")

    def test_pollout_when_4096_bytes_fit(self):
        p = self.chan(capacity="8K")
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        OUT = select.POLLOUT
        self.assertEqual(revents(w, OUT), OUT)
        os.write(w, b"a" * 4097)
        self.assertEqual(revents(w, OUT), 0)
        poller = Call(msgtest.poll_until, w, OUT)
        self.assertEqual(os.read(r, 65536), b"a" * 4097)
        self.assertEqual(poller.outcome(), OUT)
        os.write(w, b"b" * 4096)
        self.assertEqual(revents(w, OUT), OUT)
        os.write(w, b"c")
        self.assertEqual(revents(w, OUT), 0)
        self.close(r)
        self.assertTrue(revents(w, OUT) & select.POLLERR)


class Tools(MessageCase):
    """What users read a message channel with gets whole messages."""

    def write_all(self, p, msgs):
        """Write msgs through an open of their own, in a thread that closes
        it when done; outcome() says how many went in."""
        w = self.open(p, os.O_WRONLY)
        self.fds.remove(w)

        def writer():
            try:
                return sum(os.write(w, m) == len(m) for m in msgs)
            finally:
                os.close(w)
        return Call(writer)

    def test_cat(self):
        p = self.chan()
        msgs = [b"first\n", b"x" * 40000 + b"\n", b"y" * (DEFAULT_CAP - 1)
                + b"\n", b"last\n"]
        writer = self.write_all(p, msgs)
        out = subprocess.run(["cat", p], capture_output=True,
                             timeout=GUARD)
        self.assertEqual(writer.outcome(), len(msgs))
        self.assertEqual((out.returncode, out.stderr), (0, b""))
        self.assertEqual(out.stdout, b"".join(msgs))
        self.assertEqual(figures(p)["messages_read"], len(msgs))

    def test_cat_of_the_largest_message(self):
        p = self.chan(capacity="1M")
        msgs = [msgtest.message(5, 0, BIGGEST), b"tail\n"]
        w = self.open(p, os.O_WRONLY)
        cat = self.spawn("cat", p, text=False)
        wait_for("readers", lambda: figures(p)["readers"], 1)
        for m in msgs:
            os.write(w, m)
        self.close(w)
        rc, out, err = self.finish(cat)
        self.assertEqual((rc, err), (0, b""))
        self.assertEqual(out, b"".join(msgs))

    def test_for_line_in_open(self):
        # Text mode reads in chunks of 8192 bytes whatever st_blksize
        # says (TextIOWrapper reads read1(8192), and BufferedReader reads
        # that straight from the file when it holds nothing), so lines up
        # to 8192 bytes there; binary mode reads st_blksize.
        p = self.chan()
        lines = [f"line {i}\n" for i in range(200)]
        lines[50] = "z" * 8191 + "\n"
        writer = self.write_all(p, [ln.encode() for ln in lines])
        with open(p) as f:
            got = [ln for ln in f]
        self.assertEqual(writer.outcome(), len(lines))
        self.assertEqual(got, lines)
        # Binary, up to the largest message: open() buffers st_blksize.
        blines = [b"a\n", b"b" * (DEFAULT_CAP - 1) + b"\n", b"c" * 30000
                  + b"\n", b"d\n"]
        writer = self.write_all(p, blines)
        with open(p, "rb") as f:
            got = [ln for ln in f]
        self.assertEqual(writer.outcome(), len(blines))
        self.assertEqual(got, blines)

    def test_os_read_65536(self):
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        msgs = [msgtest.message(6, i, n) for i, n in
                enumerate((1, 15, 16, 4096, 4097, 65535, 65536, 7))]
        writer = self.write_all(p, msgs)
        got = []
        while m := os.read(r, 65536):
            got.append(m)
        self.assertEqual(writer.outcome(), len(msgs))
        self.assertEqual(got, msgs)


class Stats(MessageCase):

    def test_figures_match_what_moved(self):
        p = self.chan()
        st = figures(p)
        self.assertEqual((st["framing"], st["delivery"], st["max_message"],
                          st["buffered_messages"], st["messages_written"],
                          st["messages_read"]),
                         ("messages", "queue", DEFAULT_CAP, 0, 0, 0))
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY)
        sizes = (10, 200, 3000, 1)
        for i, n in enumerate(sizes):
            os.write(w, msgtest.message(7, i, n))
        st = figures(p)
        self.assertEqual((st["readers"], st["writers"]), (1, 1))
        self.assertEqual((st["buffered_messages"], st["buffered_bytes"],
                          st["messages_written"], st["bytes_written"]),
                         (4, 3211, 4, 3211))
        self.assertEqual(self.errno_of(os.read, r, 5), "EMSGSIZE")
        self.assertEqual(len(os.read(r, 65536)), 10)
        self.assertEqual(len(os.read(r, 65536)), 200)
        st = figures(p)
        self.assertEqual((st["buffered_messages"], st["buffered_bytes"],
                          st["messages_read"], st["bytes_read"]),
                         (2, 3001, 2, 210))
        self.assertEqual(self.errno_of(os.write, w, b"q" * (DEFAULT_CAP + 1)),
                         "EMSGSIZE")
        os.read(r, 65536)
        os.read(r, 65536)
        st = figures(p)
        self.assertEqual((st["buffered_messages"], st["buffered_bytes"],
                          st["messages_written"], st["bytes_written"],
                          st["messages_read"], st["bytes_read"]),
                         (0, 0, 4, 3211, 4, 3211))


KILLABLE_WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
print("open", flush=True)
n = os.write(fd, bytes([int(sys.argv[2])]) * int(sys.argv[3]))
print("wrote", n, flush=True)
"""

INTERRUPTED_WRITER = """
import os, signal, sys
class Interrupted(Exception):
    pass
def handler(signum, frame):
    raise Interrupted
signal.signal(signal.SIGUSR1, handler)
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    n = os.write(fd, b"i" * int(sys.argv[2]))
    print("wrote", n, flush=True)
except Interrupted:
    print("interrupted", flush=True)
"""


class Held(MessageCase):
    """Message writes held for room, killed or interrupted: nothing of
    them goes in, and nobody is left in state D."""

    def assertNotStuck(self, pids):
        for pid in pids:
            state, wchan = task_state(pid)
            self.assertEqual(state, "S", f"process {pid} is in state "
                             f"{state} ({wchan}) while its write is held")

    def test_killed_held_write_leaves_nothing(self):
        p = self.chan(capacity="8K")
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"0" * 3000)
        writers = []
        for i in (1, 2, 3):
            proc = self.spawn(PY, "-c", KILLABLE_WRITER, p, str(ord("0") + i),
                              "6000")
            self.assertEqual(proc.stdout.readline(), "open\n")
            wait_asleep(proc.pid)
            writers.append(proc)
        wait_for("held_writes", lambda: figures(p)["held_writes"], 3)
        self.assertNotStuck(proc.pid for proc in writers)
        # Kill the first in line, whose write would go in next.
        writers[0].kill()
        rc, out, err = self.finish(writers[0])
        self.assertEqual(rc, -signal.SIGKILL)
        wait_for("held_writes", lambda: figures(p)["held_writes"], 2)
        self.assertNotStuck(proc.pid for proc in writers[1:])
        st = figures(p)
        self.assertEqual((st["buffered_bytes"], st["buffered_messages"],
                          st["messages_written"]), (3000, 1, 1))
        self.assertEqual(os.read(r, 65536), b"0" * 3000)
        self.assertEqual(os.read(r, 65536), b"2" * 6000)
        self.assertEqual(os.read(r, 65536), b"3" * 6000)
        for proc in writers[1:]:
            self.assertEqual(self.finish(proc), (0, "wrote 6000\n", ""))
        self.assertEqual(figures(p)["messages_written"], 3)
        self.assertEmpty(p, r)

    def test_killed_writer_of_a_large_message(self):
        # Bigger than one page and than PIPE_BUF, into a channel that has
        # some room: a stream would have taken part of it.
        p = self.chan(capacity="64K")
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"a" * 40000)
        proc = self.spawn(PY, "-c", KILLABLE_WRITER, p, str(ord("b")),
                          "60000")
        self.assertEqual(proc.stdout.readline(), "open\n")
        wait_asleep(proc.pid)
        wait_for("held_writes", lambda: figures(p)["held_writes"], 1)
        self.assertNotStuck([proc.pid])
        self.assertEqual(figures(p)["buffered_bytes"], 40000)
        proc.kill()
        self.assertEqual(self.finish(proc)[0], -signal.SIGKILL)
        wait_for("held_writes", lambda: figures(p)["held_writes"], 0)
        self.assertEqual(os.read(r, 65536), b"a" * 40000)
        self.assertEmpty(p, r)
        os.write(w, b"c" * 65536)
        self.assertEqual(os.read(r, 65536), b"c" * 65536)

    def test_signal_interrupts_held_write(self):
        p = self.chan(capacity="8K")
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"x" * 5000)
        proc = self.spawn(PY, "-c", INTERRUPTED_WRITER, p, "5000")
        wait_asleep(proc.pid)
        self.assertNotStuck([proc.pid])
        proc.send_signal(signal.SIGUSR1)
        self.assertEqual(self.finish(proc), (0, "interrupted\n", ""))
        st = figures(p)
        self.assertEqual((st["buffered_bytes"], st["buffered_messages"],
                          st["held_writes"]), (5000, 1, 0))
        self.assertEqual(os.read(r, 65536), b"x" * 5000)
        self.assertEmpty(p, r)


class FromC(MessageCase):
    """build/msgio: read(2), write(2), setxattr(2) and stdio from C."""

    def test_msgio(self):
        if not os.path.exists(MSGIO):
            self.fail(f"{MSGIO} is not built (make build/msgio)")
        # On a default channel, and on one of 1 MiB (from its directory),
        # whose largest message is 1020 KiB.
        d = self.mnt(f"msgio.{os.getpid()}")
        os.mkdir(d)
        self.addCleanup(os.rmdir, d)
        os.setxattr(d, CAPACITY, b"1M")
        for p in (self.mnt(f"msgio.{os.getpid()}.c"), os.path.join(d, "c")):
            self.addCleanup(lambda p=p: os.path.exists(p) and os.unlink(p))
            proc = self.spawn(MSGIO, p)
            rc, out, err = self.finish(proc)
            self.assertEqual((rc, err), (0, ""), out)
            self.assertNotIn("not ok", out)
            self.assertRegex(out, r"msgio: \d+ checks, all ok\n$")
        self.assertIn(f"not below max_message {BIGGEST}\n", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
