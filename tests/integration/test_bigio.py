"""Large reads and writes through the daemon's buffers taken over (issue 23).

A held write keeps its bytes in the buffer its request arrived in, and a
large read's history (seekable opens) keeps the buffer its bytes were in,
instead of copies (chan.c, loop_adopt).  These tests move data whose every
byte is known through those paths and check each byte, each count and the
accounting:

- writes of odd sizes from 65537 bytes to 1 MiB + 123, read back in odd
  sizes by a reader in another process, through the ring's wrap;
- re-reads at earlier offsets of a seekable open (pread) after large reads,
  served from the buffer kept in place and from the ring's copy;
- writev and readv with hundreds of iovecs;
- splice(2) from a pipe and sendfile(2) from a file into a channel
  (copy_file_range(2) from another file system is refused by the kernel);
- a reader killed while its large read is held: no byte is lost or given
  twice to the next reader;
- max_memory counting every buffer kept: the mount's held figure stays
  within it, and comes back to 0.

Hang guards only; nothing is timed.  Each test checks the daemon still runs
and answers at the end.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
from ipcfs_test import figures  # noqa: E402

PY = "/usr/bin/python3"
MIB = 1024 * 1024


def pattern(off, n):
    """n bytes of the stream's pattern from byte off on."""
    return bytes(((i * 7 + (i >> 9)) & 0xFF) for i in range(off, off + n))


READER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
sizes = [int(s) for s in sys.argv[2].split(",")]
out = open(sys.argv[3], "wb")
i = 0
while True:
    b = os.read(fd, sizes[i % len(sizes)])
    i += 1
    if not b:
        break
    out.write(b)
