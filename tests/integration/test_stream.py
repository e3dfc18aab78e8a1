"""The stream rules of a channel, driven from Python with plain os.open,
os.read, os.write, poll, select, epoll, selectors and asyncio against a real
ipcfs mount.  Each test names the numbered rule of the issue it checks.

Nothing here measures time.  "X blocks" is checked by starting X in a
thread or child process, waiting until the kernel shows it asleep in a FUSE
request, checking it has not returned, and then releasing it; every wait is
bounded by a generous hang guard."""

import asyncio
import errno
import os
import select
import selectors
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

PY = "/usr/bin/python3"
GUARD = 10		# seconds; a hang guard, never a measurement
CAPACITY = 16384	# the mount's capacity=, small so filling is cheap
ATOMIC = 4096		# PIPE_BUF


HangGuard = ipcfs_test.HangGuard


def pattern(n, seed=0):
    """n bytes that show both order and loss."""
    return bytes((i * 7 + seed) % 251 for i in range(n))


def task_dir(tid):
    """The /proc directory of a thread of ours, or of a child process."""
    if os.path.isdir(f"/proc/self/task/{tid}"):
        return f"/proc/self/task/{tid}"
    return f"/proc/{tid}"


def task_state(tid):
    """The scheduler state and the wait channel of a thread or process."""
    d = task_dir(tid)
    try:
        with open(d + "/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(d + "/wchan") as f:
            wchan = f.read().strip()
    except OSError:
        return None, None
    return state, wchan


def in_fuse_request(tid, wchan):
    """True if the task waits for a FUSE answer, as its wait channel or,
    where that reads 0 (no kernel symbols), its kernel stack shows."""
    if "wait_answer" in wchan or "fuse" in wchan:
        return True
    try:
        with open(task_dir(tid) + "/stack") as f:
            return "fuse" in f.read()
    except OSError:
        if wchan in ("", "0"):
            raise AssertionError(f"cannot see where task {tid} sleeps: no "
                                 "wait channel and no kernel stack")
        return False


def wait_asleep(tid, in_fuse=True):
    """Wait until tid sleeps (in a FUSE request if in_fuse), or fail."""
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        state, wchan = task_state(tid)
        if state is None:
            raise AssertionError(f"task {tid} is gone")
        if state in ("S", "D") and \
                (not in_fuse or in_fuse_request(tid, wchan)):
            return
        time.sleep(0.01)
    raise AssertionError(f"task {tid} never blocked ({state}, {wchan})")


class Call(threading.Thread):
    """fn(*args) in a thread of its own; keeps the result or the error."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None
        self.start()

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:
            self.error = e

    def blocked(self):
        """Wait until the call sleeps in ipcfs; true if it has not ended."""
        wait_asleep(self.native_id)
        return self.is_alive()

    def outcome(self, why=""):
        """Wait for the call to end (or fail the test); its result."""
        self.join(GUARD)
        if self.is_alive():
            raise AssertionError(f"{self.fn.__name__}{self.args} hung" + why)
        if self.error is not None:
            raise self.error
        return self.result


class StreamCase(ipcfs_test.GuardedTestCase):
    """A mount with a small capacity, and helpers that always clean up."""

    options = ("-o", f"capacity={CAPACITY}")
    guard = GUARD * 2

    def chan(self):
        """A path for a channel no other test uses."""
        self.count += 1
        return self.mnt(f"{self._testMethodName}.{self.count}")

    def open(self, path, flags):
        fd = os.open(path, flags | os.O_CREAT, 0o600)
        self.fds.add(fd)
        return fd

    def sync(self):
        """Return once the daemon has handled every earlier request of ours
        (it handles them in order), such as the release after a close."""
        os.stat(self.mnt())

    # What fill() puts in an empty channel.
    filled = pattern(ATOMIC, 1) * (CAPACITY // ATOMIC)

    def fill(self, path):
        """Fill the channel through a non-blocking open; bytes written."""
        fd = self.open(path, os.O_WRONLY | os.O_NONBLOCK)
        data = pattern(ATOMIC, 1)
        total = 0
        while True:
            try:
                n = os.write(fd, data)
            except BlockingIOError:
                break
            self.assertEqual(n, ATOMIC)
            total += n
        self.close(fd)
        return total

    def read_exactly(self, fd, n):
        """Read n bytes, however short the reads are."""
        buf = b""
        while len(buf) < n:
            data = os.read(fd, n - len(buf))
            self.assertNotEqual(data, b"", "end of file too soon")
            buf += data
        return buf

    def read_to_eof(self, fd):
        buf = b""
        while data := os.read(fd, 65536):
            buf += data
        return buf

    def python(self, code, *args, **kw):
        """A child /usr/bin/python3 running code, with pipes to it."""
        p = subprocess.Popen([PY, "-c", code, *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
                             **kw)
        self.procs.append(p)
        return p

    def expect_line(self, p, want):
        line = p.stdout.readline().decode().strip()
        self.assertEqual(line, want)

    def revents(self, fd, events):
        """The events poll reports for fd now, limited to the usual four."""
        p = select.poll()
        p.register(fd, events)
        got = p.poll(0)
        mask = select.POLLIN | select.POLLOUT | select.POLLHUP | \
            select.POLLERR
        return got[0][1] & mask if got else 0


class OpenAndBuffer(StreamCase):

    def test_o_trunc_keeps_data_marks_times(self):
        """O_TRUNC is accepted and ignored, as on a FIFO: what is buffered
        stays; like any truncating open it updates mtime and ctime."""
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"kept")
        os.utime(p, ns=(10**9, 10**9))
        t = self.open(p, os.O_WRONLY | os.O_TRUNC)
        st = os.stat(p)
        self.assertGreater(st.st_mtime_ns, 10**9)
        self.assertGreater(st.st_ctime_ns, 10**9)
        os.write(t, b" too")
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(os.read(r, 100), b"kept too")

    def test_open_never_waits(self):
        """Rule 1: opens for reading, writing or both return at once,
        on a new channel and beside other opens."""
        for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
            Call(self.open, self.chan(), flags).outcome()
        p = self.chan()
        for flags in (os.O_RDONLY, os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
            Call(self.open, p, flags | os.O_NONBLOCK).outcome()
            Call(self.open, p, flags).outcome()

    def test_write_without_reader_then_read(self):
        """Rules 3 and 4: data written with no reader waits for one."""
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        self.assertEqual(os.write(w, b"hello "), 6)
        self.assertEqual(os.write(w, b"world"), 5)
        self.close(w)
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(self.read_to_eof(r), b"hello world")
        self.assertEqual(os.read(r, 10), b"")

    def test_order_and_short_reads(self):
        """Rules 2 and 4: one ordered stream; reads never exceed the ask
        and return what is there."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"abc")
        os.write(w, b"def")
        self.assertEqual(os.read(r, 2), b"ab")
        self.assertEqual(os.read(r, 100), b"cdef")
        data = pattern(3 * ATOMIC)
        for i in range(0, len(data), 1000):
            os.write(w, data[i:i + 1000])
        got = b""
        while len(got) < len(data):
            chunk = os.read(r, 777)
            self.assertTrue(0 < len(chunk) <= 777)
            got += chunk
        self.assertEqual(got, data)

    def test_each_byte_to_one_reader(self):
        """Rule 2: a byte read by one open is gone for every other."""
        p = self.chan()
        r1 = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        r2 = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"once")
        self.assertEqual(os.read(r1, 100), b"once")
        self.assertRaises(BlockingIOError, os.read, r2, 100)

    def test_waiting_readers_in_arrival_order(self):
        """Rule 2: waiting readers are served in the order they came."""
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        r1 = self.open(p, os.O_RDONLY)
        r2 = self.open(p, os.O_RDONLY)
        first = Call(os.read, r1, 100)
        self.assertTrue(first.blocked())
        second = Call(os.read, r2, 100)
        self.assertTrue(second.blocked())
        os.write(w, b"one")
        self.assertEqual(first.outcome(), b"one")
        self.assertTrue(second.blocked())
        os.write(w, b"two")
        self.assertEqual(second.outcome(), b"two")


