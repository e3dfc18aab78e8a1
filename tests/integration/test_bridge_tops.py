"""Bridged tops (issue 20): a bridged directory's top has a name of its
own in the cluster, and marking a directory asks the cluster first.  Two
ipcfs daemons, hosts A and B, on one nats-server (test_bridge.BridgeCase).

- One top a tree: a directory below a top bridged elsewhere (A bridged
  lab, B bridges lab/x) or above one (A bridged top/x, B bridges top) is
  refused with EBUSY, and nothing changes on either host or in the
  bucket.
- A mark waits for the bucket: with the server frozen (SIGSTOP) the
  setxattr waits asleep (S, never D), a signal ends it with EINTR, and
  the directory stays unbridged; once the server is back a mark works
  and the directory takes the cluster's owner and mode.  Left alone, a
  mark the frozen cluster cannot answer gets ETIMEDOUT by itself, and
  so does a channel setting that must ask the stream what it holds;
  neither changes anything, and the setting works again once the
  server is back (EBUSY until then).
- This host's own changes stick: four bursts of ten chmods of a channel
  in a row on A each end with A and B both showing the last one, and A never shows an
  older mode again once its chmod returned (older values of the key come
  back from the bucket after it, and must not be applied); the same for
  renames, removals and names made again, on the host that made them.

Every wait is bounded as a hang guard.  At the end of each test both
daemons must still run and answer (natstest.Host.trouble).
"""

import errno
import os
import signal
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msgtest  # noqa: E402
import natstest  # noqa: E402
import test_bridge  # noqa: E402
from test_bridge_attack import kv_get  # noqa: E402

BRIDGE = test_bridge.BRIDGE
CAPACITY = test_bridge.CAPACITY
WAIT = test_bridge.WAIT
NAMES = "ipcfs_names"
# How long a mark must still be waiting while the server is frozen before
# it is interrupted: a hang guard, not a measurement.
HELD = 2.0


class TopsCase(test_bridge.BridgeCase):
    hosts = 2

    def tearDown(self):
        try:
            for h in self.all:
                self.assertIsNone(h.trouble("local-%s" % self.dir))
        finally:
            super().tearDown()

    def refused(self, path, want, what):
        with self.assertRaises(OSError, msg=what) as cm:
            os.setxattr(path, BRIDGE, b"nats")
        self.assertEqual(cm.exception.errno, want, "%s: %s" % (
            what, cm.exception))

    def unbridged(self, path):
        with self.assertRaises(OSError) as cm:
            os.getxattr(path, BRIDGE)
        self.assertEqual(cm.exception.errno, errno.ENODATA)


class OneTop(TopsCase):

    def test_below_a_top_is_busy(self):
        A, B = self.A, self.B
        top = self.dir
        self.bridged(A, name=top)
        os.mkdir(A(top, "x"), 0o755)
        self.until("key %s.x in the bucket" % top, lambda: kv_get(
            self.server.url, NAMES, top + ".x") is not None)
        os.mkdir(B(top), 0o755)
        os.mkdir(B(top, "x"), 0o755)
        self.refused(B(top, "x"), errno.EBUSY, "B bridges %s/x" % top)
        self.unbridged(B(top, "x"))
        self.assertEqual(os.listdir(B(top, "x")), [])
        # Nothing went to A: its x is as it was, and still a directory.
        self.assertTrue(stat.S_ISDIR(os.stat(A(top, "x")).st_mode))
        self.assertEqual(os.listdir(A(top)), ["x"])

    def test_above_a_top_is_busy(self):
        A, B = self.A, self.B
        top = self.dir
        os.mkdir(A(top), 0o755)
        self.bridged(A, name=os.path.join(top, "x"))
        os.close(os.open(A(top, "x", "c"), os.O_CREAT | os.O_WRONLY, 0o600))
        self.until("key %s.x.c in the bucket" % top, lambda: kv_get(
            self.server.url, NAMES, top + ".x.c") is not None)
        os.mkdir(B(top), 0o777)
        self.refused(B(top), errno.EBUSY, "B bridges %s, above A's top"
                     % top)
        self.unbridged(B(top))
        self.assertEqual(os.listdir(B(top)), [])
        # No key, or a delete marker (a refused mark takes back its key).
        self.assertIn(kv_get(self.server.url, NAMES, top), (None, b""))
        self.assertEqual(os.listdir(A(top, "x")), ["c"])


