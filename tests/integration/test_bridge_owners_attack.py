"""Owners, modes and times of bridged names under attack (issue 20,
points 1-3; docs/bridge.md "Owners and permissions").  Alice is uid 1000,
Mallory uid 1001 (each a forked child that drops to that uid); the hosts
are daemons with -o allow_other on a nats-server of the test's own, some
behind a natstest.NatsProxy that holds back what the test says, so that a
race happens every time.  Each test is a finding: it fails while the
finding stands.

- test_parent_marked_while_view_lags: Alice bridges lab/x on A and makes
  a channel in it.  Mallory bridges her own lab on B while B's view of the
  names bucket lags (the proxy holds B's watcher back, as a slow or just
  reconnected host has it).  The doc promises EBUSY ("one top for a
  tree"); today the mark works (mark_nests asks only this host's view,
  before and after the create), Alice's tree shows in Mallory's lab on B,
  and Mallory renames lab/x there: the move deletes Alice's top key and
  her channel's key, and the channel is gone on A.
- test_mark_takes_stale_owner: d is Mallory's in the cluster (she
  bridged it on A).  Root takes it from her on A (chown to Alice, chmod
  700) while Mallory's mark of d on B waits for the bucket's answer (the
  proxy holds the reply to job_mark's kvStore_Get).  B applies the old
  value after the new one (names_mark_done applies j->found, not the
  newer value the watcher brought and apply_one skipped while d was not
  bridged): d stays Mallory's on B, and her chmod there gives it back to
  her on every host.
- test_interrupted_mark_changes_nothing: Alice's mark waits (nats-server
  stopped, SIGSTOP); a signal ends it with EINTR (the caller never in
  state D).  Once the server runs again the job that the signal left
  queued makes the cluster's key anyway, with the directory's mode of
  then: the cluster must not have d.  Today it has it, and a chmod 700
  and a new mark give the directory back mode 755.
- test_far_future_time: touch a channel to 2264 (9.3e18 ns since the
  epoch, valid on Linux): time_ns gives a value past WIRE_TIME_MAX that
  every host refuses: A's own time goes back, and a host started later
  has no such channel.  The time must cross, or utimensat fail.
- test_time_before_epoch: a time of -1 s shows as 0 on every host,
  A's own too, though utimensat said yes.
- test_chmod_during_lost_make_race: A and B make one channel at once, B
  loses (its create finds A's key) but a fchmod on B was queued meanwhile
  with B's stream id (bridge_changed while BC_MAKING): the put points the
  key at B's stream, which the create deleted, and what A wrote before
  is lost.
- test_older_own_value_not_applied: A chmods 600, 644, 600 while its
  watcher lags; the watcher's first event (600) equals A's last put, so
  the wait ends (names_on_event compares values, not revisions) and the
  second event (644) is applied: A's channel is 644 again after chmod
  600 said yes, until the third event comes.
- test_chmod_flood_is_one_put: ten thousand chmods of a channel with the
  server frozen queued a put each, without bound, and sent them one round
  trip each once it was back.
- test_name_churn_is_bounded: names made and removed in a loop with the
  server frozen queued a change each, without bound; max_memory bounds
  them now (ENOSPC).

Hang guards only (GUARD per test, WAIT for a change to show); no time is
measured.  After each test both daemons still run and answer
(Host.trouble()).
"""

import errno
import os
import pickle
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
import natstest  # noqa: E402
from test_bridge_attack import kv_get  # noqa: E402

GUARD = 60          # seconds per test: a hang guard
WAIT = 10.0         # seconds for a change to show elsewhere: a hang guard
NAMES = "ipcfs_names"
BRIDGE = "user.ipcfs.bridge"
ALICE, MALLORY = 1000, 1001
OPTS = ("-o", "allow_other,nats_timeout=2")


class Interrupted(Exception):
    pass


