"""Limits and edges (issue 4): running out of max_channels, max_memory,
region limits and the daemon's own file descriptors gives the caller an
error and leaves the daemon serving everyone else; names with odd bytes,
names and paths of the largest lengths, deep directories, and a readdir
of a large directory that lists every entry exactly once.
"""

import ctypes
import errno
import os
import resource
import shutil
import stat
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcfs_test import Mount, MountedTestCase  # noqa: E402

PAGE = os.sysconf("SC_PAGESIZE")
HANG = 10       # seconds; only ever a guard against hanging, never a measure


def eventually(check):
    """Call check until it stops raising, within HANG seconds.  For what
    the kernel does on its own schedule, such as forgetting an unlinked
    inode, after which the daemon frees it."""
    deadline = time.monotonic() + HANG
    while True:
        try:
            return check()
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))


class LimitCase(unittest.TestCase):
    """A fresh mount for each test, with the options it asks for."""

    def mount(self, *options):
        m = Mount(*options)
        self.addCleanup(m.close)
        return m

    def make(self, path, flags=os.O_RDWR | os.O_NONBLOCK):
        """Create and open a channel, closed at cleanup."""
        fd = os.open(path, os.O_CREAT | flags, 0o600)
        self.addCleanup(self.close_quietly, fd)
        return fd

    @staticmethod
    def close_quietly(fd):
        try:
            os.close(fd)
        except OSError:
            pass

    def assertErrno(self, want, fn, *args):
        with self.assertRaises(OSError, msg=f"{fn.__name__}{args}") as cm:
            fn(*args)
        got = cm.exception.errno
        want = want if isinstance(want, tuple) else (want,)
        self.assertIn(got, want, f"{fn.__name__}{args}: {errname(cm.exception)}")
        return got

    def assertServes(self, m, name="alive"):
        """The daemon still makes channels and moves bytes through them."""
        fd = os.open(m(name), os.O_CREAT | os.O_RDWR | os.O_NONBLOCK, 0o600)
        try:
            os.write(fd, b"still here")
            self.assertEqual(os.read(fd, 100), b"still here")
        finally:
            os.close(fd)
        os.unlink(m(name))
        self.assertIsNone(m.proc.poll(), "the daemon exited")


