"""The seed scenario as shipped: docs/examples/frame.c and frame.py share a
512x512 float32 frame through a channel's region for 1,000 round trips,
with the channel streams as doorbells, in both region modes and with both
ways of viewing the region from Python (mmap.mmap and numpy.memmap).
"""

import mmap
import os
import signal
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcfs_test import TOP, MountedTestCase  # noqa: E402

FRAME_C = os.environ.get("FRAME_C",
                         os.path.join(TOP, "build", "examples", "frame"))
FRAME_PY = os.path.join(TOP, "docs", "examples", "frame.py")
PY = "/usr/bin/python3"
HANG = 120      # seconds; only ever a guard against hanging, never a measure
ROUNDS = 1000

# A peer that rings back without touching the frame.
IDLE_PEER = """
import os, sys
bell = os.open(sys.argv[1] + "/frame", os.O_RDONLY | os.O_CREAT, 0o666)
done = os.open(sys.argv[1] + "/frame.done", os.O_WRONLY | os.O_CREAT, 0o666)
while os.read(bell, 64):
    os.write(done, b"!")
"""


class FrameCases:
    """The pair, mixed into one MountedTestCase per region mode."""

    serial = 0

    def workdir(self):
        """A directory of the mount for this test's channels."""
        FrameCases.serial += 1
        path = self.mnt(f"{self._testMethodName}.{FrameCases.serial}")
        os.mkdir(path)
        return path

    def spawn(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

        def reap():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.addCleanup(reap)
        return proc

    def finish(self, proc):
        """Wait for proc; its exit status, stdout and stderr."""
        try:
            out, err = proc.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail(f"{proc.args} hung; stderr: {err}")
        return proc.returncode, out, err

    def wait_running(self, d):
        """Wait until the pair is a few round trips in."""
        path = os.path.join(d, "frame")
        deadline = time.monotonic() + HANG
        while not os.path.exists(path) or os.stat(path).st_size < 4:
            self.assertLess(time.monotonic(), deadline, "frame.c never began")
            time.sleep(0.01)
        fd = os.open(path, os.O_RDONLY)
        try:
            with mmap.mmap(fd, 4, access=mmap.ACCESS_READ) as m:
                while struct.unpack("<f", m[0:4])[0] < 3.0:
                    self.assertLess(time.monotonic(), deadline,
                                    "the pair never got going")
                    time.sleep(0.01)
        finally:
            os.close(fd)

    def run_pair(self, py_args, rounds=ROUNDS, python_first=True):
        d = self.workdir()
        py_argv = [PY, FRAME_PY, *py_args, d]
        c_argv = [FRAME_C, d, str(rounds)]
        if python_first:
            py = self.spawn(py_argv)
            c = self.spawn(c_argv)
        else:
            c = self.spawn(c_argv)
            py = self.spawn(py_argv)
        c_rc, c_out, c_err = self.finish(c)
        py_rc, py_out, py_err = self.finish(py)
        both = (f"\nframe.c exit {c_rc}: {c_out}{c_err}"
                f"\nframe.py exit {py_rc}: {py_out}{py_err}")
        self.assertEqual((c_rc, c_err), (0, ""), both)
        self.assertEqual(c_out, f"frame: {rounds} rounds, every value "
                         "checked\n")
        self.assertEqual((py_rc, py_err), (0, ""), both)
        self.assertEqual(py_out, f"frame.py: {rounds} frames, the C side "
                         "has gone\n")

    def test_mmap(self):
        self.run_pair([])

    def test_readme_doorbell(self):
        """The short pair the README shows: docs/examples/doorbell.*."""
        d = self.workdir()
        py = self.spawn([PY, os.path.join(TOP, "docs", "examples",
                                          "doorbell.py"), d])
        c = self.spawn([os.path.join(TOP, "build", "examples", "doorbell"),
                        d])
        c_rc, c_out, c_err = self.finish(c)
        py_rc, py_out, py_err = self.finish(py)
        self.assertEqual((c_rc, c_err), (0, ""), c_out + py_err)
        self.assertEqual(c_out, "".join(f"round {r}: every value is {r + 1}\n"
                                        for r in range(3)))
        self.assertEqual((py_rc, py_out, py_err), (0, "", ""))

    def test_mmap_c_first(self):
        self.run_pair([], rounds=50, python_first=False)

    def test_memmap(self):
        self.run_pair(["--memmap"])

    def test_checks_can_fail(self):
        # A peer that does not add 1.0: frame.c must see every value wrong.
        d = self.workdir()
        peer = self.spawn([PY, "-c", IDLE_PEER, d])
        c = self.spawn([FRAME_C, d, "5"])
        rc, out, err = self.finish(c)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("frame: round 1: value 0 is 1, not 2\n", err)
        self.assertIn(f"frame: round 1: {512 * 512} of {512 * 512} values "
                      "wrong\n", err)
        rc, _, err = self.finish(peer)
        self.assertEqual((rc, err), (0, ""))

    def test_python_side_killed(self):
        # frame.c sees end of file on frame.done and says so.
        d = self.workdir()
        py = self.spawn([PY, FRAME_PY, d])
        c = self.spawn([FRAME_C, d, "100000000"])
        self.wait_running(d)
        py.send_signal(signal.SIGKILL)
        py.wait(timeout=HANG)
        rc, out, err = self.finish(c)
        self.assertEqual(rc, 1)
        self.assertIn("the other side went away (end of file)", err)

    def test_c_side_killed(self):
        # frame.py sees the error on frame.done and ends cleanly.
        d = self.workdir()
        c = self.spawn([FRAME_C, d, "100000000"])
        py = self.spawn([PY, FRAME_PY, d])
        self.wait_running(d)
        c.send_signal(signal.SIGKILL)
        c.wait(timeout=HANG)
        rc, out, err = self.finish(py)
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"^frame.py: \d+ frames, the C side has gone\n$")


class TestPassthrough(FrameCases, MountedTestCase):
    options = ("-o", "region=passthrough")


class TestPagecache(FrameCases, MountedTestCase):
    options = ("-o", "region=pagecache")


if __name__ == "__main__":
    unittest.main(verbosity=2)