class EndOfFile(StreamCase):

    def test_no_eof_before_a_writer(self):
        """Rule 4: an empty channel no writer has touched is not at end
        of file: a non-blocking read says EAGAIN."""
        r = self.open(self.chan(), os.O_RDONLY | os.O_NONBLOCK)
        self.assertRaises(BlockingIOError, os.read, r, 10)

    def test_eof_once_a_writer_came_and_went(self):
        """Rule 4: empty, no writer, and this open saw one: end of file.
        An open made after the writer left has seen none and waits."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        w = self.open(p, os.O_WRONLY)
        self.assertRaises(BlockingIOError, os.read, r, 10)
        self.close(w)
        self.assertEqual(os.read(r, 10), b"")
        late = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        self.assertRaises(BlockingIOError, os.read, late, 10)

    def test_eof_after_data(self):
        """Rule 4: an open that finds data has seen a writer."""
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"left behind")
        self.close(w)
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        self.assertEqual(os.read(r, 100), b"left behind")
        self.assertEqual(os.read(r, 100), b"")

    def test_reader_first_like_cat(self):
        """Rule 4: a reader started first waits for the writer, gets its
        data, then end of file (cat chan & echo hi > chan)."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        reader = Call(self.read_to_eof, r)
        self.assertTrue(reader.blocked())
        w = self.open(p, os.O_WRONLY | os.O_TRUNC)
        os.write(w, b"hi\n")
        self.close(w)
        self.assertEqual(reader.outcome(), b"hi\n")

    def test_last_writer_close_wakes_every_reader(self):
        """Rule 7: closing the last writer gives every blocked reader
        end of file; closing another writer does not."""
        p = self.chan()
        w1 = self.open(p, os.O_WRONLY)
        w2 = self.open(p, os.O_WRONLY)
        readers = [Call(os.read, self.open(p, os.O_RDONLY), 100)
                   for _ in range(3)]
        for r in readers:
            self.assertTrue(r.blocked())
        self.close(w1)
        self.sync()
        for r in readers:
            self.assertTrue(r.blocked(), "woken while a writer was left")
        self.close(w2)
        for r in readers:
            self.assertEqual(r.outcome(), b"")