class TestMaxChannels(LimitCase):
    N = 16

    def setUp(self):
        self.m = self.mount("-o", f"max_channels={self.N}")

    def fill(self):
        """Make channels until the daemon refuses; returns their paths."""
        made = []
        for i in range(self.N + 5):
            try:
                os.close(os.open(self.m(f"c{i}"), os.O_CREAT | os.O_RDWR,
                                 0o600))
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC, errname(e))
                break
            made.append(self.m(f"c{i}"))
        return made

    def test_exactly_max_channels_then_enospc(self):
        made = self.fill()
        self.assertEqual(len(made), self.N)
        self.assertErrno(errno.ENOSPC, os.mkdir, self.m("d"))
        self.assertErrno(errno.ENOSPC, os.mknod, self.m("n"),
                         stat.S_IFREG | 0o600)
        self.assertErrno(errno.ENOSPC, os.open, self.m("x"),
                         os.O_CREAT | os.O_WRONLY, 0o600)
        self.assertEqual(os.statvfs(self.m.path).f_ffree, 0)
        # What exists still works, and renaming makes no node.
        fd = os.open(made[0], os.O_RDWR | os.O_NONBLOCK)
        os.write(fd, b"full but working")
        self.assertEqual(os.read(fd, 100), b"full but working")
        os.close(fd)
        os.rename(made[1], self.m("renamed"))
        self.assertEqual(len(os.listdir(self.m.path)), self.N)

    def test_freeing_one_allows_another(self):
        made = self.fill()
        os.unlink(made[0])
        eventually(lambda: os.close(os.open(self.m("again"),
                                            os.O_CREAT | os.O_RDWR, 0o600)))
        self.assertErrno(errno.ENOSPC, os.open, self.m("more"),
                         os.O_CREAT | os.O_RDWR, 0o600)
        os.unlink(made[1])
        eventually(lambda: os.mkdir(self.m("dir")))
        self.assertErrno(errno.ENOSPC, os.mkdir, self.m("dir2"))

    def test_unlinked_open_channel_still_counts(self):
        made = self.fill()
        fd = os.open(made[0], os.O_RDWR | os.O_NONBLOCK)
        os.unlink(made[0])
        # The channel lives on for its holder, and so keeps its place.
        os.write(fd, b"unlinked")
        self.assertEqual(os.read(fd, 100), b"unlinked")
        self.assertErrno(errno.ENOSPC, os.open, self.m("x"),
                         os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        eventually(lambda: os.close(os.open(self.m("x"),
                                            os.O_CREAT | os.O_RDWR, 0o600)))

    def test_daemon_carries_on(self):
        made = self.fill()
        for p in made:
            os.unlink(p)
        eventually(lambda: self.assertServes(self.m))
        self.assertEqual(self.fill(), [self.m(f"c{i}")
                                       for i in range(self.N)])


class TestMaxMemory(LimitCase):

    def test_stream_buffers(self):
        # Four rings of 64 KiB use all of max_memory.
        m = self.mount("-o", "max_memory=256K,capacity=64K")
        fds = []
        for i in range(4):
            fd = self.make(m(f"s{i}"))
            n = 0
            with self.assertRaises(BlockingIOError):
                while True:
                    n += os.write(fd, bytes([i]) * 4096)
            self.assertEqual(n, 64 * 1024)
            fds.append(fd)
        fifth = self.make(m("s4"))
        self.assertErrno(errno.EAGAIN, os.write, fifth, b"x")
        blocking = self.make(m("s5"), os.O_RDWR)
        self.assertErrno(errno.ENOSPC, os.write, blocking, b"x" * 100)
        self.assertErrno(errno.ENOSPC, os.ftruncate, blocking, PAGE)
        self.assertEqual(os.statvfs(m.path).f_bfree, 0)
        # Nothing buffered was lost or mixed.
        for i, fd in enumerate(fds):
            got = b""
            while len(got) < 64 * 1024:
                got += os.read(fd, 64 * 1024)
            self.assertEqual(got, bytes([i]) * 64 * 1024)
        # A ring's memory goes back when its channel is empty and closed.
        os.close(fds[0])
        eventually(lambda: self.assertEqual(os.write(blocking, b"y" * 100),
                                            100))
        self.assertEqual(os.read(blocking, 200), b"y" * 100)

    def test_regions(self):
        m = self.mount("-o", "max_memory=1M")
        a, b = self.make(m("a")), self.make(m("b"))
        os.ftruncate(a, 768 * 1024)
        self.assertErrno(errno.ENOSPC, os.ftruncate, b, 512 * 1024)
        self.assertEqual(os.fstat(b).st_size, 0)
        os.ftruncate(b, 256 * 1024)
        # Regions and stream buffers share the one budget.
        s = self.make(m("s"))
        self.assertErrno(errno.EAGAIN, os.write, s, b"x")
        sb = self.make(m("sb"), os.O_RDWR)
        self.assertErrno(errno.ENOSPC, os.write, sb, b"x")
        self.assertErrno(errno.ENOSPC, os.ftruncate, a, 768 * 1024 + PAGE)
        # Shrinking gives it back.
        os.ftruncate(a, 0)
        self.assertEqual(os.write(s, b"x" * 4096), 4096)
        os.ftruncate(b, 512 * 1024)
        self.assertServes(m)

    def test_regions_then_streams_then_regions(self):
        m = self.mount("-o", "max_memory=512K,capacity=128K")
        s = self.make(m("s"))
        n = 0
        with self.assertRaises(BlockingIOError):
            while True:
                n += os.write(s, b"z" * 4096)
        self.assertEqual(n, 128 * 1024)
        r = self.make(m("r"))
        self.assertErrno(errno.ENOSPC, os.ftruncate, r, 512 * 1024)
        os.ftruncate(r, 384 * 1024)
        self.assertErrno(errno.ENOSPC, os.ftruncate, r, 384 * 1024 + 1)


class TestRegionLimits(LimitCase):

    def test_max_region_is_efbig(self):
        m = self.mount("-o", "max_region=64K")
        fd = self.make(m("r"))
        os.ftruncate(fd, 64 * 1024)
        self.assertErrno(errno.EFBIG, os.ftruncate, fd, 64 * 1024 + 1)
        self.assertErrno(errno.EFBIG, os.truncate, m("r"), 1 << 40)
        self.assertErrno(errno.EFBIG, os.ftruncate, fd, (1 << 63) - 1)
        self.assertErrno(errno.EINVAL, os.ftruncate, fd, -1)
        self.assertEqual(os.fstat(fd).st_size, 64 * 1024)
        self.assertServes(m)

    def test_past_memory_is_enospc(self):
        m = self.mount("-o", "max_region=1G,max_memory=1M")
        fd = self.make(m("r"))
        self.assertErrno(errno.ENOSPC, os.ftruncate, fd, 2 << 20)
        os.ftruncate(fd, 1 << 20)
        self.assertErrno(errno.ENOSPC, os.ftruncate, fd, (1 << 20) + 1)
        self.assertEqual(os.fstat(fd).st_size, 1 << 20)
        os.ftruncate(fd, 0)
        self.assertServes(m)

    def test_zero_max_region(self):
        m = self.mount("-o", "max_region=0")
        fd = self.make(m("r"))
        self.assertErrno(errno.EFBIG, os.ftruncate, fd, 1)
        os.ftruncate(fd, 0)
        self.assertServes(m)


class DaemonFds:
    """The daemon run with a limit of 64 descriptors (set with prlimit(2)
    on the running daemon) and channels made until it runs out."""

    LIMIT = 64
    mode = None
    TRIES = 200

    def setUp(self):
        try:
            self.m = self.mount("-o", "region=" + self.mode)
        except AssertionError as e:
            self.skipTest(f"region={self.mode} unavailable: {e}")
        resource.prlimit(self.m.proc.pid, resource.RLIMIT_NOFILE,
                         (self.LIMIT, self.LIMIT))

    def exhaust(self):
        """Open (and keep open) channels, each sized to a page, until one
        fails; returns the open descriptors and the name that failed."""
        fds = []
        for i in range(self.TRIES):
            path = self.m(f"c{i}")
            try:
                fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NONBLOCK,
                             0o600)
            except OSError as e:
                self.assertIn(e.errno, (errno.EMFILE, errno.ENFILE,
                                        errno.EIO), errname(e))
                return fds, path
            self.addCleanup(self.close_quietly, fd)
            fds.append(fd)
            try:
                os.ftruncate(fd, PAGE)
            except OSError as e:
                self.assertIn(e.errno, (errno.EMFILE, errno.ENFILE,
                                        errno.EIO), errname(e))
                return fds, path
        self.fail(f"{self.TRIES} channels and no error, with the daemon "
                  f"limited to {self.LIMIT} descriptors")

    def test_clean_error_and_carries_on(self):
        fds, failed = self.exhaust()
        self.assertGreater(len(fds), 0)
        # Channels that exist go on working, the namespace too.
        os.write(fds[0], b"old channel")
        self.assertEqual(os.read(fds[0], 100), b"old channel")
        again = os.open(self.m("c0"), os.O_RDWR | os.O_NONBLOCK)
        os.write(again, b"reopened")
        self.assertEqual(os.read(fds[0], 100), b"reopened")
        os.close(again)
        os.mkdir(self.m("dir"))
        os.rmdir(self.m("dir"))
        self.assertIsNone(self.m.proc.poll(), "the daemon exited")
        # Giving descriptors back lets new channels in.
        for i in range(8):
            os.close(fds[i])
            os.unlink(self.m(f"c{i}"))
        eventually(lambda: self.assertServes(self.m, "fresh"))