def as_user(uid, fn, *args):
    """fn(*args) in a forked child as uid (gid uid, no other groups): what
    it returns, or the name of the errno of the OSError it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            try:
                res = ("ok", fn(*args))
            except OSError as e:
                res = ("ok", errno.errorcode.get(e.errno, str(e.errno)))
        except BaseException as e:     # noqa: B902 - said to the parent
            res = ("exc", repr(e))
        os.write(w, pickle.dumps(res))
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        d = os.read(r, 65536)
        if not d:
            break
        data += d
    os.close(r)
    os.waitpid(pid, 0)
    res = pickle.loads(data)
    if res[0] != "ok":
        raise AssertionError("child as uid %d: %s" % (uid, res[1]))
    return res[1]


class Later:
    """as_user in a thread: get() waits (a hang guard) for what it gave."""

    def __init__(self, uid, fn, *args):
        self.res = None
        self.t = threading.Thread(target=self._run, args=(uid, fn, args),
                                  daemon=True)
        self.t.start()

    def _run(self, uid, fn, args):
        self.res = ("done", as_user(uid, fn, *args))

    def done(self):
        return self.res is not None

    def get(self, wait=WAIT):
        self.t.join(wait)
        return self.res[1] if self.res else "no answer"


def mark(path):
    natstest.mark(path)
    return 0


def make(path, mode=0o600):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, mode))
    return 0


def attrs(path):
    """(uid, gid, mode) of path, or the errno's name."""
    try:
        s = os.stat(path)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return (s.st_uid, s.st_gid, s.st_mode & 0o7777)