out.close()
"""


class BigIO(ipcfs_test.GuardedTestCase):
    options = ("-o", "capacity=64K")
    guard = 100

    def chan(self):
        self.count += 1
        p = self.mnt("big%d" % self.count)
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
        return p

    def open(self, p, flags):
        fd = os.open(p, flags)
        self.fds.add(fd)
        return fd

    def alive(self):
        self.assertIsNone(self.mnt.proc.poll())
        self.assertIn("held_requests", figures(self.mnt.path))

    def read_all_elsewhere(self, p, sizes):
        """A reader in another process; returns (proc, file it fills)."""
        fd, out = tempfile.mkstemp(prefix="ipcfs-bigio.")
        os.close(fd)
        proc = subprocess.Popen([PY, "-c", READER, p,
                                 ",".join(str(s) for s in sizes), out])
        self.procs.append(proc)
        return proc, out

    def test_odd_sizes_through_wrap(self):
        p = self.chan()
        sizes = [65537, MIB + 123, 200001, 70000, MIB, 131071, 99999]
        total = sum(sizes) * 2
        proc, out = self.read_all_elsewhere(p, [4097, 65536, 300007, MIB,
                                                12345])
        w = self.open(p, os.O_WRONLY)
        off = 0
        for n in sizes * 2:
            self.assertEqual(os.write(w, pattern(off, n)), n)
            off += n
        self.close(w)
        self.assertEqual(proc.wait(), 0)
        with open(out, "rb") as f:
            got = f.read()
        os.unlink(out)
        self.assertEqual(len(got), total)
        self.assertTrue(got == pattern(0, total), "bytes differ")
        self.assertEqual(figures(self.mnt.path)["held_bytes"], 0)
        self.alive()

    def test_reread_after_large_reads(self):
        # A read-only open of a region mode has offsets: pread at an
        # earlier offset gets the bytes again, from what its history
        # keeps (the buffer of the last large read, in place).
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        pid = os.fork()
        if pid == 0:
            try:
                os.write(w, pattern(0, 3 * MIB + 5))
            finally:
                os._exit(0)
        off = 0
        while off < 3 * MIB + 5:
            b = os.pread(r, MIB, off)
            self.assertTrue(b == pattern(off, len(b)), "at %d" % off)
            if len(b) >= 2 * 65536:
                # Again, inside what it was given.
                a = os.pread(r, 1000, off + len(b) - 1000)
                self.assertEqual(a, pattern(off + len(b) - 1000, 1000))
                a = os.pread(r, len(b), off)
                self.assertTrue(a == b, "re-read at %d" % off)
            off += len(b)
        self.assertEqual(os.waitpid(pid, 0)[1], 0)
        self.alive()

    def test_writev_readv_many_iovecs(self):
        p = self.chan()
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY)
        lens = [(i * 613) % 4099 + 1 for i in range(300)]
        total = sum(lens)
        data = pattern(0, total)
        bufs, at = [], 0
        for n in lens:
            bufs.append(data[at:at + n])
            at += n
        pid = os.fork()
        if pid == 0:
            try:
                n = os.writev(w, bufs)
                os._exit(0 if n == total else 1)
            except BaseException:
                os._exit(2)
        got = bytearray()
        while len(got) < total:
            outs = [bytearray((i * 37) % 5003 + 1) for i in range(250)]
            n = os.readv(r, outs)
            self.assertGreater(n, 0)
            b = b"".join(bytes(x) for x in outs)[:n]
            got += b
        self.assertEqual(os.waitpid(pid, 0)[1], 0)
        self.assertTrue(bytes(got) == data, "bytes differ")
        self.alive()

    def test_splice_sendfile_copy_file_range_in(self):
        p = self.chan()
        proc, out = self.read_all_elsewhere(p, [MIB])
        w = self.open(p, os.O_WRONLY)
        n = 700001
        # splice(2) from a pipe.
        pr, pw = os.pipe()
        self.fds.update((pr, pw))
        src = pattern(0, n)
        pid = os.fork()
        if pid == 0:
            try:
                os.write(pw, src)
            finally:
                os._exit(0)
        self.close(pw)
        done = 0
        while done < n:
            k = os.splice(pr, w, n - done)
            self.assertGreater(k, 0)
            done += k
        self.assertEqual(os.waitpid(pid, 0)[1], 0)
        # sendfile(2) and copy_file_range(2) from a file.
        with tempfile.TemporaryFile() as f:
            f.write(pattern(n, 2 * n))
            f.flush()
            done = 0
            while done < n:
                k = os.sendfile(w, f.fileno(), done, n - done)
                self.assertGreater(k, 0)
                done += k
            # copy_file_range(2) between two file systems: the kernel
            # refuses it (EXDEV) before ipcfs sees anything.
            with self.assertRaises(OSError):
                os.copy_file_range(f.fileno(), w, n, offset_src=n)
            os.lseek(f.fileno(), n, os.SEEK_SET)
            done = 0
            while done < n:
                k = os.write(w, f.read(n - done))
                done += k
        self.close(w)
        self.assertEqual(proc.wait(), 0)
        with open(out, "rb") as f:
            got = f.read()
        os.unlink(out)
        want = src + pattern(n, n) + pattern(2 * n, n)
        self.assertEqual(len(got), len(want))
        self.assertTrue(got == want, "bytes differ")
        self.alive()

    def test_killed_reader_loses_nothing(self):
        p = self.chan()
        proc = subprocess.Popen([PY, "-c", "import os, sys\n"
                                 "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
                                 "print('open', flush=True)\n"
                                 "os.read(fd, 1 << 20)\n", p],
                                stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        self.assertEqual(proc.stdout.readline(), "open\n")
        for _ in range(500):
            if figures(p)["held_reads"] == 1:
                break
            time.sleep(0.01)
        self.assertEqual(figures(p)["held_reads"], 1)
        proc.kill()
        self.assertEqual(proc.wait(), -signal.SIGKILL)
        for _ in range(500):
            if figures(p)["held_reads"] == 0:
                break
            time.sleep(0.01)
        r = self.open(p, os.O_RDONLY)
        w = self.open(p, os.O_WRONLY | os.O_NONBLOCK)
        n = os.write(w, pattern(0, 300000))
        self.assertGreater(n, 0)
        got = b""
        while len(got) < n:
            got += os.read(r, MIB)
        self.assertEqual(got, pattern(0, n))
        self.alive()


class Memory(ipcfs_test.GuardedTestCase):
    """max_memory counts every buffer a held write or a history keeps."""

    options = ("-o", "capacity=64K,max_memory=3M")
    guard = 100

    def test_held_buffers_within_max_memory(self):
        p = self.mnt("m")
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
        r = os.open(p, os.O_RDONLY)
        self.fds.add(r)
        w = os.open(p, os.O_WRONLY)
        self.fds.add(w)
        pids = []
        for k in range(3):
            pid = os.fork()
            if pid == 0:
                try:
                    os.write(w, pattern(0, MIB))
                finally:
                    os._exit(0)
            pids.append(pid)
        for _ in range(1000):
            if figures(p)["held_writes"] >= 1:
                break
            time.sleep(0.01)
        self.assertGreaterEqual(figures(p)["held_writes"], 1)
        st = figures(self.mnt.path)
        used = st["held_bytes"] + st["buffer_bytes"] + st["history_bytes"]
        # A write may keep a page past max_memory (chan_write).
        self.assertLessEqual(used, 3 * MIB + 3 * 4096)
        self.assertGreater(st["held_bytes"], 0)
        got = 0
        while got < 3 * MIB:
            b = os.read(r, MIB)
            self.assertGreater(len(b), 0)
            got += len(b)
        for pid in pids:
            self.assertEqual(os.waitpid(pid, 0)[1], 0)
        self.assertEqual(figures(self.mnt.path)["held_bytes"], 0)
        self.assertIsNone(self.mnt.proc.poll())


if __name__ == "__main__":
    unittest.main()