class TestDaemonFdsPassthrough(DaemonFds, LimitCase):
    """Every open channel holds a memfd for its region here."""

    mode = "passthrough"

    def test_failed_create_leaves_no_name(self):
        fds, failed = self.exhaust()
        name = os.path.basename(failed)
        self.assertNotIn(name, os.listdir(self.m.path))
        # A region lives as long as its channel: unlink some to free them.
        for i, fd in enumerate(fds[:8]):
            os.close(fd)
            os.unlink(self.m(f"c{i}"))
        eventually(lambda: os.close(os.open(failed, os.O_CREAT | os.O_RDWR,
                                            0o600)))
        os.unlink(failed)
        self.assertNotIn(name, os.listdir(self.m.path))


class TestDaemonFdsPagecache(DaemonFds, LimitCase):
    """Only a region with bytes in it holds a memfd here: sizing the
    regions runs out, making channels does not."""

    mode = "pagecache"


ODD = [b"new\nline", b"\xff\xfe\x80", "ünïcödé 名前 🙂".encode(),
       b"with space", b" both ends ", b"-leading-dash", b"--", b"-",
       b"tab\there", b"\x01\x1b[31mred", b"*?[glob]", b"back\\slash",
       b"'single' \"double\"", b"...", b"..x", b".hidden", b"$HOME",
       b"\x7f", bytes(range(1, 47)), bytes(range(48, 128)),
       bytes(range(128, 256))]


