"""max_memory bounds stream buffers and regions together: memory taken by
one kind is not there for the other (docs/semantics.md, Limits)."""

import errno
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcfs_test import Mount  # noqa: E402

KIB = 1024


class SharedBudget(unittest.TestCase):
    """One mount with max_memory=256K and a capacity as large."""

    def setUp(self):
        self.mount = Mount("-o", "max_memory=256K,capacity=256K")
        self.addCleanup(self.mount.close)
        self.fds = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for fd in self.fds:
            os.close(fd)

    def open(self, name, flags):
        fd = os.open(self.mount(name), flags | os.O_CREAT, 0o666)
        self.fds.append(fd)
        return fd

    def fill(self, fd):
        """Write 4 KiB pieces without blocking until none fits."""
        total = 0
        while True:
            try:
                total += os.write(fd, b"x" * (4 * KIB))
            except BlockingIOError:
                return total

    def test_region_leaves_no_room_for_a_stream(self):
        # A region as large as max_memory leaves nothing for buffers.
        os.close(os.open(self.mount("region"), os.O_RDWR | os.O_CREAT))
        os.truncate(self.mount("region"), 256 * KIB)
        fd = self.open("stream", os.O_RDWR | os.O_NONBLOCK)
        with self.assertRaises(BlockingIOError):
            os.write(fd, b"x")
        os.set_blocking(fd, True)
        with self.assertRaises(OSError) as cm:
            os.write(fd, b"x")
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        # Shrinking the region gives the room back to the stream.
        os.truncate(self.mount("region"), 128 * KIB)
        os.set_blocking(fd, False)
        self.assertEqual(self.fill(fd), 128 * KIB)
        self.assertEqual(os.read(fd, 256 * KIB), b"x" * (128 * KIB))

    def test_stream_leaves_no_room_for_a_region(self):
        fd = self.open("stream", os.O_RDWR | os.O_NONBLOCK)
        self.assertEqual(self.fill(fd), 256 * KIB)
        os.close(os.open(self.mount("region"), os.O_RDWR | os.O_CREAT))
        with self.assertRaises(OSError) as cm:
            os.truncate(self.mount("region"), 4 * KIB)
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertEqual(os.stat(self.mount("region")).st_size, 0)

    def test_statfs_counts_both(self):
        os.close(os.open(self.mount("region"), os.O_RDWR | os.O_CREAT))
        os.truncate(self.mount("region"), 64 * KIB)
        fd = self.open("stream", os.O_RDWR | os.O_NONBLOCK)
        self.assertEqual(self.fill(fd), 192 * KIB)
        st = os.statvfs(self.mount.path)
        self.assertEqual(st.f_blocks, 256 * KIB // 4096)
        self.assertEqual(st.f_bfree, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
