"""Shared by the Python integration tests: a real ipcfs mounted in a
temporary directory for each test class, always taken down again."""

import errno
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IPCFS = os.environ.get("IPCFS", os.path.join(TOP, "build", "san", "ipcfs"))
CHANIO = os.environ.get("CHANIO", os.path.join(TOP, "build", "chanio"))
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")


def figures(path):
    """The user.ipcfs.stats of a channel, or of the mount on a directory,
    as a dict: numbers as ints, words as strings."""
    text = os.getxattr(path, "user.ipcfs.stats").decode()
    out = {}
    for line in text.splitlines():
        k, v = line.split(" ", 1)
        out[k] = int(v) if v.isdigit() else v
    return out


def mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path and line.split()[2] == "fuse.ipcfs"
                   for line in f)


class Mount:
    """An ipcfs daemon on a fresh temporary mount point."""

    def __init__(self, *options, binary=None, preexec_fn=None, wrapper=()):
        """Mount with the given options.  binary names another daemon
        than the sanitized one; preexec_fn runs in the daemon's process
        before it starts (to set limits on it, say); wrapper is an argv
        prefix that execs the daemon (nsenter --net=..., say)."""
        if not os.path.exists("/dev/fuse"):
            raise unittest.SkipTest("no /dev/fuse")
        self.tmp = tempfile.mkdtemp(prefix="ipcfs-test.")
        os.chmod(self.tmp, 0o755)
        self.path = os.path.join(self.tmp, "mnt")
        os.mkdir(self.path)
        self.log = os.path.join(self.tmp, "daemon.log")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([*wrapper, binary or IPCFS, "-f",
                                          *options, self.path], stderr=log,
                                         env=env, preexec_fn=preexec_fn)
        for _ in range(100):
            if mounted(self.path):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        log = self.daemon_log()
        self.close()
        raise AssertionError("ipcfs did not mount: " + log)

    def __call__(self, *names):
        return os.path.join(self.path, *names)

    def daemon_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        """Unmount, stop the daemon, and fail on a sanitizer report."""
        if mounted(self.path):
            if subprocess.call(["fusermount3", "-u", "-z", self.path],
                               stderr=subprocess.DEVNULL) != 0:
                subprocess.call(["umount", "-l", self.path],
                                stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        log = self.daemon_log()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if SANITIZER.search(log):
            raise AssertionError("sanitizer report from the daemon:\n" + log)


class MountedTestCase(unittest.TestCase):
    """A test class with one ipcfs mount, self.mnt, shared by its tests."""

    options = ()

    @classmethod
    def setUpClass(cls):
        cls.mnt = Mount(*cls.options)

    @classmethod
    def tearDownClass(cls):
        cls.mnt.close()


class HangGuard(Exception):
    pass


class GuardedTestCase(MountedTestCase):
    """A mounted test class whose tests end within guard seconds (a hang
    guard, never a measurement) and always close the descriptors in
    self.fds and kill the processes in self.procs; self.count numbers the
    channels a test makes."""

    guard = 60

    def setUp(self):
        self.fds = set()
        self.procs = []
        self.count = 0
        signal.signal(signal.SIGALRM, self._hang)
        signal.alarm(self.guard)

    def tearDown(self):
        signal.alarm(0)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                if f is not None:
                    f.close()
        for fd in self.fds:
            # A bridged channel's close says whether what was written
            # was stored (EIO, EPIPE); the descriptor is closed anyway.
            try:
                os.close(fd)
            except OSError as e:
                if e.errno == errno.EBADF:
                    raise

    @staticmethod
    def _hang(signum, frame):
        raise HangGuard("hang guard: the test did not finish")

    def close(self, fd):
        self.fds.remove(fd)
        os.close(fd)