class BrokenPipe(StreamCase):

    def test_epipe_rule(self):
        """Rule 5: EPIPE once a reader was seen and none is left; data
        written before any reader was seen is kept."""
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        self.assertEqual(os.write(w, b"early "), 6)
        r = self.open(p, os.O_RDONLY)
        self.close(r)
        self.assertRaises(BrokenPipeError, os.write, w, b"lost")
        try:
            os.write(w, b"lost")
        except OSError as e:
            self.assertEqual(e.errno, errno.EPIPE)
        # A writer that has never seen a reader buffers again.
        w2 = self.open(p, os.O_WRONLY)
        self.assertEqual(os.write(w2, b"late"), 4)
        self.close(w)
        self.close(w2)
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(self.read_to_eof(r), b"early late")

    def test_last_reader_close_wakes_every_writer(self):
        """Rule 7: closing the last reader fails every blocked writer
        with EPIPE; closing another reader does not."""
        p = self.chan()
        r1 = self.open(p, os.O_RDONLY)
        r2 = self.open(p, os.O_RDONLY)
        self.assertEqual(self.fill(p), CAPACITY)
        writers = [Call(os.write, self.open(p, os.O_WRONLY), data)
                   for data in (b"x", pattern(ATOMIC), b"z" * 100)]
        for w in writers:
            self.assertTrue(w.blocked())
        self.close(r1)
        self.sync()
        for w in writers:
            self.assertTrue(w.blocked(), "woken while a reader was left")
        self.close(r2)
        for w in writers:
            self.assertRaises(BrokenPipeError, w.outcome)


