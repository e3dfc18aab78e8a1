"""Daemon faults and unmounting, with callers blocked on the mount.

- SIGTERM to the daemon: every caller blocked in read, write or poll
  returns with an error, the mount goes away and the daemon exits 0.
- SIGKILL to the daemon: the kernel aborts the connection, so every
  blocked caller returns at once with an error; the mount point is left
  stale (ENOTCONN), and starting ipcfs on it says so in one line, with the
  command that fixes it, and exits 1.  After that command a new ipcfs
  mounts there.
- A hung daemon (stopped with SIGSTOP): a caller whose request it holds
  cannot die, not even of SIGKILL, and 'umount -l' does not free it.  The
  remedies that do: writing to /sys/fs/fuse/connections/N/abort, or
  killing the daemon with SIGKILL.
- Unmounting a busy mount (a process's working directory or an open file
  in it) fails with fusermount3's "Device or resource busy", and the
  mount goes on working.
- A client killed while it holds a mapping of a channel's region, blocked
  in a read on the same channel or storing into the mapping, leaves the
  channel working for everybody else, region and stream, and the daemon's
  counters come back once the channel is gone (passthrough and pagecache,
  where the kernel has them).

Blocked callers are child processes; a call is known to be blocked when
/proc/PID/wchan shows the kernel waiting for the daemon's answer (or in
poll).  Waits are bounded only as hang guards.
"""

import errno
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcfs_test import IPCFS, SANITIZER, Mount, figures, mounted  # noqa: E402

PY = "/usr/bin/python3"
GUARD = 15.0
FUSECTL = "/sys/fs/fuse/connections"

# Blocked callers.  Each prints "ready" once set up, then one line with its
# result: "ok N", "eof", "poll REVENTS then ok N|err ERRNO", "err ERRNO".
CHILD = r'''
import errno, os, select, sys
what, path = sys.argv[1], sys.argv[2]

def say(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()

try:
    if what == "read":
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
        say("ready")
        d = os.read(fd, 100)
        say("ok %d" % len(d) if d else "eof")
    elif what == "write":
        r = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
        fd = os.open(path, os.O_WRONLY)
        say("ready")
        while True:
            os.write(fd, b"w" * 4096)
    elif what == "poll":
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
        p = select.poll()
        p.register(fd, select.POLLIN)
        say("ready")
        ev = p.poll(-1)
        try:
            d = os.read(fd, 100)
            say("poll %r then ok %d" % (ev, len(d)))
        except OSError as e:
            say("poll %r then err %d" % (ev, e.errno))
    elif what == "mapread":
        import mmap
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, 65536)
        m = mmap.mmap(fd, 65536)
        m[:] = bytes([0x5a]) * 65536
        say("ready")
        d = os.read(fd, 100)
        say("ok %d" % len(d) if d else "eof")
    elif what == "mapstore":
        import mmap
        fd = os.open(path, os.O_RDWR)
        m = mmap.mmap(fd, 65536)
        say("ready")
        i = 0
        while True:
            m[32768 + i % 32768] = 0xa5
            i += 1
except OSError as e:
    say("err %d" % e.errno)
'''


def wchan(pid):
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return f.read()
    except OSError:
        return ""


