"""Attacks on the bridge's login and TLS (issue 20, point 4), by a local
user and by a hostile peer on the network, with real daemons, a real
nats-server and, for the peer, a small fake server of the test's.  Each
test reproduces one weakness found in review; what it should be is in
its docstring.

- Secrets that still show: a nats= URL whose password or token has a '/'
  (libnats takes everything up to the last '@' as user information, the
  redaction stops at the first '/'), in /proc/PID/cmdline, /proc/mounts
  and the log; one with a backslash (written "\\\\" in -o), in
  /proc/PID/cmdline; a mistyped option name (nat=URL) in libfuse's
  "unknown option" line.
- The server's words go to the log as they came: control characters
  (an escape sequence, a carriage return) included.
- Files: a CA file (nats_ca) others can write is trusted; a creds file
  swapped for another user's while the daemon runs is used, without a
  word, at the next reconnection (libnats reads it again by its path).
- A peer on the server's address that says tls_required and then never
  answers the TLS handshake: libnats's handshake has no timeout, so a
  mount in the background never returns, and in the foreground the
  mount is there but answers nothing, local channels included.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import natsauth
import natstest
import test_bridge_auth as auth
from ipcfs_test import IPCFS, mounted

SHORT = 15          # seconds: hang guards for what should end at once


def setUpModule():
    auth.setUpModule()


def tearDownModule():
    auth.tearDownModule()


class FakeServer:
    """A TCP listener on 127.0.0.1 that acts as a NATS server: it sends
    INFO (info, a dict) to each client, keeps what the client sends in
    got, and then sends answer (bytes) and closes, or with answer None
    says nothing more and holds the connection until close()."""

    def __init__(self, info=None, answer=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.info = dict({"server_id": "FAKE", "version": "2.9.10",
                          "proto": 1, "headers": True,
                          "max_payload": 1048576}, **(info or {}))
        self.answer = answer
        self.got = []
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        try:
            c.sendall(b"INFO %s\r\n" % json.dumps(self.info).encode())
            if self.answer is None:
                return          # held open, silent
            c.settimeout(SHORT)
            buf = b""
            while b"\r\n" not in buf:
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
            self.got.append(buf)
            c.sendall(self.answer)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()


class Daemon:
    """An ipcfs started by a test that may hang: its whole process group
    is killed and its mount point lazily unmounted at close()."""

    def __init__(self, argv, mnt):
        self.mnt = mnt
        self.log = tempfile.NamedTemporaryFile(prefix="daemon.", dir=os.path
                                               .dirname(mnt), delete=False)
        self.proc = subprocess.Popen(argv, stderr=self.log,
                                     start_new_session=True)

    def lines(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        subprocess.call(["fusermount3", "-u", "-z", self.mnt],
                        stderr=subprocess.DEVNULL)
        self.log.close()


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def account_of(srv, name):
    """The account of the server's client connection called name, or
    None."""
    _, j = srv.monitor("/connz?auth=true")
    for c in (j or {}).get("connections", []):
        if c.get("name") == name:
            return c.get("account")
    return None


class AttackCase(auth.AuthCase):

    def start(self, *options, source=None, foreground=True):
        mnt = tempfile.mkdtemp(prefix="mnt.", dir=self.dir)
        argv = [IPCFS] + (["-f"] if foreground else []) + list(options)
        argv += [source, mnt] if source else [mnt]
        return self.later(Daemon(argv, mnt))

    def mounts_or_exits(self, d):
        """Wait until d's daemon mounted or exited: True if mounted."""
        auth.wait_until("mounted or exited", lambda: mounted(d.mnt) or
                        d.proc.poll() is not None, SHORT)
        return mounted(d.mnt)

    def visible(self, d, secret):
        """Where secret shows: the daemon's command line, /proc/mounts,
        its log."""
        where = []
        try:
            with open("/proc/%d/cmdline" % d.proc.pid, "rb") as f:
                if secret.encode() in f.read():
                    where.append("/proc/PID/cmdline")
        except OSError:
            pass
        with open("/proc/mounts") as f:
            if secret in f.read():
                where.append("/proc/mounts")
        if secret in d.lines():
            where.append("the log")
        return where


# -- secrets that show -------------------------------------------------------