class WriteLimits(StreamCase):

    def test_nonblocking_write_to_full_channel(self):
        """Rule 3: with O_NONBLOCK a write that does not fit says EAGAIN;
        one of at most 4096 bytes never goes in partly; a bigger one may."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        self.assertEqual(self.fill(p), CAPACITY)
        w = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        self.assertRaises(BlockingIOError, os.write, w, b"x")
        self.assertEqual(self.read_exactly(r, 100), pattern(100, 1))
        self.assertRaises(BlockingIOError, os.write, w, pattern(ATOMIC, 2))
        big = pattern(2 * ATOMIC, 3)
        n = os.write(w, big)
        self.assertTrue(1 <= n <= 100, n)
        self.close(w)
        got = self.read_exactly(r, CAPACITY - 100 + n)
        self.assertEqual(got[-n:], big[:n])

    def test_nonblocking_set_by_fcntl(self):
        """Rules 3 and 4: O_NONBLOCK set after open counts too."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.set_blocking(r, False)
        self.assertRaises(BlockingIOError, os.read, r, 10)
        self.fill(p)
        os.set_blocking(w, False)
        self.assertRaises(BlockingIOError, os.write, w, b"x")

    def test_blocking_write_waits_for_room(self):
        """Rule 3: a blocking write that does not fit waits, and returns
        its whole count once a reader made room for all of it."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        self.assertEqual(self.fill(p), CAPACITY)
        data = pattern(10000, 5)
        writer = Call(os.write, w, data)
        self.assertTrue(writer.blocked())
        got = self.read_exactly(r, CAPACITY + len(data))
        self.assertEqual(writer.outcome(), len(data))
        self.assertEqual(got[CAPACITY:], data)
        self.assertEqual(got[:ATOMIC], pattern(ATOMIC, 1))

    def test_nonblocking_read_of_empty_channel(self):
        """Rule 4: with O_NONBLOCK and a writer present: EAGAIN."""
        p = self.chan()
        self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        with self.assertRaises(OSError) as cm:
            os.read(r, 10)
        self.assertEqual(cm.exception.errno, errno.EAGAIN)


class ReadWrite(StreamCase):

    def test_rdwr_counts_as_reader_and_writer(self):
        """Rule 6: an O_RDWR open is both a reader and a writer."""
        p = self.chan()
        rw = self.open(p, os.O_RDWR)
        self.assertEqual(os.write(rw, b"self"), 4)
        self.assertEqual(os.read(rw, 100), b"self")
        # It is a writer, so reading the empty channel is not end of file.
        os.set_blocking(rw, False)
        self.assertRaises(BlockingIOError, os.read, rw, 10)
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        self.assertRaises(BlockingIOError, os.read, r, 10)
        # It is a reader, so a writer that saw it gets EPIPE once it goes.
        w = self.open(p, os.O_WRONLY)
        self.close(r)
        self.assertEqual(os.write(w, b"kept"), 4)
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        self.close(w)
        self.close(rw)
        self.assertEqual(os.read(r, 100), b"kept")
        self.assertEqual(os.read(r, 100), b"")
        w = self.open(p, os.O_WRONLY)
        rw = self.open(p, os.O_RDWR)
        self.close(r)
        self.assertEqual(os.write(w, b"ok"), 2)
        self.close(rw)
        self.assertRaises(BrokenPipeError, os.write, w, b"gone")

    def test_offsets_do_not_matter(self):
        """Rule 10: seeking is refused or ignored; the stream goes on."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        os.write(w, b"abc")
        for fd in (r, w):
            try:
                os.lseek(fd, 1000, os.SEEK_SET)
            except OSError as e:
                self.assertEqual(e.errno, errno.ESPIPE)
        os.write(w, b"def")
        self.assertEqual(os.read(r, 2), b"ab")
        try:
            os.lseek(r, 0, os.SEEK_SET)
        except OSError as e:
            self.assertEqual(e.errno, errno.ESPIPE)
        want = b"cdef"
        try:
            self.assertEqual(os.pwrite(w, b"ghi", 5000), 3)
            want += b"ghi"
        except OSError as e:
            self.assertEqual(e.errno, errno.ESPIPE)
        try:
            got = os.pread(r, 100, 7000)
        except OSError as e:
            self.assertEqual(e.errno, errno.ESPIPE)
            got = os.read(r, 100)
        self.assertEqual(got, want)


