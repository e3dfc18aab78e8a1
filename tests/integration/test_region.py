"""The region of a channel (issue 3): what an mmap of a channel file maps.

Every numbered rule of the issue, in both region modes: one test class per
mode, each with a mount of its own.  Mappings in other processes are held
by build/regionio, driven line by line (see regionio.c), so a test can
store through one process's mapping and load through another's with no
msync in between, and can watch a process die of SIGBUS.
"""

import errno
import mmap
import os
import select
import signal
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcfs_test import TOP, Mount, MountedTestCase  # noqa: E402

import numpy  # noqa: E402

REGIONIO = os.environ.get("REGIONIO", os.path.join(TOP, "build", "regionio"))
PAGE = mmap.PAGESIZE
HANG = 30       # seconds; only ever a guard against hanging, never a measure


def daemon_bug(why):
    """Mark a test the daemon fails today, for the reason given.  Remove
    the mark with the fix: an unexpected success fails the run."""
    def mark(test):
        test.daemon_bug = why
        return unittest.expectedFailure(test)
    return mark


class Mapper:
    """A regionio process holding one mapping of a channel."""

    def __init__(self, test, path, access="rw", length=0):
        self.proc = subprocess.Popen([REGIONIO, "serve", path],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        test.addCleanup(self.kill)
        if access is not None:
            self.ok("open " + access)
            if length is not None:
                self.ok(f"map {length}")

    def cmd(self, line):
        """regionio's answer to line, or None if it died first."""
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG)
        if not ready:
            self.kill()
            raise AssertionError(f"regionio hung on {line!r}")
        answer = self.proc.stdout.readline()
        return answer.rstrip("\n") if answer else None

    def ok(self, line):
        answer = self.cmd(line)
        if answer is None:
            rc = self.proc.wait(timeout=HANG)
            how = (signal.Signals(-rc).name if rc < 0 else f"exit {rc}")
            raise AssertionError(f"regionio {line!r}: died ({how})")
        if not (answer == "ok" or answer.startswith("ok ")):
            raise AssertionError(f"regionio {line!r}: {answer!r}")
        return answer[3:]

    def get(self, off, length):
        return bytes.fromhex(self.ok(f"get {off} {length}"))

    def put(self, off, text):
        self.ok(f"put {off} {text}")

    def count(self, off, length, byte):
        return int(self.ok(f"count {off} {length} {byte}"))

    def dies_of(self, line):
        """Run line, which must kill regionio; the signal that did."""
        answer = self.cmd(line)
        if answer is not None:
            raise AssertionError(f"regionio {line!r} answered {answer!r}")
        rc = self.proc.wait(timeout=HANG)
        return -rc if rc < 0 else None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class RegionRules:
    """The rules; mixed into one MountedTestCase per region mode."""

    mode = None
    serial = 0

    # Helpers.

    def chan(self, size=None):
        """A new channel, sized if size is given; its path."""
        RegionRules.serial += 1
        path = self.mnt(f"{self._testMethodName}.{RegionRules.serial}")
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))
        if size is not None:
            os.truncate(path, size)
        return path

    def pymap(self, path, access=mmap.ACCESS_WRITE):
        """A mapping of the whole region in this process."""
        flags = os.O_RDONLY if access == mmap.ACCESS_READ else os.O_RDWR
        fd = os.open(path, flags)
        try:
            m = mmap.mmap(fd, 0, access=access)
        finally:
            os.close(fd)
        self.addCleanup(m.close)
        return m

    def fill(self, path, byte, off=0, length=None):
        """Store byte over [off, off + length) through a passing mapping."""
        fd = os.open(path, os.O_RDWR)
        try:
            with mmap.mmap(fd, 0) as m:
                end = len(m) if length is None else off + length
                m[off:end] = bytes([byte]) * (end - off)
        finally:
            os.close(fd)

    def contents(self, path):
        """The whole region, loaded by a fresh regionio."""
        size = os.stat(path).st_size
        if size == 0:
            return b""
        m = Mapper(self, path, "ro")
        data = m.get(0, size)
        m.kill()
        return data

    def own_mount(self, *extra):
        """A mount of this test's own in this mode; closed at cleanup."""
        opts = ",".join((f"region={self.mode}",) + extra)
        m = Mount("-o", opts)
        self.addCleanup(m.close)
        return m

    # The mode.

    def test_mode_is_visible(self):
        for path in (self.mnt.path, self.chan()):
            self.assertEqual(os.getxattr(path, "user.ipcfs.region"),
                             self.mode.encode())
            self.assertIn("user.ipcfs.region", os.listxattr(path))
        self.assertIn(f"region mode {self.mode}", self.mnt.daemon_log())

    # Rule 1: the size.

    def test_new_channel_has_empty_region(self):
        path = self.chan()
        self.assertEqual(os.stat(path).st_size, 0)

    def test_ftruncate_sets_size(self):
        path = self.chan()
        fd = os.open(path, os.O_RDWR)
        try:
            os.ftruncate(fd, 12345)
            self.assertEqual(os.fstat(fd).st_size, 12345)
        finally:
            os.close(fd)
        self.assertEqual(os.stat(path).st_size, 12345)
        ls = subprocess.run(["ls", "-l", path], capture_output=True,
                            text=True, check=True).stdout
        self.assertEqual(ls.split()[4], "12345")

    def test_truncate_sets_size(self):
        path = self.chan()
        os.truncate(path, 3 * PAGE + 5)
        self.assertEqual(os.stat(path).st_size, 3 * PAGE + 5)
        os.truncate(path, 7)
        self.assertEqual(os.stat(path).st_size, 7)

    def test_truncate_command_sets_size(self):
        path = self.chan()
        for arg, size in (("4M", 4 << 20), ("1K", 1024), ("+1K", 2048),
                          ("0", 0)):
            subprocess.run(["truncate", "-s", arg, path], check=True)
            self.assertEqual(os.stat(path).st_size, size, arg)

    def test_grow_adds_zeros(self):
        path = self.chan(PAGE)
        self.fill(path, 0xAB)
        os.truncate(path, 3 * PAGE + 10)
        data = self.contents(path)
        self.assertEqual(data[:PAGE], b"\xab" * PAGE)
        self.assertEqual(data[PAGE:], bytes(2 * PAGE + 10))

    def test_grow_from_partial_page_adds_zeros(self):
        # The mapping of a 100-byte region covers a whole page, and stores
        # past byte 100 are allowed but are not the file's: growing the
        # region must still show zeros there.
        path = self.chan(100)
        m = Mapper(self, path, "rw", PAGE)
        m.ok(f"fill 0 {PAGE} 204")
        os.truncate(path, 2 * PAGE)
        self.assertEqual(m.count(0, 100, 204), 100)
        self.assertEqual(m.count(100, PAGE - 100, 0), PAGE - 100)
        data = self.contents(path)
        self.assertEqual(data, b"\xcc" * 100 + bytes(2 * PAGE - 100))

    def test_shrink_drops_tail(self):
        path = self.chan(3 * PAGE)
        self.fill(path, 0x5A)
        os.truncate(path, PAGE + 10)
        self.assertEqual(os.stat(path).st_size, PAGE + 10)
        self.assertEqual(self.contents(path), b"\x5a" * (PAGE + 10))
        os.truncate(path, 3 * PAGE)
        data = self.contents(path)
        self.assertEqual(data[:PAGE + 10], b"\x5a" * (PAGE + 10))
        self.assertEqual(data[PAGE + 10:], bytes(2 * PAGE - 10))

    def test_o_trunc_keeps_region(self):
        path = self.chan(2 * PAGE)
        self.fill(path, 0x11)
        os.close(os.open(path, os.O_WRONLY | os.O_TRUNC))
        self.assertEqual(os.stat(path).st_size, 2 * PAGE)
        self.assertEqual(self.contents(path), b"\x11" * (2 * PAGE))
        # The shell's '>' is an O_TRUNC open.
        subprocess.run(["sh", "-c", ': > "$1"', "sh", path], check=True)
        self.assertEqual(os.stat(path).st_size, 2 * PAGE)
        self.assertEqual(self.contents(path), b"\x11" * (2 * PAGE))

    def test_o_trunc_keeps_region_while_mapped(self):
        path = self.chan(2 * PAGE)
        m = Mapper(self, path)
        m.put(PAGE + 3, "kept")
        os.close(os.open(path, os.O_RDWR | os.O_TRUNC))
        self.assertEqual(m.get(PAGE + 3, 4), b"kept")
        self.assertEqual(os.stat(path).st_size, 2 * PAGE)
        self.assertEqual(self.contents(path)[PAGE + 3:PAGE + 7], b"kept")

    def test_write_never_sizes_region(self):
        path = self.chan()
        fd = os.open(path, os.O_RDWR)
        try:
            self.assertEqual(os.write(fd, b"s" * 1000), 1000)
            self.assertEqual(os.fstat(fd).st_size, 0)
            self.assertEqual(os.stat(path).st_size, 0)
            os.ftruncate(fd, 10)
            self.assertEqual(os.write(fd, b"t" * 3000), 3000)
            self.assertEqual(os.stat(path).st_size, 10)
            self.assertEqual(os.read(fd, 5000), b"s" * 1000 + b"t" * 3000)
            self.assertEqual(os.stat(path).st_size, 10)
        finally:
            os.close(fd)

    def test_write_does_not_move_end_of_mapping(self):
        # However much goes through the stream, a load past the end of the
        # region still raises SIGBUS.
        path = self.chan(PAGE)
        m = Mapper(self, path, "rw", 4 * PAGE)
        fd = os.open(path, os.O_RDWR)
        try:
            for _ in range(2):
                self.assertEqual(os.write(fd, b"w" * (3 * PAGE)), 3 * PAGE)
                self.assertEqual(os.read(fd, 3 * PAGE), b"w" * (3 * PAGE))
        finally:
            os.close(fd)
        self.assertEqual(m.dies_of(f"get {2 * PAGE} 1"), signal.SIGBUS)

    # Rule 2: the stream and the region never touch.

    def test_read_never_returns_region(self):
        path = self.chan(PAGE)
        self.fill(path, ord("R"))
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        try:
            with self.assertRaises(BlockingIOError):
                os.read(fd, 100)
            os.write(fd, b"stream")
            self.assertEqual(os.read(fd, 100), b"stream")
            with self.assertRaises(BlockingIOError):
                os.read(fd, 100)
        finally:
            os.close(fd)
        self.assertEqual(self.contents(path), b"R" * PAGE)

    def test_mapping_never_consumes_stream(self):
        path = self.chan(2 * PAGE)
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(fd, b"hello")
            # A fresh process maps, loads every page and stores.
            m = Mapper(self, path)
            self.assertEqual(m.count(0, 2 * PAGE, 0), 2 * PAGE)
            m.ok(f"fill 0 {2 * PAGE} 77")
            m.kill()
            self.assertEqual(os.read(fd, 100), b"hello")
            with self.assertRaises(BlockingIOError):
                os.read(fd, 100)
        finally:
            os.close(fd)
        self.assertEqual(self.contents(path), b"M" * (2 * PAGE))

    def test_stream_never_changes_region(self):
        path = self.chan(2 * PAGE)
        self.fill(path, ord("A"))
        m = Mapper(self, path, "ro")
        fd = os.open(path, os.O_RDWR)
        try:
            os.write(fd, b"B" * 5000)
            self.assertEqual(m.count(0, 2 * PAGE, ord("A")), 2 * PAGE)
            self.assertEqual(os.read(fd, 5000), b"B" * 5000)
        finally:
            os.close(fd)
        self.assertEqual(self.contents(path), b"A" * (2 * PAGE))

    # Rule 3: coherence, with no msync anywhere.

    def test_c_to_c(self):
        path = self.chan(2 * PAGE)
        a = Mapper(self, path)
        a.put(0, "from-a")
        b = Mapper(self, path)
        self.assertEqual(b.get(0, 6), b"from-a")
        b.put(PAGE + 7, "from-b")
        self.assertEqual(a.get(PAGE + 7, 6), b"from-b")
        # Another open and close in between changes nothing.
        os.close(os.open(path, os.O_RDWR))
        self.assertEqual(b.get(0, 6), b"from-a")
        for i in range(50):
            text = f"n{i:03d}"
            (a if i % 2 else b).put(100 + i, text)
            self.assertEqual((b if i % 2 else a).get(100 + i, 4),
                             text.encode())

    def test_c_to_python_mmap(self):
        path = self.chan(2 * PAGE)
        m = self.pymap(path)
        c = Mapper(self, path)
        c.put(10, "from-c")
        self.assertEqual(m[10:16], b"from-c")
        m[PAGE:PAGE + 7] = b"from-py"
        self.assertEqual(c.get(PAGE, 7), b"from-py")
        c.put(PAGE + 2, "C")
        self.assertEqual(m[PAGE:PAGE + 7], b"frCm-py")

    def test_c_to_python_memmap(self):
        n = 3 * PAGE // 4
        path = self.chan(4 * n)
        arr = numpy.memmap(path, dtype=numpy.float32, mode="r+", shape=(n,))
        self.addCleanup(lambda: arr._mmap.close())
        c = Mapper(self, path)
        c.ok(f"fill 0 {4 * n} 64")
        want = numpy.frombuffer(b"\x40" * 4, dtype=numpy.float32)[0]
        self.assertTrue((arr == want).all())
        arr[:] = 2.5
        self.assertEqual(c.get(0, 4 * n), struct.pack("<f", 2.5) * n)
        arr[n // 2:] += 1.0
        self.assertEqual(c.get(4 * (n // 2), 4), struct.pack("<f", 3.5))

    def test_read_only_mappings(self):
        path = self.chan(2 * PAGE)
        writer = self.pymap(path)
        ro = Mapper(self, path, "ro")
        pyro = self.pymap(path, mmap.ACCESS_READ)
        writer[0:5] = b"first"
        self.assertEqual(ro.get(0, 5), b"first")
        self.assertEqual(pyro[0:5], b"first")
        c = Mapper(self, path)
        c.put(PAGE + 1, "second")
        self.assertEqual(ro.get(PAGE + 1, 6), b"second")
        self.assertEqual(pyro[PAGE + 1:PAGE + 7], b"second")
        self.assertEqual(writer[PAGE + 1:PAGE + 7], b"second")

    # Rule 4: lifetime.

    def test_reopen_after_every_close(self):
        path = self.chan(2 * PAGE)
        prev = bytes(8)
        for i in range(6):
            word = f"round{i:03d}".encode()
            if i % 2:
                m = Mapper(self, path)
                self.assertEqual(m.get(PAGE - 4, 8), prev)
                m.put(PAGE - 4, word.decode())
                m.ok("unmap")
                m.ok("close")
                m.kill()
            else:
                fd = os.open(path, os.O_RDWR)
                with mmap.mmap(fd, 0) as pm:
                    self.assertEqual(pm[PAGE - 4:PAGE + 4], prev)
                    pm[PAGE - 4:PAGE + 4] = word
                os.close(fd)
            # Nothing has the channel open or mapped here.
            self.assertEqual(os.stat(path).st_size, 2 * PAGE)
            prev = word
        self.assertEqual(self.contents(path)[PAGE - 4:PAGE + 4], prev)

    def test_store_after_close_survives(self):
        # The descriptor is closed first and the mapping goes later: the
        # stores made in between are kept too.
        path = self.chan(PAGE)
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 0)
        os.close(fd)
        m[0:4] = b"late"
        m.close()
        self.assertEqual(self.contents(path)[:4], b"late")
        c = Mapper(self, path)
        c.ok("close")
        c.put(8, "later")
        c.kill()
        self.assertEqual(self.contents(path)[:13], b"late\0\0\0\0later")

    def test_unlink_while_mapped(self):
        path = self.chan(2 * PAGE)
        a = Mapper(self, path)
        b = Mapper(self, path, "ro")
        a.put(0, "before")
        os.unlink(path)
        self.assertFalse(os.path.exists(path))
        self.assertEqual(b.get(0, 6), b"before")
        a.put(PAGE, "after")
        self.assertEqual(b.get(PAGE, 5), b"after")
        a.ok("close")
        b.ok("close")
        a.put(PAGE + 5, "-closed")
        self.assertEqual(b.get(PAGE, 12), b"after-closed")
        # The name is free for a new channel with a region of its own.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))
        self.assertEqual(os.stat(path).st_size, 0)
        os.truncate(path, PAGE)
        self.assertEqual(self.contents(path), bytes(PAGE))
        self.assertEqual(a.get(0, 6), b"before")

    def test_unlinked_region_is_freed(self):
        mnt = self.own_mount("max_memory=1M")
        first, second = mnt("first"), mnt("second")
        os.close(os.open(first, os.O_RDWR | os.O_CREAT, 0o666))
        os.truncate(first, 768 << 10)
        a = Mapper(self, first)
        a.ok(f"fill 0 {768 << 10} 1")
        os.unlink(first)
        os.close(os.open(second, os.O_RDWR | os.O_CREAT, 0o666))
        with self.assertRaises(OSError) as cm:
            os.truncate(second, 768 << 10)
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertEqual(a.count(0, 768 << 10, 1), 768 << 10)
        a.kill()
        # The kernel forgets the unlinked channel on its own time; retry
        # until it has, with a bound only as a guard against hanging.
        deadline = time.monotonic() + HANG
        while True:
            try:
                os.truncate(second, 768 << 10)
                break
            except OSError as e:
                if e.errno != errno.ENOSPC or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.assertEqual(self.contents(second), bytes(768 << 10))

    def test_mapping_survives_daemon_kill(self):
        mnt = self.own_mount()
        path = mnt("survivor")
        size = 1024 * PAGE
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
        os.truncate(path, size)
        a = Mapper(self, path)
        b = Mapper(self, path, "ro")
        a.put(0, "alive")
        self.assertEqual(b.get(0, 5), b"alive")
        mnt.proc.send_signal(signal.SIGKILL)
        mnt.proc.wait(timeout=HANG)
        with self.assertRaises(OSError) as cm:
            os.stat(path)
        self.assertEqual(cm.exception.errno, errno.ENOTCONN)
        # Pages the mappings have used keep working.
        self.assertEqual(a.get(0, 5), b"alive")
        self.assertEqual(b.get(0, 5), b"alive")
        a.put(8, "still")
        self.assertEqual(b.get(8, 5), b"still")
        self.survives_daemon(a, b, size)

    def survives_daemon(self, a, b, size):
        """What a page never used before the daemon died does."""
        raise NotImplementedError

    # Rule 5: bounds.

    def test_sigbus_past_end(self):
        path = self.chan(PAGE + 100)
        m = Mapper(self, path, "rw", 3 * PAGE)
        m.put(PAGE + 96, "end")
        self.assertEqual(m.get(PAGE + 96, 3), b"end")
        # The rest of the last page is there, and zero.
        self.assertEqual(m.count(PAGE + 100, PAGE - 100, 0), PAGE - 100)
        self.assertEqual(m.dies_of(f"get {2 * PAGE} 1"), signal.SIGBUS)
        m = Mapper(self, path, "rw", 3 * PAGE)
        self.assertEqual(m.dies_of(f"put {2 * PAGE + 5} x"), signal.SIGBUS)

    def test_shrink_while_mapped(self):
        path = self.chan(3 * PAGE)
        m = Mapper(self, path)
        m.put(0, "head")
        m.put(2 * PAGE + 5, "tail")
        os.truncate(path, PAGE)
        self.assertEqual(m.get(0, 4), b"head")
        self.assertEqual(m.dies_of(f"get {2 * PAGE + 5} 4"), signal.SIGBUS)
        self.assertEqual(self.contents(path)[:4], b"head")

    def test_grow_while_mapped(self):
        path = self.chan(PAGE)
        m = Mapper(self, path, "rw", 4 * PAGE)
        m.put(0, "x")
        os.truncate(path, 4 * PAGE)
        self.assertEqual(m.count(PAGE, 3 * PAGE, 0), 3 * PAGE)
        m.put(3 * PAGE, "far")
        pm = self.pymap(path)
        self.assertEqual(pm[3 * PAGE:3 * PAGE + 3], b"far")
        self.assertEqual(pm[0:1], b"x")

    def test_max_region(self):
        mnt = self.own_mount("max_region=64K")
        path = mnt("limited")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            os.ftruncate(fd, 64 << 10)
            for size in ((64 << 10) + 1, 1 << 30):
                with self.assertRaises(OSError) as cm:
                    os.ftruncate(fd, size)
                self.assertEqual(cm.exception.errno, errno.EFBIG)
            self.assertEqual(os.fstat(fd).st_size, 64 << 10)
            os.ftruncate(fd, 1000)
            self.assertEqual(os.fstat(fd).st_size, 1000)
        finally:
            os.close(fd)
        r = subprocess.run(["truncate", "-s", "1M", path],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("too large", r.stderr)
        self.assertEqual(os.stat(path).st_size, 1000)

    def test_default_max_region(self):
        path = self.chan()
        with self.assertRaises(OSError) as cm:
            os.truncate(path, (1 << 30) + 1)
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertEqual(os.stat(path).st_size, 0)

    def test_max_memory(self):
        mnt = self.own_mount("max_memory=256K")
        a, b = mnt("a"), mnt("b")
        for p in (a, b):
            os.close(os.open(p, os.O_RDWR | os.O_CREAT, 0o666))
        os.truncate(a, 192 << 10)
        with self.assertRaises(OSError) as cm:
            os.truncate(b, 128 << 10)
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertEqual(os.stat(b).st_size, 0)
        with self.assertRaises(OSError) as cm:
            os.truncate(a, 512 << 10)
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertEqual(os.stat(a).st_size, 192 << 10)
        os.truncate(b, 64 << 10)
        os.truncate(a, 64 << 10)
        os.truncate(b, 128 << 10)
        self.assertEqual(os.stat(b).st_size, 128 << 10)

    def test_grown_region_is_zero(self):
        path = self.chan(4 * PAGE)
        self.fill(path, 0xEE)
        os.truncate(path, 0)
        os.truncate(path, 4 * PAGE)
        self.assertEqual(self.contents(path), bytes(4 * PAGE))

    def test_grown_region_is_zero_while_mapped(self):
        path = self.chan(2 * PAGE)
        m = Mapper(self, path, "rw", 2 * PAGE)
        m.ok(f"fill 0 {2 * PAGE} 238")
        os.truncate(path, 0)
        os.truncate(path, 2 * PAGE)
        self.assertEqual(m.count(0, 2 * PAGE, 0), 2 * PAGE)

    def test_mapping_outlives_every_open(self):
        # A mapping made through an open that has since closed is still a
        # mapping of the region: shrinking it to nothing, an open and close
        # of the empty channel, and growing it again change nothing there.
        path = self.chan(PAGE)
        a = Mapper(self, path)
        a.ok("close")
        os.truncate(path, 0)
        os.close(os.open(path, os.O_RDWR))
        os.truncate(path, PAGE)
        b = Mapper(self, path)
        b.put(0, "new")
        self.assertEqual(a.get(0, 3), b"new")
        a.put(10, "old-mapping")
        self.assertEqual(b.get(10, 11), b"old-mapping")

    def test_new_region_is_zero(self):
        old = self.chan(16 * PAGE)
        self.fill(old, 0xEE)
        os.unlink(old)
        for _ in range(4):
            path = self.chan(16 * PAGE)
            self.assertEqual(self.contents(path), bytes(16 * PAGE))
            self.fill(path, 0xEE)
            os.unlink(path)

    # Threads: one blocked in read while another writes, on opens of
    # their own or on one shared open.

    def threads(self, how):
        path = self.chan(PAGE)
        r = subprocess.run([REGIONIO, "threads", path, how],
                           capture_output=True, text=True, timeout=HANG)
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def test_threads_separate_opens(self):
        self.threads("separate")

    def test_threads_share_one_open(self):
        # A file with a position makes two threads that share one open file
        # description wait on the kernel's position lock: a documented
        # limit (open twice).  Without a position, they must just work.
        path = self.chan()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.lseek(fd, 0, os.SEEK_CUR)
            seekable = True
        except OSError as e:
            self.assertEqual(e.errno, errno.ESPIPE)
            seekable = False
        finally:
            os.close(fd)
        if seekable:
            self.skipTest(f"channel files are seekable in {self.mode} mode")
        self.threads("same")

class TestPassthrough(RegionRules, MountedTestCase):
    mode = "passthrough"
    options = ("-o", "region=passthrough")

    def survives_daemon(self, a, b, size):
        # The mappings are of the daemon's memory itself, which lives on
        # with them: every page works, used before or not.
        a.put(size - 5, "whole")
        self.assertEqual(b.get(size - 5, 5), b"whole")
        self.assertEqual(b.count(PAGE, size - 2 * PAGE, 0), size - 2 * PAGE)

    def test_seekable(self):
        # Passthrough needs a file position; lseek gives the region size.
        path = self.chan(3 * PAGE)
        fd = os.open(path, os.O_RDWR)
        try:
            self.assertEqual(os.lseek(fd, 0, os.SEEK_END), 3 * PAGE)
        finally:
            os.close(fd)



class TestPagecache(RegionRules, MountedTestCase):
    mode = "pagecache"
    options = ("-o", "region=pagecache")

    def survives_daemon(self, a, b, size):
        # The mappings are of the kernel's page cache: a page never loaded
        # would have to come from the dead daemon, so touching it raises
        # SIGBUS.
        self.assertEqual(a.dies_of(f"get {size - 5} 5"), signal.SIGBUS)
        self.assertEqual(b.get(0, 5), b"alive")

    def test_o_trunc_keeps_region_while_mapped(self):
        # What the kernel does, not the rule: an O_TRUNC open (the shell's
        # '>', Python's open(path, "w")) makes it drop its cached copy of
        # the region and take the size for 0 without asking the daemon
        # (fuse_do_setattr, ATTR_OPEN with atomic_o_trunc).  Until the size
        # is asked for again, touching any mapping raises SIGBUS, and
        # stores not yet written back may be lost.  The daemon's region
        # keeps its size and all it was given.
        path = self.chan(2 * PAGE)
        m = Mapper(self, path)
        m.put(0, "synced")
        m.ok("sync")
        m.put(PAGE + 3, "kept?")
        os.close(os.open(path, os.O_RDWR | os.O_TRUNC))
        self.assertEqual(m.dies_of(f"get {PAGE + 3} 4"), signal.SIGBUS)
        self.assertEqual(os.stat(path).st_size, 2 * PAGE)
        data = self.contents(path)
        self.assertEqual(data[:6], b"synced")
        self.assertIn(data[PAGE + 3:PAGE + 8], (b"kept?", bytes(5)))

    # A kernel limitation, documented in docs/regions.md: the kernel keeps
    # the old last page in its cache and writes it back after the grow,
    # bytes stored past the old end and all, as tmpfs shows them.
    @daemon_bug("the kernel writes the old last page back after the grow, "
                "bytes past the old end and all")
    def test_grow_from_partial_page_adds_zeros(self):
        super().test_grow_from_partial_page_adds_zeros()


class TestRegionOff(MountedTestCase):
    options = ("-o", "region=off")

    def test_mmap_fails_stream_works(self):
        path = self.mnt("plain")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            os.ftruncate(fd, PAGE)
            self.assertEqual(os.fstat(fd).st_size, PAGE)
            with self.assertRaises(OSError) as cm:
                mmap.mmap(fd, PAGE)
            self.assertEqual(cm.exception.errno, errno.ENODEV)
            os.write(fd, b"still a stream")
            self.assertEqual(os.read(fd, 100), b"still a stream")
        finally:
            os.close(fd)
        self.assertEqual(os.getxattr(path, "user.ipcfs.region"), b"off")
        self.assertIn("region mode off", self.mnt.daemon_log())

    def test_threads_share_one_open(self):
        path = self.mnt("threads")
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
        r = subprocess.run([REGIONIO, "threads", path, "same"],
                           capture_output=True, text=True, timeout=HANG)
        self.assertEqual((r.returncode, r.stderr), (0, ""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
