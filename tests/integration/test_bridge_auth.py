"""Logging in to NATS, TLS and least privilege (issue 20, points 4 and 5),
with nats-servers the test starts: TLS with certificates made by the
openssl command, accounts, users with permissions, and operator mode with
JWTs made by natsauth.py.

- Each kind of credential: a user and password file (over TLS), a token
  file, an NKey seed file, a creds file (operator mode), a client
  certificate (verify_and_map).  With each, two hosts bridge a channel
  and carry data, and no secret shows in /proc/PID/cmdline, /proc/mounts
  or the daemon's log; nor does a password in a nats= URL (or in
  SOURCE).
- Refusals: a wrong password, a server certificate the host does not
  trust, a server that wants a client certificate: the daemon exits 1
  with one line naming the server and the reason, in the foreground and,
  before mounting, in the background.  A secret file that group or
  others can read, that another user owns, or that is missing: one line
  naming the option and the file, before mounting.  A server that comes
  back with a certificate the host does not trust: the refusals are
  logged once a second at most, and the daemon serves on.
- docs/bridge.md's secured set-up as written (paths, the server's name
  and port moved to the test's): the certificates and passwords, the
  server's configuration (docs/examples/nats-server.conf) with the
  permissions of docs/examples/ipcfs-permissions.conf, host1 mounted by
  the doc's command and host2 by the fstab line of mount/ipcfs.fstab, both
  in the background.  Under exactly those permissions the two hosts make,
  write, read, broadcast, rename, remove and change settings, and the
  server logs no permissions violation.
- Isolation: a user of another account, even with a daemon of the same
  nats_name, sees and changes nothing of the namespace.  Within one
  account, what docs/bridge.md says: a user with another namespace's
  permissions cannot subscribe to this one's subjects but reads its
  streams through the JetStream API, and a permission cannot name the
  streams of one namespace ($JS.API.STREAM.INFO.ipcfs_* names none).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import natsauth
import natstest
from ipcfs_test import IPCFS, SANITIZER, TOP, mounted

DOC = os.path.join(TOP, "docs", "bridge.md")
SERVER_CONF = os.path.join(TOP, "docs", "examples", "nats-server.conf")
PERMISSIONS = os.path.join(TOP, "docs", "examples", "ipcfs-permissions.conf")
FSTAB = os.path.join(TOP, "mount", "ipcfs.fstab")
BRIDGE = "user.ipcfs.bridge"
DELIVERY = "user.ipcfs.delivery"
CAPACITY = "user.ipcfs.capacity"
WAIT = 30           # seconds: hang guards, never measurements
GUARD = 120
# What mount(8) keeps for itself of an fstab line's options.
MOUNT_ONLY = {"defaults", "_netdev", "noauto", "auto", "nofail", "user",
              "users", "rw"}

_tmp = None
_pki = None


def setUpModule():
    global _tmp, _pki
    natstest.skip_unless_nats()
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("no openssl command (apt-get install "
                                "openssl)")
    _tmp = tempfile.mkdtemp(prefix="natsauth.")
    os.chmod(_tmp, 0o755)
    _pki = natsauth.PKI(_tmp)


def tearDownModule():
    if _tmp is not None:
        shutil.rmtree(_tmp, ignore_errors=True)


def permissions(ns="ipcfs"):
    """docs/examples/ipcfs-permissions.conf for namespace ns: ns written
    for ipcfs in each subject's namespace token, as its comment says."""
    with open(PERMISSIONS) as f:
        text = f.read()

    def subject(m):
        out = []
        for tok in m.group(1).split("."):
            if tok == "ipcfs":
                tok = ns
            elif tok.startswith("ipcfs_"):
                tok = ns + tok[5:]
            elif tok.startswith("KV_ipcfs_"):
                tok = "KV_" + ns + tok[8:]
            out.append(tok)
        return '"%s"' % ".".join(out)
    return re.sub(r'"([^"\s]+)"', subject, text)


class ConfServer(natstest.NatsServer):
    """A natstest.NatsServer that also reads a configuration file (its
    flags override the file's listen address and store)."""

    def __init__(self, name, conf, **kw):
        self.conf = conf
        super().__init__(name, **kw)

    def argv(self):
        argv = super().argv()
        with open(self.conf) as f:
            if "store_dir" in f.read():         # the file's, then
                i = argv.index("-sd")
                del argv[i:i + 2]
        return argv + ["-c", self.conf]

    def violations(self):
        return [x for x in self.log().splitlines() if "Violation" in x]