def state(pid):
    """The process state letter, or None once it is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    st = s[s.rindex(")") + 2]
    return None if st in "ZX" else st


class Caller:
    """A child process doing one blocking call on the mount."""

    def __init__(self, what, path):
        self.what = what
        self.proc = subprocess.Popen([PY, "-c", CHILD, what, path],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.kill()
            raise AssertionError("%s caller did not start: %r" % (what, line))

    @property
    def pid(self):
        return self.proc.pid

    def wait_blocked(self, want=("request_wait_answer",)):
        """Wait until the call sleeps where want says (a hang guard)."""
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            w = wchan(self.pid)
            if any(x in w for x in want):
                return
            if self.proc.poll() is not None:
                raise AssertionError("%s caller ended instead of blocking: "
                                     "%r" % (self.what, self.proc.stdout.read()))
            time.sleep(0.02)
        raise AssertionError("%s caller never blocked (wchan %r)"
                             % (self.what, wchan(self.pid)))

    def result(self):
        """Its result line; fails if it does not end (a hang guard)."""
        try:
            out, _ = self.proc.communicate(timeout=GUARD)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s caller still blocked after %.0f s "
                                 "(state %s, wchan %r)" % (
                                     self.what, GUARD, state(self.pid),
                                     wchan(self.pid)))
        return out.strip()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=GUARD)
        except subprocess.TimeoutExpired:
            pass


def conn_of(path):
    """The FUSE connection number of a mount, from mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path and " - fuse" in line:
                return int(fields[2].split(":")[1])
    raise AssertionError("%s is not in mountinfo" % path)


def stats(path):
    """The daemon's level counters (user.ipcfs.stats), as a dict of ints;
    the requests_* counters only ever grow and are left out."""
    return {k: v for k, v in figures(path).items()
            if not k.startswith("requests_")}


def errno_of(line):
    """The errno of an "err N" or "... then err N" result, or None."""
    parts = line.split()
    if len(parts) >= 2 and parts[-2] == "err":
        return int(parts[-1])
    return None