class MarkWaits(TopsCase):

    def test_mark_with_the_server_frozen(self):
        A, B = self.A, self.B
        top = self.dir
        os.mkdir(A(top))
        os.chmod(A(top), 0o750)
        os.chown(A(top), 1000, 1000)
        natstest.mark(A(top))
        self.until("key %s in the bucket" % top, lambda: kv_get(
            self.server.url, NAMES, top) is not None)
        os.mkdir(B(top))
        os.chmod(B(top), 0o777)
        self.server.proc.send_signal(signal.SIGSTOP)
        try:
            p = subprocess.Popen(["setfattr", "-n", BRIDGE, "-v", "nats",
                                  B(top)], stderr=subprocess.DEVNULL)
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
            time.sleep(HELD)
            self.assertIsNone(p.poll(), "the mark answered with the "
                              "server frozen")
            state, wchan = msgtest.task_state(p.pid)
            self.assertEqual(state, "S", "the mark waits in %s (%s)" % (
                state, wchan))
            p.send_signal(signal.SIGINT)
            try:
                p.wait(WAIT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fail("SIGINT did not end the waiting mark")
            self.assertNotEqual(p.returncode, 0)
        finally:
            self.server.proc.send_signal(signal.SIGCONT)
        self.unbridged(B(top))
        st = os.stat(B(top))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o777))
        # Back: B's mark takes the cluster's owner and mode.
        natstest.mark(B(top))
        st = os.stat(B(top))
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (1000, 1000, 0o750))

    def waits_then(self, argv):
        """Run argv (a python setxattr, printing the errno's name) with the
        server frozen: it waits asleep (S, never D) and ends by itself
        within the hang guard; what it printed."""
        self.server.proc.send_signal(signal.SIGSTOP)
        try:
            p = subprocess.Popen([sys.executable, "-c", SETX, *argv],
                                 stdout=subprocess.PIPE, text=True)
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
            state = msgtest.wait_asleep(p.pid)
            self.assertEqual(state, "S", "the call waits in %s" % state)
            try:
                out, _ = p.communicate(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.fail("the call still waits after %ds" % WAIT)
        finally:
            self.server.proc.send_signal(signal.SIGCONT)
        return out.strip()

    def test_mark_times_out(self):
        """A mark the frozen cluster cannot answer gets ETIMEDOUT by
        itself (the kernel holds the directory's lock meanwhile, so it
        must not wait for ever), and the directory stays unbridged."""
        A, B = self.A, self.B
        top = self.dir
        self.bridged(A, name=top)
        self.until("key %s in the bucket" % top, lambda: kv_get(
            self.server.url, NAMES, top) is not None)
        os.mkdir(B(top))
        self.assertEqual(self.waits_then([B(top), BRIDGE, "nats"]),
                         "ETIMEDOUT")
        self.unbridged(B(top))
        natstest.mark(B(top))

    def test_setting_times_out(self):
        """A channel setting that must ask the frozen cluster what the
        stream holds gets ETIMEDOUT by itself, and changes nothing."""
        A, B = self.A, self.B
        self.bridged()
        p = self.made(A, "c", capacity=65536)
        self.assertEqual(self.waits_then([p, CAPACITY, "8192"]),
                         "ETIMEDOUT")
        for h in (A, B):
            self.assertEqual(os.getxattr(h(self.dir, "c"), CAPACITY),
                             b"65536")
        # EBUSY until the stream answers the setting that timed out.
        got = []

        def again():
            try:
                os.setxattr(p, CAPACITY, b"8192")
            except OSError as e:
                got.append(errno.errorcode[e.errno])
                self.assertIn(got[-1], ("EBUSY", "ETIMEDOUT"))
                return False
            return True
        self.until("the setting works again (%s)" % got, again)
        self.settled(B(self.dir, "c"), capacity=8192)


# argv: path, name, value; prints OK or the errno's name.
SETX = """import errno, os, sys
try:
    os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
"""


class OwnChanges(TopsCase):

    def test_chmods_in_a_row_stick(self):
        A, B = self.A, self.B
        self.bridged()
        p = self.made(A, "c")
        q = B(self.dir, "c")
        modes = [0o600, 0o644, 0o640, 0o604, 0o660, 0o606, 0o664, 0o646,
                 0o666, 0o640]
        # Four bursts, each ending on another mode.
        for burst in range(4):
            modes = modes[3:] + modes[:3]
            seen = []
            for m in modes:
                os.chmod(p, m)
                seen.append(stat.S_IMODE(os.stat(p).st_mode))
            last = modes[-1]
            # While the puts before the last come back from the bucket.
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                seen.append(stat.S_IMODE(os.stat(p).st_mode))
            self.assertEqual(seen[:len(modes)], modes)
            older = sorted({"%o" % m for m in seen[len(modes):]
                            if m != last})
            self.assertEqual(older, [], "burst %d: A showed older modes "
                             "after its last chmod, %o" % (burst, last))
        # Last, a mode no umask gives a new channel: B must take it.
        last = 0o604
        os.chmod(p, last)
        self.until("B shows mode %o" % last,
                   lambda: stat.S_IMODE(os.stat(q).st_mode) == last)
        # A while more: nothing older comes back on either host.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            for path, host in ((p, "A"), (q, "B")):
                got = stat.S_IMODE(os.stat(path).st_mode)
                self.assertEqual(got, last, "%s went back to %o" % (
                    host, got))
            time.sleep(0.02)

    def watch(self, d, want, what):
        """List d for a while (0.3 s): it must be want each time."""
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            got = sorted(os.listdir(d))
            self.assertEqual(got, want, "%s: B listed %s" % (what, got))

    def test_renames_and_removals_stick(self):
        """B makes a channel and at once renames it, renames it back,
        removes it, makes a directory of its name and removes that: its
        listing never shows a name as it was before (the puts before come
        back from the bucket after each change).  Then once more with the
        channel made on A."""
        A, B = self.A, self.B
        self.bridged()
        d = B(self.dir)
        for i in range(6):
            m, m2 = "m%d" % i, "n%d" % i
            if i < 5:
                os.close(os.open(os.path.join(d, m), os.O_CREAT |
                                 os.O_WRONLY, 0o644))
            else:
                self.made(A, m)
            os.rename(os.path.join(d, m), os.path.join(d, m2))
            self.watch(d, [m2], "rename %s %s" % (m, m2))
            os.rename(os.path.join(d, m2), os.path.join(d, m))
            self.watch(d, [m], "rename %s %s" % (m2, m))
            os.unlink(os.path.join(d, m))
            self.watch(d, [], "rm %s" % m)
            os.mkdir(os.path.join(d, m))
            self.watch(d, [m], "mkdir %s" % m)
            os.rmdir(os.path.join(d, m))
            self.watch(d, [], "rmdir %s" % m)
            self.until("A has none of %s" % m, lambda: os.listdir(
                A(self.dir)) == [])


if __name__ == "__main__":
    unittest.main()