class TestNames(MountedTestCase):

    def p(self, *parts):
        return os.path.join(os.fsencode(self.mnt.path), *parts)

    def test_odd_bytes(self):
        d = self.p(b"odd")
        os.mkdir(d)
        for i, name in enumerate(ODD):
            path = os.path.join(d, name)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR |
                         os.O_NONBLOCK, 0o600)
            os.write(fd, b"%d" % i)
            os.close(fd)
            self.assertTrue(stat.S_ISREG(os.stat(path).st_mode), name)
        self.assertEqual(sorted(os.listdir(d)), sorted(ODD))
        # Each name leads to its own channel.
        for i, name in enumerate(ODD):
            fd = os.open(os.path.join(d, name), os.O_RDWR | os.O_NONBLOCK)
            self.assertEqual(os.read(fd, 100), b"%d" % i, name)
            os.close(fd)
        # Renamed to one another's names with a prefix, then away.
        for name in ODD:
            os.rename(os.path.join(d, name), os.path.join(d, b"r" + name))
        self.assertEqual(sorted(os.listdir(d)),
                         sorted(b"r" + n for n in ODD))
        for name in ODD:
            os.mkdir(os.path.join(d, name))
            os.rmdir(os.path.join(d, name))
            os.unlink(os.path.join(d, b"r" + name))
        self.assertEqual(os.listdir(d), [])
        os.rmdir(d)

    def test_names_the_kernel_refuses(self):
        for name in (b".", b".."):
            for fn, args in ((os.mkdir, ()), (os.rmdir, ()),
                             (os.open, (os.O_CREAT | os.O_EXCL, 0o600)),
                             (os.rename, (self.p(b"x"),))):
                with self.assertRaises(OSError, msg=(fn, name)) as cm:
                    fn(self.p(name), *args)
                self.assertIn(cm.exception.errno,
                              (errno.EEXIST, errno.EISDIR, errno.EINVAL,
                               errno.ENOTEMPTY, errno.EBUSY), (fn, name))
        self.assertEqual(os.listdir(self.mnt.path), [])

    def test_longest_name(self):
        for name in (b"n" * 255, "€".encode() * 85, b"\xff" * 255):
            path = self.p(name)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR |
                         os.O_NONBLOCK, 0o600)
            os.write(fd, b"longest")
            os.close(fd)
            self.assertIn(name, os.listdir(os.fsencode(self.mnt.path)))
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            self.assertEqual(os.read(fd, 100), b"longest")
            os.close(fd)
            os.rename(path, self.p(b"short"))
            os.rename(self.p(b"short"), path)
            os.unlink(path)
            os.mkdir(path)
            os.rmdir(path)

    def test_name_too_long(self):
        long = b"x" * 256
        keep = self.p(b"keep")
        os.close(os.open(keep, os.O_CREAT | os.O_RDWR, 0o600))
        for fn, args in ((os.open, (self.p(long), os.O_CREAT | os.O_RDWR,
                                    0o600)),
                         (os.mkdir, (self.p(long),)),
                         (os.stat, (self.p(long),)),
                         (os.unlink, (self.p(long),)),
                         (os.rename, (keep, self.p(long))),
                         (os.open, (self.p("€".encode() * 86),
                                    os.O_CREAT | os.O_RDWR, 0o600))):
            with self.assertRaises(OSError) as cm:
                fn(*args)
            self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG,
                             f"{fn.__name__}: {errname(cm.exception)}")
        self.assertEqual(os.listdir(self.mnt.path), ["keep"])
        os.unlink(keep)

    def test_deep_directories(self):
        top = self.mnt("deep")
        path = top
        os.mkdir(path)
        for i in range(100):
            path = os.path.join(path, "d%d" % i)
            os.mkdir(path)
        chan = os.path.join(path, "bottom")
        fd = os.open(chan, os.O_CREAT | os.O_RDWR | os.O_NONBLOCK, 0o600)
        os.write(fd, b"from the bottom")
        os.close(fd)
        fd = os.open(chan, os.O_RDWR | os.O_NONBLOCK)
        self.assertEqual(os.read(fd, 100), b"from the bottom")
        os.close(fd)
        self.assertEqual(os.stat(os.path.join(top, "d0")).st_nlink, 3)
        os.rename(os.path.join(top, "d0"), os.path.join(top, "moved"))
        self.assertTrue(os.path.exists(chan.replace("/d0/", "/moved/")))
        with self.assertRaises(OSError) as cm:
            os.rename(top, chan.replace("/d0/", "/moved/")[:-7] + "/loop")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        shutil.rmtree(top)
        self.assertEqual(os.listdir(self.mnt.path), [])

    def test_paths_near_path_max(self):
        # Components of 250 bytes down to a path of PATH_MAX - 1 bytes,
        # the longest the kernel takes; one more byte is ENAMETOOLONG.
        top = self.mnt("wide")
        os.mkdir(top)
        path = top
        while len(path) + 1 + 250 + 1 + 8 < 4095:
            path = os.path.join(path, "w" * 250)
            os.mkdir(path)
        last = "z" * (4095 - len(path) - 1)
        chan = os.path.join(path, last)
        self.assertEqual(len(chan.encode()), 4095)
        fd = os.open(chan, os.O_CREAT | os.O_RDWR | os.O_NONBLOCK, 0o600)
        os.write(fd, b"at PATH_MAX")
        os.close(fd)
        fd = os.open(chan, os.O_RDWR | os.O_NONBLOCK)
        self.assertEqual(os.read(fd, 100), b"at PATH_MAX")
        os.close(fd)
        with self.assertRaises(OSError) as cm:
            os.stat(chan + "z")
        self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)
        # Deeper than PATH_MAX, through directory descriptors.
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(8):
                os.mkdir("v" * 250, dir_fd=dfd)
                nfd = os.open("v" * 250, os.O_RDONLY | os.O_DIRECTORY,
                              dir_fd=dfd)
                os.close(dfd)
                dfd = nfd
            fd = os.open("beyond", os.O_CREAT | os.O_RDWR | os.O_NONBLOCK,
                         0o600, dir_fd=dfd)
            os.write(fd, b"past PATH_MAX")
            self.assertEqual(os.read(fd, 100), b"past PATH_MAX")
            os.close(fd)
        finally:
            os.close(dfd)
        shutil.rmtree(top)
        self.assertEqual(os.listdir(self.mnt.path), [])