class FaultTest(unittest.TestCase):
    """Each test mounts its own ipcfs, as most of them break it."""

    options = ()

    def setUp(self):
        self.m = Mount(*self.options)
        self.callers = []

    def tearDown(self):
        for c in self.callers:
            c.kill()
        if self.m.proc.poll() is None:
            try:
                os.kill(self.m.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.m.close()

    def caller(self, what, name):
        c = Caller(what, self.m(name))
        self.callers.append(c)
        return c

    def blocked_callers(self):
        r = self.caller("read", "r")
        w = self.caller("write", "w")
        p = self.caller("poll", "p")
        r.wait_blocked()
        w.wait_blocked()
        p.wait_blocked(("poll",))
        return r, w, p

    def wait_daemon(self):
        try:
            return self.m.proc.wait(timeout=GUARD)
        except subprocess.TimeoutExpired:
            self.fail("the daemon did not exit")


class DaemonDeath(FaultTest):

    def test_sigterm_releases_blocked_callers(self):
        r, w, p = self.blocked_callers()
        self.m.proc.send_signal(signal.SIGTERM)
        res = {c.what: c.result() for c in (r, w, p)}
        for what, line in res.items():
            self.assertIsNotNone(errno_of(line),
                                 "%s after SIGTERM: %r" % (what, line))
        # Held requests are answered before the daemon goes.
        self.assertEqual(errno_of(res["read"]), errno.ENOTCONN, res)
        self.assertEqual(errno_of(res["write"]), errno.ENOTCONN, res)
        self.assertEqual(self.wait_daemon(), 0)
        self.assertFalse(mounted(self.m.path), "still mounted after SIGTERM")

    def test_sigkill_releases_blocked_callers_and_stale_mount(self):
        r, w, p = self.blocked_callers()
        self.m.proc.send_signal(signal.SIGKILL)
        for c in (r, w, p):
            res = c.result()
            self.assertIn(errno_of(res), (errno.ECONNABORTED, errno.ENOTCONN),
                          "%s after SIGKILL: %r" % (c.what, res))
        self.wait_daemon()

        # The mount point is stale until someone unmounts it.
        self.assertTrue(mounted(self.m.path))
        with self.assertRaises(OSError) as cm:
            os.stat(self.m.path)
        self.assertEqual(cm.exception.errno, errno.ENOTCONN)

        # A new ipcfs there explains in one line, with the fix, and fails.
        res = subprocess.run([IPCFS, "-f", self.m.path], capture_output=True,
                             text=True, timeout=GUARD)
        self.assertEqual(res.returncode, 1, res.stderr)
        lines = res.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertIn("dead ipcfs is still mounted", lines[0])
        self.assertIn("fusermount3 -u %s" % self.m.path, lines[0])
        self.assertTrue(mounted(self.m.path))

        # The fix it names works, and ipcfs mounts again.
        subprocess.run(["fusermount3", "-u", self.m.path], check=True,
                       timeout=GUARD)
        self.assertFalse(mounted(self.m.path))
        log = self.m.log + ".again"
        with open(log, "wb") as f:
            again = subprocess.Popen([IPCFS, "-f", self.m.path], stderr=f)
        try:
            for _ in range(100):
                if mounted(self.m.path) or again.poll() is not None:
                    break
                time.sleep(0.1)
            self.assertTrue(mounted(self.m.path), "ipcfs did not mount")
            self.assertEqual(os.listdir(self.m.path), [])
        finally:
            subprocess.call(["fusermount3", "-u", self.m.path])
            try:
                again.wait(timeout=GUARD)
            except subprocess.TimeoutExpired:
                again.kill()
                again.wait()
        with open(log) as f:
            text = f.read()
        self.assertEqual(again.returncode, 0, text)
        self.assertNotRegex(text, SANITIZER)


class HungDaemon(FaultTest):
    """A daemon that stops answering (SIGSTOP stands in for a hang)."""

    def unkillable_reader(self):
        r = self.caller("read", "r")
        r.wait_blocked()
        self.m.proc.send_signal(signal.SIGSTOP)
        r.proc.kill()
        # The kernel waits for the daemon's answer to the interrupt; the
        # caller sleeps uninterruptibly until then.  Its state says D a
        # moment before it is asleep and /proc shows where (wchan 0 while
        # it still runs on its way there): wait for both.
        deadline = time.monotonic() + GUARD
        while (state(r.pid) != "D" or
               "request_wait_answer" not in wchan(r.pid)) and \
                state(r.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(state(r.pid), "D",
                         "a caller of a hung daemon died of SIGKILL?")
        self.assertIn("request_wait_answer", wchan(r.pid),
                      "the killed caller waits elsewhere than for the daemon")
        subprocess.call(["umount", "-l", self.m.path])
        # umount -l has returned: had it ended the request, the caller
        # would be running its exit now, no longer asleep in it.
        self.assertEqual(state(r.pid), "D",
                         "umount -l freed a caller of a hung daemon?")
        self.assertIn("request_wait_answer", wchan(r.pid),
                      "umount -l freed a caller of a hung daemon?")
        return r

    def test_abort_frees_callers(self):
        mounted_here = False
        with open("/proc/mounts") as f:
            have = any(l.split()[1] == FUSECTL for l in f)
        if not have:
            if subprocess.call(["mount", "-t", "fusectl", "none",
                                FUSECTL]) != 0:
                self.skipTest("cannot mount fusectl on " + FUSECTL)
            mounted_here = True
        try:
            conn = conn_of(self.m.path)
            r = self.unkillable_reader()
            with open(os.path.join(FUSECTL, str(conn), "abort"), "w") as f:
                f.write("1")
            r.result()
            self.assertEqual(r.proc.returncode, -signal.SIGKILL)
        finally:
            if mounted_here:
                subprocess.call(["umount", FUSECTL])
        self.m.proc.send_signal(signal.SIGCONT)
        self.wait_daemon()

    def test_sigkill_to_daemon_frees_callers(self):
        r = self.unkillable_reader()
        self.m.proc.send_signal(signal.SIGKILL)
        r.result()
        self.assertEqual(r.proc.returncode, -signal.SIGKILL)
        self.wait_daemon()


class BusyUnmount(FaultTest):

    def check_busy(self, holder):
        res = subprocess.run(["fusermount3", "-u", self.m.path],
                             capture_output=True, text=True, timeout=GUARD)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("busy", res.stderr)
        self.assertIn(self.m.path, res.stderr)
        res = subprocess.run(["umount", self.m.path], capture_output=True,
                             text=True, timeout=GUARD)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("busy", res.stderr)
        # Still mounted, still working.
        self.assertTrue(mounted(self.m.path))
        self.assertIsNone(self.m.proc.poll())
        path = self.m("after")
        w = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.assertEqual(os.write(w, b"still here"), 10)
        self.assertEqual(os.read(r, 100), b"still here")
        os.close(w)
        os.close(r)
        os.unlink(path)
        holder.kill()
        holder.wait(timeout=GUARD)
        subprocess.run(["fusermount3", "-u", self.m.path], check=True,
                       timeout=GUARD)
        self.assertEqual(self.wait_daemon(), 0)

    def test_cwd_in_mount(self):
        holder = subprocess.Popen(["sleep", "60"], cwd=self.m.path)
        self.addCleanup(holder.kill)
        self.check_busy(holder)

    def test_open_file_in_mount(self):
        path = self.m("held")
        holder = subprocess.Popen([PY, "-c", "import os, sys, time\n"
                                   "fd = os.open(sys.argv[1], os.O_RDWR | "
                                   "os.O_CREAT)\nprint('ready', flush=True)\n"
                                   "time.sleep(60)", path],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.stdout.close)
        self.addCleanup(holder.kill)
        self.assertEqual(holder.stdout.readline().strip(), "ready")
        self.check_busy(holder)


class KilledMapper:
    """Mixed into a FaultTest with a region mode in options."""

    def setUp(self):
        try:
            super().setUp()
        except AssertionError as e:
            if "not available" in str(e):
                self.skipTest(str(e).splitlines()[-1])
            raise

    def test_killed_holding_a_mapping(self):
        base = stats(self.m.path)
        path = self.m("chan")
        # Mapped, stored into, then blocked in a read of the same channel.
        a = self.caller("mapread", "chan")
        a.wait_blocked()
        a.proc.kill()
        a.result()
        self.assertEqual(a.proc.returncode, -signal.SIGKILL)
        # Killed while storing into the mapping.
        b = self.caller("mapstore", "chan")
        time.sleep(0.05)
        b.proc.kill()
        b.result()
        self.assertEqual(b.proc.returncode, -signal.SIGKILL)

        import mmap
        fd = os.open(path, os.O_RDWR)
        self.assertEqual(os.fstat(fd).st_size, 65536)
        m = mmap.mmap(fd, 65536)
        # What the first stored, and the second over its half.
        self.assertTrue(m[:32768] == b"\x5a" * 32768,
                        "the first half changed")
        self.assertEqual(set(m[32768:]) - {0x5a, 0xa5}, set(),
                         "the region holds bytes nobody stored")
        self.assertIn(0xa5, m[32768:])
        m[:] = b"\x01" * 65536
        ro = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        m2 = mmap.mmap(ro, 65536, prot=mmap.PROT_READ)
        self.assertTrue(m2[:] == b"\x01" * 65536,
                        "a new mapping does not see the stores")
        # The stream of the same channel works beside the region.
        self.assertEqual(os.write(fd, b"ping"), 4)
        self.assertEqual(os.read(ro, 100), b"ping")
        with self.assertRaises(BlockingIOError):
            os.read(ro, 100)
        st = stats(self.m.path)
        self.assertEqual((st["held_requests"], st["held_bytes"]), (0, 0))
        m2.close()
        m.close()
        os.close(ro)
        os.close(fd)
        os.truncate(path, 0)
        os.unlink(path)
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            st = stats(self.m.path)
            if st == base:
                break
            time.sleep(0.05)
        self.assertEqual(st, base, "counters after the channel went")


class KilledMapperPassthrough(KilledMapper, FaultTest):
    options = ("-o", "region=passthrough")


class KilledMapperPagecache(KilledMapper, FaultTest):
    options = ("-o", "region=pagecache")


if __name__ == "__main__":
    unittest.main(verbosity=2)