class Leaks(AttackCase):

    def test_url_password_with_a_slash(self):
        """libnats (url.c) takes the user information up to the LAST '@'
        of the URL, so "pw/Slash-7Kq" is the password and the host logs
        in with it; opts_userinfo (src/opts.c), behind opts_redact and
        opts_scrub, stops at the first '/' and finds none.  Should be:
        the password shows as *** everywhere, as any other."""
        srv = self.server("slash", auth.ACCOUNT % (
            '      { user: host1, password: "pw/Slash-7Kq" }'), tls=False)
        url = "nats://host1:pw/Slash-7Kq@127.0.0.1:%d" % srv.port
        d = self.start("-o", "nats=" + url, source=url)
        self.assertTrue(self.mounts_or_exits(d), d.lines())
        auth.wait_until("connected", lambda: "servers" in d.lines())
        self.assertEqual(self.visible(d, "Slash-7Kq"), [])

    def test_url_token_with_a_slash(self):
        """The same for a token: nats://tok/en@host is the token
        "tok/en".  Should be: nats://***@host."""
        port = natstest.free_port()         # nobody there: it waits
        url = "nats://tok/Token-9Zz@127.0.0.1:%d" % port
        d = self.start("-o", "nats=" + url)
        self.assertTrue(self.mounts_or_exits(d), d.lines())
        auth.wait_until("started", lambda: "servers" in d.lines())
        self.assertEqual(self.visible(d, "Token-9Zz"), [])

    def test_url_password_with_a_backslash(self):
        """A backslash in a password is written "\\\\" in -o (libfuse's
        escape); opts_scrub stops at the first backslash, taking it for
        an escaped comma, and leaves the password in the command line.
        Should be: nats=nats://host1:***@..."""
        port = natstest.free_port()
        d = self.start("-o", "nats=nats://host1:bs\\\\Back-5Rr@127.0.0.1:%d"
                       % port)
        self.assertTrue(self.mounts_or_exits(d), d.lines())
        auth.wait_until("started", lambda: "servers" in d.lines())
        self.assertEqual(self.visible(d, "Back-5Rr"), [])

    def test_mistyped_option_name(self):
        """-o nat=URL (nats misspelt): libfuse prints the whole unknown
        option, password and all ("fuse: unknown option(s): `-o
        nat=nats://host1:...'"), to stderr, which fstab and systemd
        mounts send to the journal.  Should be: the line shows the URL
        redacted (src/main.c, before libfuse sees the arguments)."""
        mnt = tempfile.mkdtemp(prefix="mnt.", dir=self.dir)
        r = subprocess.run([IPCFS, "-f", "-o", "nat=nats://host1:Typo-3Pp@"
                            "127.0.0.1:4222", mnt], capture_output=True,
                           text=True, timeout=SHORT)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown option", r.stderr)
        self.assertNotIn("Typo-3Pp", r.stderr)

    def test_server_words_are_logged_raw(self):
        """A server's -ERR text goes to the log as it came (auth_report,
        src/bridge/auth.c): a peer on the server's address, or a MITM on
        nats://, writes escape sequences and carriage returns into the
        daemon's log and the terminal of whoever reads it.  Should be:
        control characters shown escaped (libbsd's strnvis)."""
        f = self.later(FakeServer(answer=b"-ERR 'Authorization Violation"
                                  b"\x1b[2J\rFORGED LINE\x07'\r\n"))
        pw = self.secret("pw", "pw-Raw-1\n")
        d = self.start("-o", "nats=nats://127.0.0.1:%d,nats_user=host1,"
                       "nats_password_file=%s" % (f.port, pw))
        auth.wait_until("exited", lambda: d.proc.poll() is not None, SHORT)
        line = d.lines()
        self.assertIn("refused the login", line)
        self.assertIsNone(re.search(r"[\x00-\x09\x0b-\x1f\x7f]", line),
                          repr(line))


# -- the files ---------------------------------------------------------------