class dirent64(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte)]


libc = ctypes.CDLL(None, use_errno=True)
SYS_getdents64 = 217    # x86_64


def getdents(fd, size):
    """One getdents64(2) call with a buffer of size bytes: the names."""
    buf = ctypes.create_string_buffer(size)
    n = libc.syscall(SYS_getdents64, fd, buf, size)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    names, off = [], 0
    while off < n:
        reclen = struct.unpack_from("H", buf.raw, off + 16)[0]
        name = buf.raw[off + 19:off + reclen].split(b"\0", 1)[0]
        names.append(name)
        off += reclen
    return names


@unittest.skipUnless(os.uname().machine == "x86_64", "getdents64 number")
class TestReaddir(MountedTestCase):
    N = 2000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = cls.mnt("big")
        os.mkdir(cls.dir)
        # Names of many lengths, so the entries fall differently into each
        # reply the daemon sends.
        cls.names = sorted(b"%d-%s" % (i, b"n" * (i % 97))
                           for i in range(cls.N))
        for n in cls.names:
            os.close(os.open(os.path.join(os.fsencode(cls.dir), n),
                             os.O_CREAT | os.O_WRONLY, 0o600))

    def listing(self, size):
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            names, calls = [], 0
            while True:
                got = getdents(fd, size)
                calls += 1
                if not got:
                    return names, calls
                names += got
        finally:
            os.close(fd)

    def check(self, names):
        dups = {n for n in names if names.count(n) > 1}
        self.assertEqual(dups, set())
        self.assertEqual(sorted(names), sorted(self.names + [b".", b".."]))

    def test_listdir(self):
        self.assertEqual(sorted(os.listdir(os.fsencode(self.dir))),
                         self.names)

    def test_small_buffers(self):
        for size in (128, 333, 1024, 4096, 65536):
            names, calls = self.listing(size)
            self.check(names)
            if size <= 1024:
                self.assertGreater(calls, 50)

    def test_rewind_and_seek(self):
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            first = getdents(fd, 1024)
            os.lseek(fd, 0, os.SEEK_SET)
            again = []
            while True:
                got = getdents(fd, 4096)
                if not got:
                    break
                again += got
        finally:
            os.close(fd)
        self.assertEqual(again[:len(first)], first)
        self.check(again)

    def test_changes_while_listing(self):
        # Entries made or removed during the listing may show or not, as
        # POSIX allows, but none twice, and none that stayed is missing.
        d = os.fsencode(self.dir)
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        seen, removed, added = [], set(), set()
        try:
            i = 0
            while True:
                got = getdents(fd, 512)
                if not got:
                    break
                seen += got
                victim = self.names[-1 - i]
                if victim not in seen and victim not in removed:
                    os.unlink(os.path.join(d, victim))
                    removed.add(victim)
                new = b"new-%d" % i
                os.close(os.open(os.path.join(d, new),
                                 os.O_CREAT | os.O_WRONLY, 0o600))
                added.add(new)
                i += 1
        finally:
            os.close(fd)
            for n in removed:
                os.close(os.open(os.path.join(d, n),
                                 os.O_CREAT | os.O_WRONLY, 0o600))
            for n in added:
                os.unlink(os.path.join(d, n))
        dups = {n for n in seen if seen.count(n) > 1}
        self.assertEqual(dups, set())
        stayed = set(self.names) - removed
        self.assertEqual(stayed - set(seen), set())
        self.assertGreater(len(removed), 10)
        self.assertEqual(set(seen) - set(self.names) - added - {b".", b".."},
                         set())


if __name__ == "__main__":
    unittest.main(verbosity=2)