def state(pid):
    """The state letter of a process, None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


@unittest.skipUnless(os.geteuid() == 0, "acting as other uids needs root")
class OwnersAttack(unittest.TestCase):

    def setUp(self):
        natstest.skip_unless_nats()
        signal.signal(signal.SIGALRM, self._hang)
        signal.alarm(GUARD)
        self.hosts = []
        self.proxies = []
        self.probes = 0
        self.server = natstest.NatsServer("s")

    def tearDown(self):
        signal.alarm(0)
        if self.server.proc.poll() is None:
            os.kill(self.server.proc.pid, signal.SIGCONT)
        errors = []
        for h in self.hosts:
            try:
                h.close()
            except AssertionError as e:
                errors.append(str(e)[:3000])
        for p in self.proxies:
            p.close()
        self.server.close()
        natstest.cleanup_all()
        self.assertEqual(errors, [], "daemon reports")

    @staticmethod
    def _hang(signum, frame):
        raise ipcfs_test.HangGuard("hang guard: the test did not finish")

    # -- helpers --

    def host(self, url=None):
        """A host with a bridged directory att (root's), for probes."""
        h = natstest.Host(url or self.server.url, *OPTS)
        self.hosts.append(h)
        os.mkdir(h("att"))
        os.chmod(h("att"), 0o777)
        mark(h("att"))
        return h

    def proxy(self, **hooks):
        p = natstest.NatsProxy(self.server.url, **hooks)
        self.proxies.append(p)
        return p

    def until(self, what, fn, wait=WAIT):
        deadline = time.monotonic() + wait
        while True:
            got = fn()
            if got:
                return got
            if time.monotonic() > deadline:
                self.fail("not within %ds: %s%s" % (wait, what, self.logs()))
            time.sleep(0.05)

    def logs(self):
        return "".join("\nhost %d log:\n  %s" % (
            i, "\n  ".join(h.log().splitlines()[-8:]))
            for i, h in enumerate(self.hosts))

    def sync(self, src, dst):
        """A channel made on src shows on dst: what src queued before has
        reached the bucket (one worker, in order), and what the bucket had
        before, dst's watcher has brought (in order)."""
        self.probes += 1
        name = "att/probe%d" % self.probes
        make(src(name))
        self.until("%s shows on another host" % name,
                   lambda: os.path.exists(dst(name)))

    def check_hosts(self):
        for h in self.hosts:
            self.assertIsNone(h.trouble())

    # -- the tests --

    def test_parent_marked_while_view_lags(self):
        hold = {"on": False, "held": []}

        def on_message(conn, f):
            if hold["on"] and f.subject.startswith("$KV.%s." % NAMES):
                hold["held"].append((conn, f))
                return True
            return False

        px = self.proxy(on_message=on_message)
        A = self.host()
        B = self.host(px.url)
        os.mkdir(A("lab"))
        os.chmod(A("lab"), 0o777)
        hold["on"] = True
        self.assertEqual(as_user(ALICE, os.mkdir, A("lab/x"), 0o700), None)
        self.assertEqual(as_user(ALICE, mark, A("lab/x")), 0)
        self.assertEqual(as_user(ALICE, make, A("lab/x/secret")), 0)
        self.until("the bucket has lab.x.secret",
                   lambda: kv_get(self.server.url, NAMES, "lab.x.secret"))
        as_user(MALLORY, os.mkdir, B("lab"), 0o755)
        got = as_user(MALLORY, mark, B("lab"))
        # B's watcher catches up.
        hold["on"] = False
        for conn, f in hold["held"]:
            conn.to_client(f.raw)
        moved = None
        if got == 0:
            self.until("Alice's lab/x/secret shows in Mallory's lab on B",
                       lambda: os.path.exists(B("lab/x/secret")))
            moved = as_user(MALLORY, os.rename, B("lab/x"), B("lab/y"))
            self.sync(B, A)
        # Refused: EBUSY, or ETIMEDOUT when B's view cannot catch up
        # within the mark's wait (it is held here).
        self.assertEqual(
            (got if got != "ETIMEDOUT" else "EBUSY",
             attrs(A("lab/x/secret")),
             kv_get(self.server.url, NAMES, "lab.x") is not None and
             kv_get(self.server.url, NAMES, "lab.x") != b""),
            ("EBUSY", (ALICE, ALICE, 0o600), True),
            "Mallory's mark of lab above Alice's lab/x (%r), then her "
            "rename of lab/x on B (%r): Alice's channel on A and her top's "
            "key must stay" % (got, moved))
        self.check_hosts()

    def test_mark_takes_stale_owner(self):
        hold = {"armed": False, "gets": 0, "replies": set(), "held": []}

        def on_publish(conn, f):
            if hold["armed"] and "GET" in f.subject and \
                    f.subject.endswith("$KV.%s.d" % NAMES):
                hold["gets"] += 1
                # libnats's kvStore_Create gets the key too, to see if it
                # was deleted: the one that counts is job_mark's, next.
                if hold["gets"] == 2:
                    hold["replies"].add(f.reply)
                    hold["armed"] = False
            return False

        def on_message(conn, f):
            if f.subject in hold["replies"]:
                hold["held"].append((conn, f))
                return True
            return False

        px = self.proxy(on_publish=on_publish, on_message=on_message)
        A = self.host()
        B = self.host(px.url)
        # d is Mallory's in the cluster: she bridged it first, on A.
        as_user(MALLORY, os.mkdir, A("d"), 0o755)
        self.assertEqual(as_user(MALLORY, mark, A("d")), 0)
        as_user(MALLORY, os.mkdir, B("d"), 0o755)
        before = attrs(B("d"))      # 0755 less the umask
        hold["armed"] = True
        later = Later(MALLORY, mark, B("d"))
        self.until("Mallory's mark on B waits for the bucket's answer",
                   lambda: hold["held"] or later.done())
        # Root takes d from her, on A, while her mark waits.
        os.chown(A("d"), ALICE, ALICE)
        os.chmod(A("d"), 0o700)
        self.sync(A, B)
        for conn, f in hold["held"]:
            conn.to_client(f.raw)
        got = later.get()
        if got != 0:
            # Refused (d is no longer hers): nothing changed on B.
            self.assertIn(got, ("EPERM", "EACCES", "ETIMEDOUT"))
            self.assertEqual(
                (attrs(B("d")), attrs(A("d"))),
                (before, (ALICE, ALICE, 0o700)),
                "Mallory's refused mark of d on B")
            self.check_hosts()
            return
        # Taken, B must end with the cluster's d.
        deadline = time.monotonic() + WAIT
        while attrs(B("d")) != (ALICE, ALICE, 0o700) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        seen = attrs(B("d"))
        if seen != (ALICE, ALICE, 0o700):
            # And what Mallory then does with it on B reaches A.
            as_user(MALLORY, os.chmod, B("d"), 0o777)
            self.sync(B, A)
        self.assertEqual(
            (seen, attrs(A("d")), as_user(MALLORY, os.listdir, B("d"))),
            ((ALICE, ALICE, 0o700), (ALICE, ALICE, 0o700), "EACCES"),
            "root gave d to Alice (700) on A while Mallory's mark of d "
            "waited on B (it said %r)" % (got,))
        self.check_hosts()

    def test_interrupted_mark_changes_nothing(self):
        A = self.host()
        B = self.host()
        as_user(ALICE, os.mkdir, A("d"), 0o755)
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        # Stopped for sure before the mark (a hang guard of 5 s).
        deadline = time.monotonic() + 5
        while state(self.server.proc.pid) != "T":
            self.assertLess(time.monotonic(), deadline, "server not stopped")
            time.sleep(0.01)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)

            def interrupted(signum, frame):
                raise Interrupted()

            signal.signal(signal.SIGUSR1, interrupted)
            os.setgroups([])
            os.setresgid(ALICE, ALICE, ALICE)
            os.setresuid(ALICE, ALICE, ALICE)
            try:
                mark(A("d"))
                res = b"done"
            except Interrupted:
                res = b"EINTR"
            except OSError as e:
                res = errno.errorcode.get(e.errno, "?").encode()
            os.write(w, res)
            os._exit(0)
        os.close(w)
        states = set()
        for _ in range(20):
            states.add(state(pid))
            time.sleep(0.05)
        os.kill(pid, signal.SIGUSR1)
        got = os.read(r, 100).decode()
        os.close(r)
        os.waitpid(pid, 0)
        self.assertNotIn("D", states, "the marking caller in state D")
        self.assertEqual(got, "EINTR")
        self.assertEqual(as_user(ALICE, os.chmod, A("d"), 0o700), None)
        os.kill(self.server.proc.pid, signal.SIGCONT)
        self.sync(A, B)         # the interrupted mark's job ran before
        # A key the interrupted mark made is taken back once its host's
        # view has caught up: a little after (a hang guard).
        deadline = time.monotonic() + WAIT
        while kv_get(self.server.url, NAMES, "d") not in (None, b"") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        key = kv_get(self.server.url, NAMES, "d")
        if key == b"":
            key = None          # a delete marker: the key is gone
        again = as_user(ALICE, mark, A("d"))
        self.assertEqual(
            (key, again, attrs(A("d")), as_user(MALLORY, os.listdir, A("d"))),
            (None, 0, (ALICE, ALICE, 0o700), "EACCES"),
            "a mark that said EINTR left the cluster a key for d; Alice "
            "then chmods d 700 and bridges it again")
        self.check_hosts()

    def test_far_future_time(self):
        A = self.host()
        B = self.host()
        make(A("att/c"), 0o644)
        self.until("att/c shows on B", lambda: os.path.exists(B("att/c")))
        when = 9300000000 * 10 ** 9        # 2264
        try:
            os.utime(A("att/c"), ns=(when, when))
        except OSError as e:
            self.assertIn(e.errno, (errno.EINVAL, errno.EOVERFLOW))
            when = os.stat(A("att/c")).st_mtime_ns
        self.sync(A, B)
        C = self.host()
        self.until("att/probe1 shows on C", lambda: os.path.exists(
            C("att/probe1")))
        self.assertEqual(
            (os.stat(A("att/c")).st_mtime_ns,
             os.stat(B("att/c")).st_mtime_ns, os.path.exists(C("att/c"))),
            (when, when, True),
            "utimensat to 2264 on A: the times on A and B, and whether a "
            "host started later has the channel%s" % self.logs())
        self.check_hosts()

    def test_time_before_epoch(self):
        A = self.host()
        B = self.host()
        make(A("att/c"), 0o644)
        self.until("att/c shows on B", lambda: os.path.exists(B("att/c")))
        when = -10 ** 9
        try:
            os.utime(A("att/c"), ns=(when, when))
        except OSError as e:
            self.assertIn(e.errno, (errno.EINVAL, errno.EOVERFLOW))
            when = os.stat(A("att/c")).st_mtime_ns
        self.sync(A, B)
        self.sync(A, B)
        self.assertEqual(
            (os.stat(A("att/c")).st_mtime_ns,
             os.stat(B("att/c")).st_mtime_ns), (when, when),
            "utimensat to one second before the epoch on A said yes")
        self.check_hosts()

    def test_chmod_during_lost_make_race(self):
        hold = {"on": False, "held": []}

        def on_publish(conn, f):
            if hold["on"] and f.subject == "$KV.%s.att.c" % NAMES:
                hold["held"].append((conn, f))
                hold["on"] = False
                return True
            return False

        px = self.proxy(on_publish=on_publish)
        A = self.host()
        B = self.host(px.url)
        hold["on"] = True
        fb = os.open(B("att/c"), os.O_CREAT | os.O_RDWR, 0o644)
        self.until("B's create of att/c is on its way",
                   lambda: hold["held"])
        os.fchmod(fb, 0o600)
        os.close(fb)
        fa = os.open(A("att/c"), os.O_CREAT | os.O_RDWR, 0o644)
        first = self.until("A's key for att/c", lambda: kv_get(
            self.server.url, NAMES, "att.c")).split()[1]
        os.write(fa, b"early\n")
        for conn, f in hold["held"]:
            conn.to_server(f.raw)
        self.sync(B, A)
        os.write(fa, b"later\n")
        os.close(fa)
        fr = os.open(B("att/c"), os.O_RDONLY | os.O_NONBLOCK)
        data = b""
        deadline = time.monotonic() + WAIT
        while data != b"early\nlater\n" and time.monotonic() < deadline:
            try:
                data += os.read(fr, 100)
            except BlockingIOError:
                time.sleep(0.05)
        os.close(fr)
        now = kv_get(self.server.url, NAMES, "att.c").split()[1]
        self.assertEqual(
            (now, data), (first, b"early\nlater\n"),
            "B lost the race to make att/c, with a fchmod of its own queued "
            "meanwhile: the key's stream, and what B reads of what A wrote")
        self.check_hosts()

    def test_older_own_value_not_applied(self):
        hold = {"on": False, "held": [], "infos": set(), "answered": 0}

        def on_publish(conn, f):
            if hold["on"] and f.subject.startswith(
                    "$JS.API.STREAM.INFO.KV_%s" % NAMES):
                hold["infos"].add(f.reply)
            return False

        def on_message(conn, f):
            if hold["on"] and f.subject == "$KV.%s.att.c" % NAMES:
                hold["held"].append((conn, f))
                return True
            if f.subject in hold["infos"]:
                hold["answered"] += 1
            return False

        px = self.proxy(on_publish=on_publish, on_message=on_message)
        A = self.host(px.url)
        B = self.host()
        make(A("att/c"), 0o644)
        self.until("att/c shows on B", lambda: os.path.exists(B("att/c")))
        self.sync(A, B)
        hold["on"] = True
        # Each chmod once the last one's put is done (each then asks the
        # names stream's last revision): a chmod made while the last one
        # waits to be sent goes with it, in one put.  A's watcher brings
        # none of them.
        for i, mode in enumerate((0o600, 0o644, 0o600)):
            os.chmod(A("att/c"), mode)
            self.until("A's put %d is done" % (i + 1), lambda: len(
                hold["held"]) == i + 1 and hold["answered"] >= i + 1)
        time.sleep(0.3)         # A's loop takes the puts' ends
        hold["on"] = False
        for conn, f in hold["held"][:2]:
            conn.to_client(f.raw)
        seen = set()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            seen.add(os.stat(A("att/c")).st_mode & 0o777)
            time.sleep(0.02)
        for conn, f in hold["held"][2:]:
            conn.to_client(f.raw)
        self.sync(A, B)
        self.assertEqual(
            (seen, os.stat(A("att/c")).st_mode & 0o777,
             os.stat(B("att/c")).st_mode & 0o777),
            ({0o600}, 0o600, 0o600),
            "A's modes after chmod 600, 644, 600, while its watcher brings "
            "the first two of them")
        self.check_hosts()

    def test_chmod_flood_is_one_put(self):
        """A user's chmod loop on a bridged channel, with the server
        frozen: the daemon queued a put for each chmod, without bound (a
        job each, memory the user could fill), and then sent them one
        round trip each.  Now a chmod made while the last one waits to be
        sent goes with it: a few puts in all, and the last mode shows on
        every host."""
        A = self.host()
        B = self.host()
        make(A("att/c"), 0o644)
        self.until("att/c shows on B", lambda: os.path.exists(B("att/c")))
        self.sync(A, B)
        info = "STREAM.INFO.KV_%s" % NAMES
        before = natstest.jsapi(self.server.url, info)["state"]["last_seq"]
        self.server.proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(10000):
                os.chmod(A("att/c"), (0o600, 0o604)[i % 2])
            os.chmod(A("att/c"), 0o640)
        finally:
            self.server.proc.send_signal(signal.SIGCONT)
        self.until("mode 640 shows on B", lambda: os.stat(
            B("att/c")).st_mode & 0o777 == 0o640, wait=30)
        self.sync(A, B)
        puts = natstest.jsapi(self.server.url, info)["state"]["last_seq"] \
            - before - 1            # sync()'s probe is one
        self.assertLess(puts, 20, "10,001 chmods made %d puts" % puts)
        self.assertEqual(os.stat(A("att/c")).st_mode & 0o777, 0o640)
        self.check_hosts()

    def test_name_churn_is_bounded(self):
        """A user makes and removes names in a bridged directory in a
        loop while the server is frozen: each change waited in the
        daemon's queue, without bound.  What waits now counts against
        max_memory (128K here, so that little waits: the queue drains a
        round trip a change): the loop meets ENOSPC, nothing was lost of
        what had been said yes to, and once the server is back names can
        change again and every host agrees."""
        A = natstest.Host(self.server.url, "-o",
                          "allow_other,nats_timeout=2,max_memory=128K")
        self.hosts.append(A)
        B = self.host()
        os.mkdir(A("att"))
        mark(A("att"))
        self.sync(A, B)
        self.server.proc.send_signal(signal.SIGSTOP)
        refused = None
        try:
            for i in range(20000):
                try:
                    make(A("att/n%d" % i))
                    os.unlink(A("att/n%d" % i))
                except OSError as e:
                    refused = (i, e.errno)
                    break
        finally:
            self.server.proc.send_signal(signal.SIGCONT)
        self.assertIsNotNone(refused, "20,000 names made and removed, "
                             "none refused: the queue has no bound")
        self.assertEqual(refused[1], errno.ENOSPC)
        self.until("names change on A again", lambda: self.try_make(
            A("att/after")), wait=30)
        self.until("att/after shows on B", lambda: os.path.exists(
            B("att/after")), wait=30)
        self.until("B has what A has", lambda: sorted(os.listdir(
            B("att"))) == sorted(os.listdir(A("att"))), wait=30)
        self.check_hosts()

    @staticmethod
    def try_make(path):
        try:
            make(path)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            return False
        return True


if __name__ == "__main__":
    unittest.main()
