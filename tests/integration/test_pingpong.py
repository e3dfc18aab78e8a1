"""The seed scenario: docs/examples/pingpong.py and pingpong.c exchange
request/reply messages over two channels of a real ipcfs mount, each way
round, and whichever side is killed, the other exits with end of file or
EPIPE instead of hanging."""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

PY = "/usr/bin/python3"
EXAMPLES = os.path.join(ipcfs_test.TOP, "docs", "examples")
C_PROG = os.path.join(ipcfs_test.TOP, "build", "examples", "pingpong")
PY_PROG = os.path.join(EXAMPLES, "pingpong.py")

# Hang guards only: nothing here is a measurement.
GUARD = 60
PEER_GONE = re.compile(r"\((end of file|EPIPE)\) after (\d+)")


def command(lang, role, directory, count=None):
    argv = [C_PROG] if lang == "c" else [PY, PY_PROG]
    argv += [role, directory]
    if count is not None:
        argv.append(str(count))
    return argv


def io_count(pid, field):
    """A counter from /proc/PID/io, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == field:
                    return int(value)
    except OSError:
        return None
    return None


class PingPong(ipcfs_test.MountedTestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(C_PROG, os.X_OK):
            raise unittest.SkipTest(f"{C_PROG} not built "
                                    "(make build/examples/pingpong)")
        super().setUpClass()

    def setUp(self):
        # Fresh channels for every run: a killed run may leave data behind.
        self.dir = self.mnt(self.id().rsplit(".", 1)[-1])
        os.mkdir(self.dir)
        self.procs = []
        self.peers = []
        self.env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
        for p in self.peers:
            p.kill()
            p.wait()
            p.stdin.close()

    def start(self, lang, role, count=None):
        p = subprocess.Popen(command(lang, role, self.dir, count),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=self.env,
                             text=True)
        self.procs.append(p)
        return p

    def finish(self, p):
        """Wait for p (bounded by the hang guard); its status and output."""
        try:
            out, _ = p.communicate(timeout=GUARD)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            self.fail(f"{p.args} hung; output so far: {out!r}")
        return p.returncode, out

    def round_trips(self, client_lang, server_lang):
        server = self.start(server_lang, "server")
        client = self.start(client_lang, "client", 1000)
        rc, out = self.finish(client)
        self.assertEqual(rc, 0, out)
        self.assertIn("pingpong client: 1000 round trips, every reply "
                      "checked", out)
        rc, out = self.finish(server)
        self.assertEqual(rc, 0, out)
        self.assertIn("pingpong server: client closed req (end of file) "
                      "after 1000 requests", out)

    def test_python_client_c_server(self):
        self.round_trips("py", "c")

    def test_c_client_python_server(self):
        self.round_trips("c", "py")

    def test_client_first(self):
        """The client may start first: its first request waits in req."""
        client = self.start("py", "client", 1000)
        # The client has written its first request once its write count
        # moves; with no server it must then wait for the reply, not fail.
        self.wait_writes(client, 1)
        self.wait_asleep(client)
        server = self.start("c", "server")
        rc, out = self.finish(client)
        self.assertEqual(rc, 0, out)
        rc, out = self.finish(server)
        self.assertEqual(rc, 0, out)

    def wait_writes(self, p, n):
        """Wait until p has made n write calls (it writes only messages)."""
        deadline = time.monotonic() + GUARD
        while True:
            count = io_count(p.pid, "syscw")
            if count is not None and count >= n:
                return
            if p.poll() is not None:
                self.fail(f"{p.args} exited early: {self.finish(p)}")
            if time.monotonic() > deadline:
                self.fail(f"{p.args} made no progress")
            time.sleep(0.02)

    def wait_asleep(self, p):
        """Wait until p sleeps in a FUSE request (a held read or write)."""
        deadline = time.monotonic() + GUARD
        while True:
            try:
                with open(f"/proc/{p.pid}/wchan") as f:
                    wchan = f.read()
            except OSError:
                wchan = ""
            # Without kernel symbols the wait channel reads as 0.
            if wchan == "0" or "wait_answer" in wchan or "fuse" in wchan:
                return
            if p.poll() is not None:
                self.fail(f"{p.args} exited early: {self.finish(p)}")
            if time.monotonic() > deadline:
                self.fail(f"{p.args} never waited in ipcfs")
            time.sleep(0.02)

    def kill_mid_run(self, victim, client_lang, server_lang):
        """Kill one side in the middle of an endless exchange; the other
        must report that its peer went away and exit by itself."""
        server = self.start(server_lang, "server")
        client = self.start(client_lang, "client", 10 ** 9)
        # The client's second request proves the first round trip done,
        # so both sides have both channels open.
        self.wait_writes(client, 2)
        killed, other = (server, client) if victim == "server" else \
            (client, server)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=GUARD)
        rc, out = self.finish(other)
        m = PEER_GONE.search(out)
        self.assertIsNotNone(m, f"no end of file or EPIPE report: {out!r}")
        self.assertGreaterEqual(int(m.group(2)), 1, out)
        if victim == "server":
            self.assertEqual(rc, 1, out)
            self.assertRegex(out, r"^pingpong client: server closed (req|rep)")
        else:
            self.assertIn(rc, (0, 1), out)
            self.assertRegex(out, r"^pingpong server: client closed (req|rep)")
        self.assertNotIn("Traceback", out)

    def test_kill_c_server(self):
        self.kill_mid_run("server", "py", "c")

    def test_kill_c_client(self):
        self.kill_mid_run("client", "c", "py")

    def test_kill_python_server(self):
        self.kill_mid_run("server", "c", "py")

    def test_kill_python_client(self):
        self.kill_mid_run("client", "py", "c")

    def half_closing_peer(self, role):
        """A stand-in for the other side that answers one round trip, then
        closes the channel it reads from but keeps the other open until
        its stdin closes, so the example meets EPIPE, not end of file."""
        code = HALF_CLOSING_SERVER if role == "server" else \
            HALF_CLOSING_CLIENT
        p = subprocess.Popen([PY, "-c", code, self.dir],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             env=self.env)
        self.peers.append(p)
        return p

    def epipe(self, lang, role):
        peer = self.half_closing_peer("server" if role == "client" else
                                      "client")
        p = self.start(lang, role, 1000 if role == "client" else None)
        rc, out = self.finish(p)
        peer.stdin.close()
        self.assertEqual(peer.wait(GUARD), 0)
        self.assertEqual(rc, 1, out)
        other = "server" if role == "client" else "client"
        self.assertRegex(out, rf"^pingpong {role}: {other} closed "
                         rf"(req|rep) \(EPIPE\) after 1 ")

    def test_c_client_epipe(self):
        self.epipe("c", "client")

    def test_python_client_epipe(self):
        self.epipe("py", "client")

    def test_c_server_epipe(self):
        self.epipe("c", "server")

    def test_python_server_epipe(self):
        self.epipe("py", "server")


# Reads "ping 1", answers it, closes req and waits on stdin: the client's
# next request fails with EPIPE.
HALF_CLOSING_SERVER = r"""
import os, sys
req = os.open(sys.argv[1] + "/req", os.O_RDONLY | os.O_CREAT, 0o666)
rep = os.open(sys.argv[1] + "/rep", os.O_WRONLY | os.O_CREAT, 0o666)
buf = b""
while not buf.endswith(b"\n"):
    buf += os.read(req, 100)
assert buf == b"ping 1\n", buf
os.close(req)
os.write(rep, b"pong 1\n")
sys.stdin.read()
"""

# Sends "ping 1", reads the reply, closes rep and sends "ping 2": the
# server's reply to it fails with EPIPE.
HALF_CLOSING_CLIENT = r"""
import os, sys
req = os.open(sys.argv[1] + "/req", os.O_WRONLY | os.O_CREAT, 0o666)
rep = os.open(sys.argv[1] + "/rep", os.O_RDONLY | os.O_CREAT, 0o666)
os.write(req, b"ping 1\n")
buf = b""
while not buf.endswith(b"\n"):
    buf += os.read(rep, 100)
assert buf == b"pong 1\n", buf
os.close(rep)
os.write(req, b"ping 2\n")
sys.stdin.read()
"""


if __name__ == "__main__":
    unittest.main(verbosity=2)
