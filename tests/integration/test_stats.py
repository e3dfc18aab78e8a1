"""A channel's own figures: user.ipcfs.stats on a channel, and
tools/ipcfs-stat, which shows them one line per channel (issue 11,
Statistics).  Directories keep the mount-wide counters."""

import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
from ipcfs_test import TOP  # noqa: E402

STAT = os.path.join(TOP, "ipcfs-stat")
GUARD = 30


figures = ipcfs_test.figures


class Stats(ipcfs_test.MountedTestCase):

    options = ("-o", "capacity=16K")

    def setUp(self):
        self.fds = []

    def tearDown(self):
        for fd in self.fds:
            os.close(fd)

    def open(self, name, flags):
        fd = os.open(self.mnt(name), flags | os.O_CREAT, 0o600)
        self.fds.append(fd)
        return fd

    def wait_for(self, path, key, want):
        for _ in range(GUARD * 100):
            if figures(path)[key] == want:
                return
            threading.Event().wait(0.01)
        self.fail(f"{key} never became {want}: {figures(path)}")

    def test_counts_what_moved(self):
        p = self.mnt("moved")
        w = self.open("moved", os.O_WRONLY)
        r = self.open("moved", os.O_RDONLY)
        self.assertEqual(os.write(w, b"hello"), 5)
        self.assertEqual(os.write(w, b"world"), 5)
        st = figures(p)
        self.assertEqual((st["framing"], st["delivery"]), ("bytes", "queue"))
        self.assertEqual(st["capacity"], 16 * 1024)
        self.assertEqual((st["readers"], st["writers"]), (1, 1))
        self.assertEqual(st["buffered_bytes"], 10)
        self.assertEqual((st["bytes_written"], st["messages_written"]),
                         (10, 2))
        self.assertEqual((st["bytes_read"], st["messages_read"]), (0, 0))
        self.assertEqual(os.read(r, 6), b"hellow")
        self.assertEqual(os.read(r, 100), b"orld")
        st = figures(p)
        self.assertEqual(st["buffered_bytes"], 0)
        self.assertEqual((st["bytes_read"], st["messages_read"]), (10, 2))
        # A re-read takes nothing from the stream: it is not counted.
        os.lseek(r, 0, os.SEEK_SET)
        self.assertEqual(os.read(r, 100), b"helloworld")
        self.assertEqual(figures(p)["bytes_read"], 10)
        os.truncate(p, 8192)
        self.assertEqual(figures(p)["region_bytes"], 8192)

    def test_held_calls(self):
        p = self.mnt("held")
        r = self.open("held", os.O_RDONLY)
        w = self.open("held", os.O_WRONLY)
        reader = threading.Thread(target=os.read, args=(r, 10), daemon=True)
        reader.start()
        self.wait_for(p, "held_reads", 1)
        os.write(w, b"x")
        reader.join(GUARD)
        self.assertFalse(reader.is_alive())
        self.assertEqual(figures(p)["held_reads"], 0)
        os.write(w, b"y" * (16 * 1024))
        writer = threading.Thread(target=os.write, args=(w, b"z" * 100),
                                  daemon=True)
        writer.start()
        self.wait_for(p, "held_writes", 1)
        # The read takes the buffer and the held write's bytes with it.
        self.assertEqual(len(os.read(r, 64 * 1024)), 16 * 1024 + 100)
        writer.join(GUARD)
        self.assertFalse(writer.is_alive())
        st = figures(p)
        self.assertEqual((st["held_writes"], st["bytes_written"],
                          st["messages_written"]), (0, 1 + 16 * 1024 + 100, 3))

    def test_directories_keep_the_mount_counters(self):
        os.mkdir(self.mnt("dir"))
        for path in (self.mnt.path, self.mnt("dir")):
            st = figures(path)
            self.assertIn("nodes", st)
            self.assertNotIn("framing", st)

    def test_ipcfs_stat(self):
        os.mkdir(self.mnt("sub"))
        w = self.open("sub/a", os.O_WRONLY)
        os.write(w, b"abc")
        self.open("b", os.O_RDONLY)
        self.open("m", os.O_WRONLY | os.O_CREAT)
        os.close(self.fds.pop())
        os.setxattr(self.mnt("m"), "user.ipcfs.framing", b"messages")
        os.setxattr(self.mnt("m"), "user.ipcfs.delivery", b"broadcast")
        w = self.open("m", os.O_WRONLY)
        os.write(w, b"one")
        os.write(w, b"three")
        out = subprocess.run([STAT, self.mnt.path], capture_output=True,
                             text=True, timeout=GUARD)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "FRAMING", "DELIVERY",
                                            "R", "W", "BUFFERED", "MSGS",
                                            "WRITTEN", "READ", "WRITES",
                                            "READS"])
        rows = {os.path.relpath(line.split()[0], self.mnt.path):
                line.split()[1:] for line in lines[1:]}
        self.assertEqual(rows["sub/a"], ["bytes", "queue", "0", "1", "3",
                                         "0", "3", "0", "1", "0"])
        self.assertEqual(rows["b"], ["bytes", "queue", "1", "0", "0", "0",
                                     "0", "0", "0", "0"])
        self.assertEqual(rows["m"], ["messages", "broadcast", "0", "1", "8",
                                     "2", "8", "0", "2", "0"])

    def test_ipcfs_stat_elsewhere(self):
        tmp = os.path.join(self.mnt.tmp, "plain")
        os.mkdir(tmp)
        with open(os.path.join(tmp, "f"), "w"):
            pass
        out = subprocess.run([STAT, tmp], capture_output=True, text=True,
                             timeout=GUARD)
        self.assertEqual(out.returncode, 1)
        self.assertIn("not an ipcfs channel", out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