class SharedDescriptor(StreamCase):
    """A descriptor shared by threads or with a child.  With region=off
    channel files are streams (FOPEN_STREAM), so no file-position lock is
    taken; the mmap modes need seekable files, and there separate opens
    are the documented remedy (docs/regions.md)."""

    options = StreamCase.options + ("-o", "region=off")

    @staticmethod
    def position_lock(path, fd):
        """Why a write on fd may hang behind a blocked read: a seekable
        file (no FOPEN_STREAM) takes the kernel's file-position lock."""
        try:
            os.lseek(fd, 0, os.SEEK_CUR)
        except OSError:
            return " (the file is not seekable, so not the position lock)"
        try:
            mode = os.getxattr(path, "user.ipcfs.region").decode()
        except OSError:
            mode = "?"
        return (" behind the file-position lock: the channel file is "
                f"seekable (no FOPEN_STREAM; region mode {mode})")

    def test_two_threads_one_rdwr_descriptor(self):
        """Rules 6 and 10: one thread blocked reading an O_RDWR descriptor
        does not stop another thread writing through the same one (no
        file-position lock: channel files are streams)."""
        p = self.chan()
        rw = self.open(p, os.O_RDWR)
        why = self.position_lock(p, rw)
        reader = Call(os.read, rw, 100)
        self.assertTrue(reader.blocked())
        self.assertEqual(Call(os.write, rw, b"ping").outcome(why), 4)
        self.assertEqual(reader.outcome(), b"ping")

    def test_child_shares_rdwr_descriptor(self):
        """Rule 6: a child blocked reading an inherited descriptor does not
        stop the parent writing through it."""
        p = self.chan()
        rw = self.open(p, os.O_RDWR)
        why = self.position_lock(p, rw)
        child = self.python("import os, sys\n"
                            "print(os.read(int(sys.argv[1]), 100).decode(),"
                            " flush=True)\n", str(rw), pass_fds=(rw,))
        wait_asleep(child.pid)
        self.assertEqual(Call(os.write, rw, b"shared").outcome(why), 6)
        self.expect_line(child, "shared")
        self.assertEqual(child.wait(GUARD), 0)



class SeparateOpensPassthrough(StreamCase):
    """Passthrough mode: each thread with its own open of the channel is
    never stalled by another thread's blocked read."""

    options = StreamCase.options + ("-o", "region=passthrough")


class SeparateOpensPagecache(SeparateOpensPassthrough):

    options = StreamCase.options + ("-o", "region=pagecache")

    def test_two_threads_own_opens(self):
        p = self.chan()
        r = self.open(p, os.O_RDWR)
        w = self.open(p, os.O_RDWR)
        reader = Call(os.read, r, 100)
        self.assertTrue(reader.blocked())
        self.assertEqual(Call(os.write, w, b"ping").outcome(), 4)
        self.assertEqual(reader.outcome(), b"ping")


