"""Attributes seen through an open from before a change (issue 21, part
7): fstat() of a descriptor opened before a channel's name moved, its
extended attributes changed or it was opened with O_TRUNC shows the
same ctime (and mtime) as stat() of its name.  The kernel keeps an
inode's attributes cached (ipcfs answers with a long attribute timeout),
and a descriptor opened before a rename holds an older inode than the
name's, so the daemon must tell the kernel each time a channel's times
change by any call but the one through that inode.

Each change is made a little after the open (TICK), so a ctime that was
not updated is seen as older.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

TICK = 0.05     # seconds between an open and the change after it


class StaleAttrs(ipcfs_test.MountedTestCase):

    serial = 0

    def chan(self):
        StaleAttrs.serial += 1
        p = self.mnt("c%d" % StaleAttrs.serial)
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return p

    def writer(self, p):
        fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, fd)
        os.fstat(fd)            # the kernel caches its attributes
        time.sleep(TICK)
        return fd

    def same(self, fd, p, what):
        a, b = os.fstat(fd), os.stat(p)
        self.assertEqual((a.st_ctime_ns, a.st_mtime_ns),
                         (b.st_ctime_ns, b.st_mtime_ns),
                         "%s: fstat of an older open differs from stat "
                         "of the name" % what)

    def test_rename(self):
        x = self.chan()
        fd = self.writer(x)
        y = x + "-moved"
        os.rename(x, y)
        self.same(fd, y, "rename")

    def test_rename_over(self):
        x, z = self.chan(), self.chan()
        fd = self.writer(x)
        os.rename(x, z)
        self.same(fd, z, "rename over another channel")

    def test_rename_then_setxattr(self):
        x = self.chan()
        fd = self.writer(x)
        y = x + "-moved"
        os.rename(x, y)
        fd2 = self.writer(y)
        os.setxattr(y, "user.note", b"hello")
        self.same(fd, y, "setxattr after a rename, older open")
        self.same(fd2, y, "setxattr after a rename, newer open")
        time.sleep(TICK)
        os.removexattr(y, "user.note")
        self.same(fd, y, "removexattr after a rename")

    def test_rename_then_trunc_open(self):
        x = self.chan()
        fd = self.writer(x)
        y = x + "-moved"
        os.rename(x, y)
        self.same(fd, y, "rename")
        time.sleep(TICK)
        os.close(os.open(y, os.O_WRONLY | os.O_TRUNC | os.O_NONBLOCK))
        self.same(fd, y, "O_TRUNC open after a rename")

    def test_rename_then_chmod_and_write(self):
        x = self.chan()
        fd = self.writer(x)
        y = x + "-moved"
        os.rename(x, y)
        time.sleep(TICK)
        os.chmod(y, 0o600)
        self.same(fd, y, "chmod after a rename")
        self.assertEqual(os.fstat(fd).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    unittest.main()
