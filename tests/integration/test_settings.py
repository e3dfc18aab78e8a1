"""Per-channel settings and the owner's attributes, as extended
attributes (issue 11): user.ipcfs.capacity on channels and directories,
with inheritance; user.ipcfs.framing and delivery as far as this version
goes; any other user.* attribute kept within its limits and counted
against max_memory; and the same from the shell's setfattr/getfattr."""

import errno
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

CAP = "user.ipcfs.capacity"
NOTSUP = errno.errorcode[errno.EOPNOTSUPP]     # Python names it ENOTSUP
GUARD = 30


def stat(mount, key):
    text = os.getxattr(mount.path, "user.ipcfs.stats").decode()
    return int(dict(line.split() for line in text.splitlines())[key])


class Settings(ipcfs_test.MountedTestCase):

    options = ("-o", "capacity=16K")

    def errno_of(self, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        return errno.errorcode[cm.exception.errno]

    def chan(self, name):
        p = self.mnt(name)
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
        self.addCleanup(os.unlink, p)
        return p

    def test_capacity_from_the_mount_and_directories(self):
        self.assertEqual(os.getxattr(self.mnt.path, CAP), b"16384")
        self.assertEqual(os.getxattr(self.chan("c"), CAP), b"16384")
        d = self.mnt("d")
        os.mkdir(d)
        self.addCleanup(os.rmdir, d)
        os.setxattr(d, CAP, b"1M")
        self.assertEqual(os.getxattr(self.chan("d/c"), CAP), b"1048576")
        os.mkdir(self.mnt("d/e"))
        self.addCleanup(os.rmdir, self.mnt("d/e"))
        self.assertEqual(os.getxattr(self.mnt("d/e"), CAP), b"1048576")
        # A directory's later change is for names made after it.
        os.setxattr(d, CAP, b"8K")
        self.assertEqual(os.getxattr(self.mnt("d/c"), CAP), b"1048576")
        self.assertEqual(os.getxattr(self.chan("d/f"), CAP), b"8192")

    def test_capacity_bounds_the_buffer(self):
        p = self.chan("bound")
        os.setxattr(p, CAP, b"8192")
        w = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
        r = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(os.write(w, b"x" * 20000), 8192)
            self.assertEqual(self.errno_of(os.setxattr, p, CAP, b"4096"),
                             "EBUSY")
            # More room: a writer waiting for it goes on.
            os.set_blocking(w, True)
            t = threading.Thread(target=os.write, args=(w, b"y" * 4096),
                                 daemon=True)
            t.start()
            os.setxattr(p, CAP, b"12K")
            t.join(GUARD)
            self.assertFalse(t.is_alive(), "the writer still waits")
            self.assertEqual(len(os.read(r, 65536)), 8192 + 4096)
        finally:
            os.close(w)
            os.close(r)

    def test_bad_values(self):
        p = self.chan("bad")
        for v in (b"", b"1", b"100M", b"lots", b"64K64"):
            self.assertEqual(self.errno_of(os.setxattr, p, CAP, v),
                             "EINVAL", v)
        self.assertEqual(self.errno_of(os.setxattr, p, "user.ipcfs.framing",
                                       b"lines"), "EINVAL")
        self.assertEqual(self.errno_of(os.setxattr, p, "user.ipcfs.framing",
                                       b"messages"), NOTSUP)
        self.assertEqual(self.errno_of(os.setxattr, p, "user.ipcfs.delivery",
                                       b"broadcast"), NOTSUP)
        os.setxattr(p, "user.ipcfs.framing", b"bytes")
        os.setxattr(p, "user.ipcfs.delivery", b"queue")
        self.assertEqual(os.getxattr(p, "user.ipcfs.framing"), b"bytes")
        self.assertEqual(os.getxattr(p, "user.ipcfs.delivery"), b"queue")
        for name in ("user.ipcfs.region", "user.ipcfs.stats"):
            self.assertEqual(self.errno_of(os.setxattr, p, name, b"x"),
                             "EPERM")
        self.assertEqual(self.errno_of(os.setxattr, p, "user.ipcfs.other",
                                       b"x"), "EINVAL")
        self.assertEqual(self.errno_of(os.removexattr, p, CAP), "EPERM")
        self.assertEqual(self.errno_of(os.setxattr, p, "trusted.x", b"1"),
                         NOTSUP)

    def test_user_attributes(self):
        p = self.chan("labels")
        base = stat(self.mnt, "xattr_bytes")
        os.setxattr(p, "user.dtype", b"float32")
        os.setxattr(p, "user.shape", b"512,512")
        self.assertEqual(os.getxattr(p, "user.dtype"), b"float32")
        names = os.listxattr(p)
        for n in ("user.dtype", "user.shape", CAP, "user.ipcfs.framing",
                  "user.ipcfs.delivery", "user.ipcfs.region",
                  "user.ipcfs.stats"):
            self.assertIn(n, names)
        self.assertGreater(stat(self.mnt, "xattr_bytes"), base)
        os.removexattr(p, "user.dtype")
        self.assertEqual(self.errno_of(os.getxattr, p, "user.dtype"),
                         "ENODATA")
        self.assertEqual(self.errno_of(os.setxattr, p, "user.shape", b"1",
                                       os.XATTR_CREATE), "EEXIST")
        # 64 KiB of names and values for one name in all.
        os.setxattr(p, "user.a", b"x" * 60000)
        self.assertEqual(self.errno_of(os.setxattr, p, "user.b",
                                       b"x" * 6000), "ENOSPC")
        # They go with the channel.
        os.unlink(p)
        self.assertEqual(stat(self.mnt, "xattr_bytes"), base)
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))

    def test_shell(self):
        p = self.chan("sh")
        subprocess.run(["setfattr", "-n", "user.dtype", "-v", "uint8", p],
                       check=True, timeout=GUARD)
        subprocess.run(["setfattr", "-n", CAP, "-v", "32K", p], check=True,
                       timeout=GUARD)
        out = subprocess.run(["getfattr", "-n", "user.dtype",
                              "--only-values", p], capture_output=True,
                             text=True, check=True, timeout=GUARD)
        self.assertEqual(out.stdout, "uint8")
        out = subprocess.run(["getfattr", "-n", CAP, "--only-values", p],
                             capture_output=True, text=True, check=True,
                             timeout=GUARD)
        self.assertEqual(out.stdout, "32768")


class MemoryBound(unittest.TestCase):

    def test_attributes_count_against_max_memory(self):
        m = ipcfs_test.Mount("-o", "max_memory=64K,capacity=16K")
        self.addCleanup(m.close)
        done = 0
        with self.assertRaises(OSError) as cm:
            for i in range(100):
                p = m(f"c{i}")
                os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
                os.setxattr(p, "user.v", b"x" * 8000)
                done += 1
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertEqual(done, 8)


if __name__ == "__main__":
    unittest.main(verbosity=2)