class Polling(StreamCase):

    def test_poll_reader(self):
        """Rule 9: POLLIN with data, nothing when idle,
        POLLIN|POLLHUP at end of file.  (That a poll sleeps on an idle
        channel, test_poll_wakes_on_write sees.)"""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        poller = select.poll()
        poller.register(r, select.POLLIN)
        self.assertEqual(poller.poll(0), [])
        os.write(w, b"x")
        self.assertEqual(self.revents(r, select.POLLIN), select.POLLIN)
        self.assertEqual(os.read(r, 10), b"x")
        self.assertEqual(poller.poll(0), [])
        self.close(w)
        self.assertEqual(self.revents(r, select.POLLIN),
                         select.POLLIN | select.POLLHUP)

    def test_poll_before_any_writer(self):
        """Rule 9: a reader that has seen no writer is not at end of file,
        so it is not readable."""
        r = self.open(self.chan(), os.O_RDONLY)
        self.assertEqual(self.revents(r, select.POLLIN), 0)

    def test_poll_writer(self):
        """Rule 9: POLLOUT only while 4096 bytes would fit; POLLERR under
        the EPIPE rule."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        self.assertEqual(self.revents(w, select.POLLOUT), select.POLLOUT)
        self.fill(p)
        self.assertEqual(self.revents(w, select.POLLOUT), 0)
        self.read_exactly(r, 100)
        self.assertEqual(self.revents(w, select.POLLOUT), 0)
        self.read_exactly(r, ATOMIC - 100)
        self.assertEqual(self.revents(w, select.POLLOUT), select.POLLOUT)
        self.close(r)
        self.assertTrue(self.revents(w, select.POLLOUT) & select.POLLERR)

    def test_poll_wakes_on_write(self):
        """Rule 9: a poll asleep on an empty channel wakes when data
        comes."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        poller = select.poll()
        poller.register(r, select.POLLIN)
        waiting = Call(poller.poll, GUARD * 1000)
        wait_asleep(waiting.native_id, in_fuse=False)
        os.write(w, b"wake")
        self.assertEqual(waiting.outcome(), [(r, select.POLLIN)])

    def test_poll_wakes_on_room(self):
        """Rule 9: a writer polling a full channel wakes when a reader
        makes room."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        self.fill(p)
        poller = select.poll()
        poller.register(w, select.POLLOUT)
        waiting = Call(poller.poll, GUARD * 1000)
        wait_asleep(waiting.native_id, in_fuse=False)
        self.read_exactly(r, CAPACITY)
        self.assertEqual(waiting.outcome(), [(w, select.POLLOUT)])

    def test_select(self):
        """Rule 9: select() sees the same readiness."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        self.assertEqual(select.select([r], [], [], 0), ([], [], []))
        self.assertEqual(select.select([r], [w], [], 0), ([], [w], []))
        os.write(w, b"x")
        self.assertEqual(select.select([r], [], [], GUARD), ([r], [], []))
        self.fill(p)
        self.assertEqual(select.select([], [w], [], 0), ([], [], []))

    def test_epoll(self):
        """Rule 9: epoll reports, and sleeps, like poll."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        with select.epoll() as ep:
            ep.register(r, select.EPOLLIN)
            self.assertEqual(ep.poll(0), [])
            writer = self.python("import os, sys\n"
                                 "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
                                 "os.write(fd, b'from a child')\n", p)
            self.assertEqual(ep.poll(GUARD), [(r, select.EPOLLIN)])
            self.assertEqual(writer.wait(GUARD), 0)
            self.assertEqual(os.read(r, 100), b"from a child")
            self.assertEqual(ep.poll(0), [])
            self.close(w)
            self.assertEqual(ep.poll(GUARD),
                             [(r, select.EPOLLIN | select.EPOLLHUP)])
        with select.epoll() as ep:
            w = self.open(p, os.O_WRONLY)
            ep.register(w, select.EPOLLOUT)
            self.assertEqual(ep.poll(GUARD), [(w, select.EPOLLOUT)])

    def test_selector_wakes_on_other_process(self):
        """Rule 9: selectors.DefaultSelector sleeps on an idle channel and
        wakes when another process writes."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        with selectors.DefaultSelector() as sel:
            sel.register(r, selectors.EVENT_READ)
            self.assertEqual(sel.select(0), [])
            writer = self.python("import os, sys\n"
                                 "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
                                 "os.write(fd, b'hello')\n"
                                 "sys.stdin.read()\n", p)
            events = sel.select(GUARD)
            self.assertEqual([(key.fd, ev) for key, ev in events],
                             [(r, selectors.EVENT_READ)])
            self.assertEqual(os.read(r, 100), b"hello")
            self.assertEqual(sel.select(0), [])
            writer.stdin.close()
            self.assertEqual(writer.wait(GUARD), 0)
            events = sel.select(GUARD)
            self.assertEqual(len(events), 1)
            self.assertEqual(os.read(r, 100), b"")

    def test_asyncio_add_reader(self):
        """Rule 9: asyncio's add_reader calls back when another process
        writes, not while the channel is idle, and at end of file."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        chunks = []

        async def turns():
            """Let the loop look at its descriptors a few times: each
            turn polls them, so a readiness there would call back."""
            for _ in range(20):
                await asyncio.sleep(0)

        async def main():
            loop = asyncio.get_running_loop()
            eof = loop.create_future()
            data = asyncio.Event()

            def readable():
                chunk = os.read(r, 100)
                chunks.append(chunk)
                data.set()
                if chunk == b"":
                    loop.remove_reader(r)
                    eof.set_result(True)

            loop.add_reader(r, readable)
            await turns()
            self.assertEqual(chunks, [], "called back on an idle channel")
            writer = self.python("import os, sys\n"
                                 "fd = os.open(sys.argv[1], os.O_WRONLY)\n"
                                 "os.write(fd, b'async hello')\n"
                                 "sys.stdin.read()\n", p)
            await asyncio.wait_for(data.wait(), GUARD)
            self.assertEqual(chunks, [b"async hello"])
            # Drained, with the writer still there: no more callbacks.
            await turns()
            self.assertEqual(chunks, [b"async hello"])
            writer.stdin.close()
            await asyncio.wait_for(eof, GUARD)
            self.assertEqual(chunks, [b"async hello", b""])
            self.assertEqual(writer.wait(GUARD), 0)

        asyncio.run(main())


# A child that opens argv[1], says "ready", and blocks in os.read or
# os.write.  SIGUSR1 runs a handler that says "handler" and, when argv[2]
# is "raise", raises.
SIGNAL_CHILD = r"""
import os, signal, sys