class Files(AttackCase):

    def test_ca_file_others_can_write(self):
        """nats_ca is not a secret, so auth_open (src/bridge/auth.c)
        checks neither its owner nor its mode; but whoever can write it
        chooses whom the daemon trusts, and with a password login gets
        the password by posing as the server.  Should be: refused before
        mounting, in one line, like a secret file others can read (a CA
        or certificate file group or others can write, or of another
        user than this one or root)."""
        ca = self.path("ca-open.pem")
        with open(auth._pki.ca) as src, open(ca, "w") as dst:
            dst.write(src.read())
        os.chmod(ca, 0o666)
        port = natstest.free_port()
        d = self.start("-o", "nats=tls://127.0.0.1:%d,nats_ca=%s" % (port,
                                                                      ca))
        self.assertFalse(self.mounts_or_exits(d), "a CA file mode 0666 "
                         "was taken: " + d.lines())
        self.assertEqual(d.proc.returncode, 1)
        self.assertRegex(d.lines(), r"nats_ca: %s: .*0666" % re.escape(ca))

    def test_creds_swapped_while_running(self):
        """The owner and mode of nats_creds are checked at the start
        only (auth_check, auth_recheck); libnats reads the file again by
        its path at every reconnection.  A local user who can write the
        file's directory swaps in a creds file of their own (their uid,
        mode 600, which the start would refuse) and, at the next
        reconnection, the daemon logs in as their user, in their
        account, and sends them this host's channels, without a word.
        Now: a secret file in a directory others may write (and not
        sticky) is refused at the start, as ssh refuses one, so no one
        but root can swap it later."""
        if os.geteuid() != 0:
            self.skipTest("needs root, to give a file to another user")
        op = natsauth.Operator()
        mine = op.account("IPCFS")
        theirs = op.account("MALLORY")
        conf = self.path("op.conf")
        natsauth.secret_file(conf, op.config())
        srv = self.later(auth.ConfServer("op", conf, tmpdir=self.dir))
        shared = self.path("shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        creds = os.path.join(shared, "host.creds")
        natsauth.secret_file(creds, natsauth.creds(*op.user(mine, "host1")))
        # A directory where others may replace the file is refused at
        # the start, in one line: no swap can happen later.
        with self.assertRaises(AssertionError) as cm:
            self.host(srv.url, "-o", "nats_creds=" + creds)
        self.assertIn("refused: others may replace it", str(cm.exception))
        # In a directory only root may write, the swap cannot be made.
        os.chmod(shared, 0o755)
        h = self.host(srv.url, "-o", "nats_creds=" + creds)
        auth.wait_until("logged in", lambda: account_of(srv, h.id))
        self.assertEqual(account_of(srv, h.id), mine.public)
        # Another user cannot swap it now.
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                os.rename(creds, os.path.join(shared, "moved.creds"))
                os._exit(0)
            except PermissionError:
                os._exit(13)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 13,
                         "another user moved the daemon's creds file")
        srv.stop()
        srv.start()
        auth.wait_until("logged in again", lambda: account_of(srv, h.id))
        self.assertEqual(account_of(srv, h.id), mine.public)
        self.assertNotEqual(account_of(srv, h.id), theirs.public)
        self.healthy(h)


# -- a hostile peer ----------------------------------------------------------

class Peer(AttackCase):
    """A peer on the server's address says tls_required in its INFO and
    then never answers the handshake.  libnats (conn.c, _makeTLSConn)
    makes the socket blocking for SSL_do_handshake, with no timeout:
    natsConnection_Connect never returns.  Should be: the handshake is
    bounded by the connect timeout, and the server is one that cannot be
    reached (waited for) or that refused; the mount works meanwhile."""

    def test_mount_in_the_background_returns(self):
        """bridge_check's probe (src/bridge/bridge.c) waits for ever, so
        mount(8), an fstab line, a systemd unit never return."""
        f = self.later(FakeServer(info={"tls_required": True}))
        d = self.start("-o", "nats=tls://127.0.0.1:%d,nats_ca=%s" % (
            f.port, auth._pki.ca), foreground=False)
        try:
            rc = d.proc.wait(timeout=SHORT)
        except subprocess.TimeoutExpired:
            self.fail("ipcfs (in the background) had not returned after "
                      "%ds: %s" % (SHORT, d.lines()))
        # It refuses, in one line, rather than mount what cannot work.
        self.assertEqual(rc, 1, d.lines())
        self.assertEqual(len(d.lines().splitlines()), 1, d.lines())
        self.assertIn("no answer", d.lines())

    def test_mount_in_the_foreground_answers(self):
        """In the foreground, bridge_start connects before the loop
        runs: the mount is there and nothing answers it, not even a
        local channel outside every bridged directory."""
        f = self.later(FakeServer(info={"tls_required": True}))
        d = self.start("-o", "nats=tls://127.0.0.1:%d,nats_ca=%s" % (
            f.port, auth._pki.ca))
        if not self.mounts_or_exits(d):
            # Refused in one line, before mounting: nothing to hang.
            self.assertEqual(d.proc.wait(timeout=SHORT), 1, d.lines())
            self.assertEqual(len(d.lines().splitlines()), 1, d.lines())
            self.assertIn("no answer", d.lines())
            return
        p = self.later(Daemon([sys.executable, "-c", """
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"ping")
assert os.read(fd, 100) == b"ping"
""", os.path.join(d.mnt, "local")], d.mnt))
        try:
            rc = p.proc.wait(timeout=SHORT)
        except subprocess.TimeoutExpired:
            self.fail("a local channel did not answer within %ds (caller "
                      "in state %s): %s" % (SHORT, state(p.proc.pid),
                                            d.lines()))
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