def wait_until(what, fn, wait=WAIT):
    deadline = time.monotonic() + wait
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("not within %ds: %s" % (wait, what))
        time.sleep(0.05)


def stream_of(path):
    """The stream of a bridged channel, None if it has none (yet)."""
    try:
        stats = os.getxattr(path, "user.ipcfs.stats").decode()
    except OSError:
        return None
    m = re.search(r"^stream (\S+)$", stats, re.M)
    return m.group(1) if m else None


def exists(path):
    try:
        return os.path.basename(path) in os.listdir(os.path.dirname(path))
    except FileNotFoundError:
        return False


class HangGuard(Exception):
    pass


class AuthCase(unittest.TestCase):
    """Servers, hosts and daemons made by a test are taken down after it;
    the test ends within GUARD seconds."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="auth.", dir=_tmp)
        self.closing = []
        self.fds = []

        def hang(signum, frame):
            raise HangGuard("hang guard: the test did not finish")
        signal.signal(signal.SIGALRM, hang)
        signal.alarm(GUARD)

    def tearDown(self):
        signal.alarm(0)
        for fd in self.fds:
            os.close(fd)
        errors = []
        for c in reversed(self.closing):
            try:
                c.close()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("\n".join(errors))

    def later(self, obj):
        self.closing.append(obj)
        return obj

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def server(self, name, conf_text, tls=True):
        """A server with this configuration (and a JetStream store, a
        port, a monitoring port of natstest's); TLS with PKI's server
        certificate unless tls is False."""
        if tls:
            cert, key = _pki.server()
            conf_text = ("tls {\n  cert_file: %s\n  key_file: %s\n"
                         "  ca_file: %s\n%s}\n%s" % (
                             cert, key, _pki.ca, tls if isinstance(tls, str)
                             else "", conf_text))
        conf = self.path(name + ".conf")
        natsauth.secret_file(conf, conf_text)
        return self.later(ConfServer(name, conf, tmpdir=self.dir))

    def secret(self, name, text, mode=0o600):
        return natsauth.secret_file(self.path(name), text, mode)

    def host(self, url, *options):
        return self.later(natstest.Host(url, *options))

    # -- what a host does --

    def carries(self, a, b, name="c", data=b"hello over NATS\n"):
        """Bridge directory d on hosts a and b (once), make channel name
        on a, and check that what a writes b reads."""
        for h in (a, b):
            if not os.path.exists(h("d")):
                os.mkdir(h("d"), 0o755)
                natstest.mark(h("d"))
        os.close(os.open(a("d", name), os.O_CREAT | os.O_WRONLY, 0o666))
        wait_until("%s shows on %s" % (name, b.path), lambda: exists(
            b("d", name)))
        r = os.open(b("d", name), os.O_RDONLY)
        self.fds.append(r)
        w = os.open(a("d", name), os.O_WRONLY)
        os.write(w, data)
        os.close(w)
        got = b""
        while len(got) < len(data):
            chunk = os.read(r, 65536)
            self.assertNotEqual(chunk, b"", "end of file after %r" % got)
            got += chunk
        self.assertEqual(got, data)
        self.fds.remove(r)
        os.close(r)

    def no_secrets(self, pid, log, secrets):
        """None of secrets in the daemon's command line, /proc/mounts or
        its log."""
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().decode(errors="replace")
        with open("/proc/mounts") as f:
            mounts = f.read()
        for s in secrets:
            for where, text in (("/proc/%d/cmdline" % pid, cmdline),
                                ("/proc/mounts", mounts), ("the log", log)):
                self.assertNotIn(s, text, "a secret in %s" % where)

    def healthy(self, *hosts):
        for h in hosts:
            self.assertIsNone(h.trouble())

    def daemon(self, *options, background=False, source=None):
        """Run the daemon on a mount point of its own until it exits
        (which it must, within WAIT seconds): (status, its lines, whether
        it left a mount)."""
        mnt = tempfile.mkdtemp(prefix="mnt.", dir=self.dir)
        argv = [IPCFS] + ([] if background else ["-f"]) + list(options)
        argv += [source, mnt] if source else [mnt]
        p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            subprocess.call(["fusermount3", "-u", "-z", mnt])
            self.fail("the daemon did not exit: %s" % argv)
        left = mounted(mnt)
        if left:
            subprocess.call(["fusermount3", "-u", "-z", mnt])
        self.assertIsNone(SANITIZER.search(err), err)
        return p.returncode, err.splitlines(), left

    def refused(self, want, *options, source=None):
        """The daemon, in the foreground and in the background, exits 1
        with exactly one line, matching the regular expression want, and
        leaves nothing mounted."""
        for bg in (False, True):
            rc, lines, left = self.daemon(*options, background=bg,
                                          source=source)
            how = "in the background" if bg else "in the foreground"
            self.assertEqual(rc, 1, "%s: %r" % (how, lines))
            self.assertEqual(len(lines), 1, "%s: %r" % (how, lines))
            self.assertRegex(lines[0], want, how)
            self.assertFalse(left, how + ": a mount stayed")
        return lines[0]


# -- each kind of credential ------------------------------------------------

ACCOUNT = """accounts {
  IPCFS {
    jetstream: enabled
    users: [
%s
    ]
  }
}
"""


class Credentials(AuthCase):
    """The bridge logs in with each kind of credential, carries data, and
    shows no secret."""

    def test_user_and_password_file_over_tls(self):
        srv = self.server("pw", ACCOUNT % (
            '      { user: host1, password: "pw-one-ABC" }\n'
            '      { user: host2, password: "pw-two-XYZ" }'))
        url = "tls://127.0.0.1:%d" % srv.port
        hosts = []
        for user, pw in (("host1", "pw-one-ABC"), ("host2", "pw-two-XYZ")):
            f = self.secret(user + ".pass", pw + "\n")
            hosts.append(self.host(url, "-o", "nats_ca=%s,nats_user=%s,"
                                   "nats_password_file=%s" % (_pki.ca, user,
                                                              f)))
        self.carries(*hosts)
        for h in hosts:
            self.no_secrets(h.pid, h.log(), ["pw-one-ABC", "pw-two-XYZ"])
        self.healthy(*hosts)

    def test_token_file(self):
        srv = self.server("tok", "authorization { token: \"tok-Q8w7e6\" }\n"
                          "jetstream: enabled\n", tls=False)
        f = self.secret("token", "tok-Q8w7e6\n")
        a = self.host(srv.url, "-o", "nats_token_file=" + f)
        b = self.host(srv.url, "-o", "nats_token_file=" + f)
        self.carries(a, b)
        for h in (a, b):
            self.no_secrets(h.pid, h.log(), ["tok-Q8w7e6"])
        self.healthy(a, b)

    def test_nkey_seed_file(self):
        keys = [natsauth.NKey("user"), natsauth.NKey("user")]
        srv = self.server("nk", ACCOUNT % "\n".join(
            "      { nkey: %s }" % k.public for k in keys), tls=False)
        hosts = []
        for i, k in enumerate(keys):
            f = self.secret("seed%d.nk" % i, k.seed + "\n")
            hosts.append(self.host(srv.url, "-o", "nats_nkey=" + f))
        self.carries(*hosts)
        for h in hosts:
            self.no_secrets(h.pid, h.log(), [k.seed for k in keys] +
                            [k.seed[:20] for k in keys])
        self.healthy(*hosts)

    def test_creds_file(self):
        op = natsauth.Operator()
        acct = op.account("IPCFS")
        srv = self.server("op", op.config(), tls=False)
        hosts, secrets = [], []
        for i in range(2):
            key, token = op.user(acct, "host%d" % i)
            f = self.secret("host%d.creds" % i, natsauth.creds(key, token))
            secrets += [key.seed, token.split(".")[2]]
            hosts.append(self.host(srv.url, "-o", "nats_creds=" + f))
        self.carries(*hosts)
        for h in hosts:
            self.no_secrets(h.pid, h.log(), secrets)
        self.healthy(*hosts)

    def test_client_certificate(self):
        srv = self.server("cert", ACCOUNT % (
            '      { user: "host1@ipcfs" }\n      { user: "host2@ipcfs" }'),
            tls="  verify_and_map: true\n")
        hosts, secrets = [], []
        for user in ("host1", "host2"):
            cert, key = _pki.client(user)
            with open(key) as f:
                secrets.append(f.read().splitlines()[1])
            hosts.append(self.host(
                "nats://127.0.0.1:%d" % srv.port, "-o",
                "nats_ca=%s,nats_cert=%s,nats_key=%s" % (_pki.ca, cert, key)))
        self.carries(*hosts)
        for h in hosts:
            self.no_secrets(h.pid, h.log(), secrets)
        self.healthy(*hosts)
        # Without a certificate the server refuses the handshake.
        self.refused(r"^ipcfs: nats://127\.0\.0\.1:%d: TLS failed: .+" %
                     srv.port, "-o", "nats=nats://127.0.0.1:%d,nats_ca=%s" %
                     (srv.port, _pki.ca))

    def test_password_in_the_url(self):
        srv = self.server("url", ACCOUNT % (
            '      { user: host1, password: "url-pw-7Hq" }'), tls=False)
        url = "nats://host1:url-pw-7Hq@127.0.0.1:%d" % srv.port
        a = self.host(url)
        b = self.host(url)
        self.carries(a, b)
        log = a.log()
        self.assertIn("nats://host1:***@127.0.0.1:%d" % srv.port, log)
        for h in (a, b):
            self.no_secrets(h.pid, h.log(), ["url-pw-7Hq"])
        # A wrong one: the line shows the URL without it.
        rc, lines, _ = self.daemon(
            "-o", "nats=nats://host1:bad-pw-3Zx@127.0.0.1:%d" % srv.port)
        self.assertEqual(rc, 1)
        self.assertEqual(lines, ["ipcfs: nats://host1:***@127.0.0.1:%d "
                                 "refused the login: Authorization "
                                 "Violation" % srv.port])
        # A SOURCE that is such a URL is no way into /proc/mounts.
        mnt = tempfile.mkdtemp(prefix="mnt.", dir=self.dir)
        p = subprocess.Popen([IPCFS, "-f", "-o", "nats=" + url,
                              "nats://host1:src-pw-4Yy@nats1", mnt],
                             stderr=subprocess.DEVNULL)
        try:
            wait_until("mounted", lambda: mounted(mnt))
            self.no_secrets(p.pid, "", ["src-pw-4Yy", "url-pw-7Hq"])
            with open("/proc/mounts") as f:
                self.assertIn("nats://host1:***@nats1 %s " % mnt, f.read())
        finally:
            subprocess.call(["fusermount3", "-u", "-z", mnt])
            p.wait(timeout=WAIT)
        self.healthy(a, b)


# -- refusals ---------------------------------------------------------------

class Refusals(AuthCase):
    """What is refused, in one line, and the daemon's exit status."""

    def setUp(self):
        super().setUp()
        self.srv = self.server("r", ACCOUNT % (
            '      { user: host1, password: "right-pw" }'))
        self.url = "tls://127.0.0.1:%d" % self.srv.port

    def opts(self, pwfile, ca=None):
        return ("-o", "nats=%s,nats_ca=%s,nats_user=host1,"
                "nats_password_file=%s" % (self.url, ca or _pki.ca, pwfile))

    def test_wrong_password(self):
        f = self.secret("wrong.pass", "wrong-pw\n")
        self.refused(r"^ipcfs: tls://127\.0\.0\.1:%d refused the login: "
                     r"Authorization Violation$" % self.srv.port,
                     *self.opts(f))

    def test_untrusted_server_certificate(self):
        f = self.secret("right.pass", "right-pw\n")
        self.refused(r"^ipcfs: tls://127\.0\.0\.1:%d: TLS failed: SSL "
                     r"handshake error: .*unable to get local issuer "
                     r"certificate" % self.srv.port,
                     *self.opts(f, _pki.other_ca()))

    def test_secret_file_others_can_read(self):
        f = self.secret("open.pass", "right-pw\n", 0o644)
        self.refused(r"^ipcfs: nats_password_file: %s: refused: it holds a "
                     r"secret and group or others have access to it \(mode "
                     r"0644\); chmod 600 it$" % re.escape(f), *self.opts(f))
        os.chmod(f, 0o610)
        self.refused(r"mode 0610", *self.opts(f))
        # A client key, a token file, a seed, a creds file likewise.
        key = self.secret("open.key", "-----BEGIN PRIVATE KEY-----\n", 0o640)
        for opt in ("nats_token_file", "nats_creds", "nats_nkey"):
            self.refused(r"^ipcfs: %s: %s: refused: .*mode 0640" % (
                opt, re.escape(key)), "-o", "nats=%s,%s=%s" % (
                    self.url, opt, key))
        self.refused(r"^ipcfs: nats_key: %s: refused: .*mode 0640" %
                     re.escape(key), "-o", "nats=%s,nats_cert=%s,"
                     "nats_key=%s" % (self.url, _pki.ca, key))

    def test_secret_file_of_another_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs root, to give a file to another user")
        f = self.secret("theirs.pass", "right-pw\n")
        os.chown(f, 65534, 65534)
        self.refused(r"^ipcfs: nats_password_file: %s: refused: it holds a "
                     r"secret and belongs to uid 65534, not to this user "
                     r"\(uid 0\) or root$" % re.escape(f), *self.opts(f))

    def test_missing_or_bad_files(self):
        gone = self.path("gone.pass")
        self.refused(r"^ipcfs: nats_password_file: %s: No such file or "
                     r"directory$" % re.escape(gone), *self.opts(gone))
        self.refused(r"^ipcfs: nats_ca: %s: No such file or directory$" %
                     re.escape(gone), *self.opts(
                         self.secret("p", "right-pw\n"), gone))
        empty = self.secret("empty.pass", "\n")
        self.refused(r"^ipcfs: nats_password_file: %s: empty$" %
                     re.escape(empty), *self.opts(empty))
        notseed = self.secret("not.nk", "SUnot-a-seed\n")
        self.refused(r"^ipcfs: nats_nkey: %s: holds no NKey user seed" %
                     re.escape(notseed), "-o", "nats=%s,nats_nkey=%s" % (
                         self.url, notseed))

    def test_later_refusals_once_a_second(self):
        """The server comes back with a certificate of a CA the host does
        not trust: libnats tries on for ever; each refusal is logged, at
        most once a second, and the daemon serves its mount."""
        f = self.secret("right.pass", "right-pw\n")
        h = self.host(self.url, "-o", "nats_ca=%s,nats_user=host1,"
                      "nats_password_file=%s" % (_pki.ca, f))
        wait_until("connected", lambda: "servers" in h.log())
        self.srv.stop()
        other = natsauth.PKI(tempfile.mkdtemp(dir=self.dir))
        cert, key = other.server()
        with open(self.srv.conf) as fh:
            conf = fh.read()
        conf = re.sub(r"cert_file: \S+", "cert_file: " + cert, conf)
        conf = re.sub(r"key_file: \S+", "key_file: " + key, conf)
        conf = re.sub(r"ca_file: \S+", "ca_file: " + other.ca, conf)
        natsauth.secret_file(self.srv.conf, conf)
        start = time.monotonic()
        self.srv.start()
        pat = re.compile(r"tls://127\.0\.0\.1:%d: TLS failed: SSL handshake "
                         r"error: .*unable to get local issuer certificate" %
                         self.srv.port)
        wait_until("two refusals logged", lambda: len(pat.findall(
            h.log())) >= 2)
        time.sleep(1.5)
        n = len(pat.findall(h.log()))
        elapsed = time.monotonic() - start
        self.assertLessEqual(n, elapsed + 1, "%d lines in %.1fs" % (
            n, elapsed))
        self.healthy(h)

    def test_login_refused_after_a_reconnection(self):
        """The server comes back with another password for the host: the
        refusal is logged with the server's words, then libnats's giving
        up, and the daemon serves on."""
        f = self.secret("right.pass", "right-pw\n")
        h = self.host(self.url, "-o", "nats_ca=%s,nats_user=host1,"
                      "nats_password_file=%s" % (_pki.ca, f))
        wait_until("connected", lambda: "servers" in h.log())
        self.srv.stop()
        with open(self.srv.conf) as fh:
            conf = fh.read().replace('"right-pw"', '"new-pw"')
        natsauth.secret_file(self.srv.conf, conf)
        self.srv.start()
        wait_until("the refusal and the closing logged", lambda: re.search(
            r"ipcfs: tls://127\.0\.0\.1:%d refused the login: Authorization "
            r"Violation\n(.*\n)*ipcfs: bridge: the connection to NATS is "
            r"closed \(Authorization Violation\)" % self.srv.port, h.log()))
        self.assertNotIn("right-pw", h.log())
        self.healthy(h)


# -- the secured set-up of docs/bridge.md, and least privilege --------------

def doc_blocks(marker):
    """The fenced blocks of docs/bridge.md whose not-run marker names
    this test and contains marker."""
    with open(DOC) as f:
        text = f.read()
    return re.findall(r"<!-- not-run: [^>]*%s[^>]*test_bridge_auth\.py"
                      r"[^>]*-->\n```[a-z]*\n(.*?)```\n" % re.escape(marker),
                      text, re.S)


def daemon_pid(mnt):
    """The pid of the ipcfs daemon serving mount point mnt."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        # Its name first: reading the command line of a process blocked
        # in a page fault on some FUSE mount would block too.
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() != os.path.basename(IPCFS)[:15]:
                    continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == IPCFS.encode() and mnt.encode() in argv:
            return int(d)
    return None


class Background:
    """A daemon started in the background (by the doc's command or as
    mount.fuse3 starts one from fstab): its mount, pid, and sanitizer
    reports in asan_dir."""

    _rank = 0           # natstest's clean-up takes it down first

    def __init__(self, mnt, asan_dir):
        self.path = mnt
        self.asan_dir = asan_dir
        self.pid = wait_until("%s mounted" % mnt, lambda: mounted(mnt) and
                              daemon_pid(mnt))
        natstest._register(self)

    def __call__(self, *names):
        return os.path.join(self.path, *names)

    def log(self):
        return ""

    def trouble(self):
        p = self("local-check")
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            got = (os.write(fd, b"ping"), os.read(fd, 100))
        finally:
            os.close(fd)
            os.unlink(p)
        return None if got == (4, b"ping") else "gave back %r" % (got,)

    def _cleanup(self):
        """What a test killed midway left: the daemon and its mount."""
        if (natstest._stat(self.pid) or ("Z",))[0] != "Z":
            os.kill(self.pid, signal.SIGKILL)
        subprocess.call(["fusermount3", "-u", "-z", self.path],
                        stderr=subprocess.DEVNULL)

    def close(self):
        natstest._unregister(self)
        subprocess.call(["fusermount3", "-u", "-z", self.path])
        try:
            wait_until("the daemon of %s exits" % self.path, lambda: (
                natstest._stat(self.pid) or ("Z",))[0] == "Z")
        except AssertionError:
            os.kill(self.pid, signal.SIGKILL)
            raise
        reports = [f for f in os.listdir(self.asan_dir)
                   if f.startswith("asan")]
        if reports:
            with open(os.path.join(self.asan_dir, reports[0])) as f:
                raise AssertionError("sanitizer report:\n" + f.read())


class SecuredSetUp(AuthCase):
    """docs/bridge.md's worked example, run as written."""

    def moved(self, text, host_dir=None):
        """A block or a configuration with the doc's places moved to the
        test's (/etc/ipcfs to host_dir)."""
        for old, new in self.places + [("/etc/ipcfs", host_dir or "-")]:
            text = text.replace(old, new)
        return text

    def test_worked_example_under_least_privilege(self):
        srvdir, h1dir, h2dir = (self.path(d) for d in ("nats", "h1", "h2"))
        store = self.path("store")
        port = natstest.free_port()
        mnt1, mnt2 = self.path("mnt1"), self.path("mnt2")
        for d in (mnt1, mnt2):
            os.mkdir(d)
        self.places = [("/etc/nats", srvdir), ("/var/lib/nats", store),
                       ("nats1", "localhost"), (":4222", ":%d" % port)]
        server_sh, host_sh = doc_blocks("makes files in /etc/nats") + \
            doc_blocks("mounts /mnt/ipc;")
        fstab = doc_blocks("an fstab line")[0]
        # The server: its files, its configuration, and the server.
        subprocess.run(["sh", "-ec", self.moved(server_sh)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for src in (SERVER_CONF, PERMISSIONS):
            with open(src) as f:
                natsauth.secret_file(os.path.join(
                    srvdir, os.path.basename(src)), self.moved(f.read()))
        conf = os.path.join(srvdir, "nats-server.conf")
        srv = self.later(ConfServer("doc", conf, tmpdir=self.dir,
                                    port=port))
        # host1 by the doc's command, in the background.
        asan = self.path("asan")
        os.mkdir(asan)
        env = dict(os.environ, ASAN_OPTIONS="log_path=%s/asan" % asan)
        cmd = self.moved(host_sh, h1dir).replace("/mnt/ipc", mnt1)
        cmd = re.sub(r"^ipcfs ", IPCFS + " ", cmd, flags=re.M)
        subprocess.run(["sh", "-ec", cmd], check=True, cwd=srvdir, env=env,
                       timeout=WAIT)
        h1 = self.later(Background(mnt1, asan))
        # host2 by the fstab line, as mount.fuse3 runs the daemon.
        with open(FSTAB) as f:
            shipped = [x[1:] for x in f.read().splitlines()
                       if x.startswith("#") and "nats_password_file" in x]
        self.assertEqual(shipped, [fstab.rstrip("\n")],
                         "mount/ipcfs.fstab and docs/bridge.md differ")
        os.mkdir(h2dir)
        shutil.copy(os.path.join(srvdir, "ca.pem"),
                    os.path.join(h2dir, "nats-ca.pem"))
        shutil.copy(os.path.join(srvdir, "host2.pass"),
                    os.path.join(h2dir, "nats.pass"))
        os.chmod(os.path.join(h2dir, "nats.pass"), 0o600)
        source, _, fstype, options = self.moved(fstab, h2dir).split()[:4]
        self.assertEqual(fstype, "fuse.ipcfs")
        opts = ",".join(o for o in options.split(",")
                        if o not in MOUNT_ONLY)
        subprocess.run([IPCFS, source, mnt2, "-o", opts], check=True,
                       env=env, timeout=WAIT)
        h2 = self.later(Background(mnt2, asan))

        # The doc's one secret, host1's password, shows nowhere.
        with open(os.path.join(h1dir, "nats.pass")) as f:
            pw1 = f.read().strip()
        with open(os.path.join(h2dir, "nats.pass")) as f:
            pw2 = f.read().strip()
        for h in (h1, h2):
            self.no_secrets(h.pid, "", [pw1, pw2])

        # The work of two hosts, under exactly the doc's permissions.
        self.assertTrue(os.path.isdir(h2("jobs")))     # bridge=jobs
        os.mkdir(h1("jobs"), 0o755)                    # as "Set-up" says
        natstest.mark(h1("jobs"))
        # A client with host2's login and permissions, to look.
        cli = natsauth.Client("localhost", port, "host2", pw2,
                              ca=os.path.join(srvdir, "ca.pem"),
                              inbox="_ipcfs.ipcfs.inbox.test")
        self.later(cli)
        self.carries_in(h1, h2, cli)
        self.assertEqual(srv.violations(), [])
        self.healthy(h1, h2)

    def carries_in(self, a, b, cli):
        """Make, write, read, broadcast, rename, remove, settings: across
        a and b in the bridged directory jobs; cli asks JetStream."""
        j = "jobs"
        # A queue: made on a, written on a, read on b.
        os.close(os.open(a(j, "q"), os.O_CREAT | os.O_WRONLY, 0o666))
        wait_until("q shows", lambda: exists(b(j, "q")))
        r = os.open(b(j, "q"), os.O_RDONLY)
        self.fds.append(r)
        w = os.open(a(j, "q"), os.O_WRONLY)
        os.write(w, b"one\n")
        self.assertEqual(os.read(r, 100), b"one\n")
        os.close(w)
        self.assertEqual(os.read(r, 100), b"")
        self.fds.remove(r)
        os.close(r)
        # Settings, changed on b: seen on a.
        os.setxattr(b(j, "q"), CAPACITY, b"8192")
        wait_until("capacity on a", lambda: os.getxattr(
            a(j, "q"), CAPACITY) == b"8192")
        # A broadcast: each host's reader gets every line.
        os.close(os.open(b(j, "all"), os.O_CREAT | os.O_WRONLY, 0o666))
        os.setxattr(b(j, "all"), DELIVERY, b"broadcast")
        wait_until("broadcast on a", lambda: exists(a(j, "all")) and
                   os.getxattr(a(j, "all"), DELIVERY) == b"broadcast")
        ra = os.open(a(j, "all"), os.O_RDONLY)
        rb = os.open(b(j, "all"), os.O_RDONLY)
        self.fds += [ra, rb]
        w = os.open(a(j, "all"), os.O_WRONLY)
        os.write(w, b"to all\n")
        os.close(w)
        for r in (ra, rb):
            self.assertEqual(os.read(r, 100), b"to all\n")
        # Read by every host: it goes from the stream (a purge).
        stream = stream_of(a(j, "all"))
        wait_until("the broadcast purged", lambda: (cli.jsapi(
            "STREAM.INFO." + stream) or {}).get("state", {}).get(
                "first_seq") == 2)
        for r in (ra, rb):
            self.fds.remove(r)
            os.close(r)
        # A subdirectory, a rename into it on b, a removal on a.
        os.mkdir(a(j, "sub"), 0o755)
        wait_until("sub shows", lambda: exists(b(j, "sub")))
        os.rename(b(j, "q"), b(j, "sub", "q2"))
        wait_until("the rename shows", lambda: exists(a(j, "sub", "q2"))
                   and not exists(a(j, "q")))
        os.unlink(a(j, "sub", "q2"))
        os.unlink(a(j, "all"))
        wait_until("the removals show", lambda: not exists(b(j, "sub", "q2"))
                   and not exists(b(j, "all")))
        os.rmdir(b(j, "sub"))
        wait_until("rmdir shows", lambda: not exists(a(j, "sub")))
        # One name made on both at once: the later host reads the key
        # the other made (kvStore_Get, $JS.API.DIRECT.GET), if it loses
        # the race; either way they share the channel.
        ts = [threading.Thread(target=lambda h=h: os.close(os.open(
            h(j, "both"), os.O_CREAT | os.O_WRONLY, 0o666))) for h in (a, b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wait_until("one stream for both on both", lambda: stream_of(
            a(j, "both")) is not None and stream_of(a(j, "both")) ==
            stream_of(b(j, "both")))
        os.unlink(a(j, "both"))
        wait_until("both gone", lambda: not exists(b(j, "both")))


# -- isolation --------------------------------------------------------------

class Isolation(AuthCase):
    """Accounts isolate a namespace; permissions within one account do
    only what docs/bridge.md says."""

    def test_accounts_and_permissions(self):
        perms = self.path("ipcfs-permissions.conf")
        natsauth.secret_file(perms, permissions("ipcfs"))
        other = self.path("other-permissions.conf")
        natsauth.secret_file(other, permissions("other").replace(
            "IPCFS_HOST", "OTHER_HOST"))
        srv = self.server("iso", """include ipcfs-permissions.conf
include other-permissions.conf
accounts {
  IPCFS {
    jetstream: enabled
    users: [
      { user: host1, password: p1, permissions: $IPCFS_HOST }
      { user: host2, password: p2, permissions: $IPCFS_HOST }
      { user: neighbour, password: p3, permissions: $OTHER_HOST }
      { user: narrow, password: p4, permissions: {
          publish: ["$JS.API.STREAM.INFO.ipcfs_*"]
          subscribe: ["_INBOX.>"] } }
    ]
  }
  OTHER {
    jetstream: enabled
    users: [ { user: stranger, password: p5 } ]
  }
}
""", tls=False)
        pw = {u: self.secret(u + ".pass", p + "\n") for u, p in (
            ("host1", "p1"), ("host2", "p2"), ("stranger", "p5"))}
        a, b = (self.host(srv.url, "-o", "nats_user=%s,nats_password_file="
                          "%s" % (u, pw[u])) for u in ("host1", "host2"))
        self.carries(a, b)
        stream = stream_of(a("d", "c"))
        self.assertEqual(srv.violations(), [])

        # Another account, a daemon with the same nats_name: it sees
        # nothing of IPCFS's, and what it makes IPCFS does not see.
        c = self.host(srv.url, "-o", "nats_user=stranger,nats_password_file="
                      + pw["stranger"])
        os.mkdir(c("d"), 0o755)
        natstest.mark(c("d"))
        os.close(os.open(c("d", "mine"), os.O_CREAT | os.O_WRONLY, 0o666))
        time.sleep(1)       # what would show, shows within this
        self.assertEqual(os.listdir(c("d")), ["mine"])
        self.assertNotIn("mine", os.listdir(a("d")))
        cli = natsauth.Client("127.0.0.1", srv.port, "stranger", "p5")
        names = cli.jsapi("STREAM.NAMES")["streams"] or []
        self.assertNotIn(stream, names)
        self.assertIsNotNone(cli.jsapi("STREAM.INFO." + stream).get("error"))
        cli.close()

        # The same account, another namespace's permissions: not this
        # namespace's subjects, but its streams through the JetStream API.
        cli = natsauth.Client("127.0.0.1", srv.port, "neighbour", "p3",
                              inbox="_ipcfs.other.inbox.x")
        info = cli.jsapi("STREAM.INFO." + stream)
        self.assertEqual(info["config"]["name"], stream)
        self.assertIsNone(cli.request("$KV.ipcfs_names.d", b"x", timeout=2))
        self.assertRegex(cli.err or "", r"Permissions Violation for "
                         r"Publish to \"\$KV\.ipcfs_names\.d\"")
        for subject in ("_ipcfs.ipcfs.inbox.>", "ipcfs.*",
                        "_ipcfs.ipcfs.freed"):
            self.assertRegex(cli.subscribe_refused(subject) or "",
                             r"Permissions Violation for Subscription to")
        cli.close()
        # A token with a wildcard inside is no wildcard: it names nothing.
        cli = natsauth.Client("127.0.0.1", srv.port, "narrow", "p4")
        self.assertIsNone(cli.jsapi("STREAM.INFO." + stream))
        self.assertRegex(cli.err or "", r"Permissions Violation for "
                         r"Publish to \"\$JS\.API\.STREAM\.INFO\.%s\"" %
                         stream)
        cli.close()
        self.healthy(a, b, c)


if __name__ == "__main__":
    unittest.main()