class Interrupted(Exception):
    pass

def handler(signum, frame):
    os.write(1, b"handler\n")
    if sys.argv[2] == "raise":
        raise Interrupted

signal.signal(signal.SIGUSR1, handler)
op = sys.argv[3]
fd = os.open(sys.argv[1], os.O_RDONLY if op == "read" else os.O_WRONLY)
print("ready", flush=True)
try:
    if op == "read":
        print("read", os.read(fd, 100).decode(), flush=True)
    else:
        print("wrote", os.write(fd, b"w" * int(op[5:])), flush=True)
except Interrupted:
    print("interrupted", flush=True)
"""


class Signals(StreamCase):

    def child(self, path, handler, op):
        p = self.python(SIGNAL_CHILD, path, handler, op)
        self.expect_line(p, "ready")
        wait_asleep(p.pid)
        self.assertIsNone(p.poll())
        return p

    def test_sigkill_ends_blocked_read(self):
        """Rule 8: SIGKILL ends a read blocked in ipcfs at once."""
        p = self.chan()
        self.open(p, os.O_WRONLY)
        child = self.child(p, "return", "read")
        child.kill()
        self.assertEqual(child.wait(GUARD), -signal.SIGKILL)

    def test_sigkill_ends_blocked_write(self):
        """Rule 8: SIGKILL ends a write blocked in ipcfs at once."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        self.fill(p)
        child = self.child(p, "return", "write100")
        child.kill()
        self.assertEqual(child.wait(GUARD), -signal.SIGKILL)
        # Nothing of the killed write went in.
        self.assertEqual(self.read_to_eof(r), self.filled)

    def test_handler_that_returns_restarts_read(self):
        """Rule 8 and PEP 475: the read is interrupted, the handler runs,
        and Python retries the read, which then gets the data."""
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        child = self.child(p, "return", "read")
        child.send_signal(signal.SIGUSR1)
        self.expect_line(child, "handler")
        wait_asleep(child.pid)
        self.assertIsNone(child.poll())
        os.write(w, b"after")
        self.expect_line(child, "read after")
        self.assertEqual(child.wait(GUARD), 0)

    def test_handler_that_raises_ends_read(self):
        """Rule 8 and PEP 475: a handler that raises ends the read."""
        p = self.chan()
        w = self.open(p, os.O_WRONLY)
        r = self.open(p, os.O_RDONLY | os.O_NONBLOCK)
        child = self.child(p, "raise", "read")
        child.send_signal(signal.SIGUSR1)
        self.expect_line(child, "handler")
        self.expect_line(child, "interrupted")
        self.assertEqual(child.wait(GUARD), 0)
        # The interrupted read is no longer waiting: it takes nothing.
        os.write(w, b"intact")
        self.assertEqual(os.read(r, 100), b"intact")

    def test_handler_that_raises_ends_write(self):
        """Rule 8: an interrupted write of at most 4096 bytes puts nothing
        in the channel."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        self.fill(p)
        child = self.child(p, "raise", "write4096")
        child.send_signal(signal.SIGUSR1)
        self.expect_line(child, "handler")
        self.expect_line(child, "interrupted")
        self.assertEqual(child.wait(GUARD), 0)
        self.assertEqual(self.read_to_eof(r), self.filled)

    def test_interrupted_big_write_is_partial(self):
        """Rule 8: a big write interrupted after some of it went in
        returns that count (so PEP 475 has nothing to retry)."""
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        size = 3 * CAPACITY
        child = self.child(p, "return", f"write{size}")
        child.send_signal(signal.SIGUSR1)
        self.expect_line(child, "handler")
        line = child.stdout.readline().decode().split()
        self.assertEqual(line[0], "wrote", line)
        n = int(line[1])
        self.assertTrue(0 < n < size, n)
        self.assertEqual(child.wait(GUARD), 0)
        self.assertEqual(self.read_to_eof(r), b"w" * n)


if __name__ == "__main__":
    unittest.main(verbosity=2)
