"""Owner, group, mode and times of bridged names across hosts (issue 20,
points 1 to 3): one nats-server and three ipcfs daemons with -o
allow_other bridged to it, hosts A, B and C, and two users besides
root, alice (uid and gid 1000, also in group 1500) and mallory (uid and
gid 1001).  Every check made as alice or mallory is made by a process
that really has that uid (as_user() below: fork, setgroups, setresgid,
setresuid), so it is the host's kernel that allows or refuses
(default_permissions), not stat's numbers alone.

- Adopting (test_marking_adopts_owner_group_mode): alice's 0700
  directory, bridged on A, with a 0600 and a 0644 channel in it; root
  marking B's empty directory of that name, and alice marking hers on C,
  both take alice's owner, group and mode 0700, and show the channels
  with theirs.
- The issue's reproduction (test_issue_reproduction): mallory marks a
  directory of her own with the name of alice's on B: EPERM (or EACCES),
  and nothing changes on any host: B's directory stays hers, unbridged
  and empty; A's directory and channel are as they were, their stream
  too (a write and a read on A still work); mallory cannot remove alice's
  channel from B.
- The first marker's owner, group and mode are the cluster's
  (test_first_marker_wins): root's 1777 directory bridged on A; alice
  cannot mark her own directory of that name on B (EPERM); root can, and
  B's directory becomes root's, 1777.
- Mode bits across hosts (ModeBits): in alice's bridged directory, 0700,
  0755 (by a chmod on A), 0777 and 01777, mallory on B lists, opens,
  makes, removes and renames exactly what the bits allow, and in the
  sticky mount root she can neither remove nor rename alice's bridged
  directory; a channel and a directory mallory makes on B show on A as
  hers.
- chmod, chown and utimensat (explicit times, and touch) on one host
  reach the others, for a channel, a subdirectory and the bridged
  directory itself, and the other hosts' kernels enforce the new mode
  and owner (Attributes).
- setgid (test_setgid_directory): a channel and a subdirectory alice
  makes on B in a g+s directory of group 1500 get group 1500 (and the
  subdirectory g+s), on B and on A.

Where a test must see that something did NOT happen elsewhere, it waits
on a barrier instead of a delay: a channel made on the host where the
change would have come from, in a directory bridged everywhere, showing
on the others (names travel in one bucket, in order).  Every other wait
is a bounded poll (WAIT seconds, a hang guard, never a measurement).
After each test every daemon must still run and answer
(natstest.Host.trouble).
"""

import errno
import json
import os
import select
import stat
import subprocess
import sys
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import natstest  # noqa: E402
import test_bridge  # noqa: E402

WAIT = test_bridge.WAIT         # seconds; a hang guard
HANG = 30                       # seconds for one as_user(); a hang guard
BRIDGE = test_bridge.BRIDGE
G = 1500                        # a group alice is in and mallory is not
ALICE = (1000, 1000, (1000, G))
MALLORY = (1001, 1001, (1001,))


class AnyOf(frozenset):
    """Results a check allows, any one of them."""

    def __repr__(self):
        return " or ".join(sorted(self))


NOT_ALLOWED = AnyOf(("EPERM", "EACCES"))


# -- acting as another uid ---------------------------------------------------

def _flags(how):
    return {"r": os.O_RDONLY, "w": os.O_WRONLY,
            "rw": os.O_RDWR}[how] | os.O_NONBLOCK


def _open(path, how):
    os.close(os.open(path, _flags(how)))


def _create(path, mode):
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY |
                     os.O_NONBLOCK, mode))


def _write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        return os.write(fd, text.encode())
    finally:
        os.close(fd)


def _stat(path):
    st = os.stat(path)
    return [oct(st.st_mode), st.st_uid, st.st_gid]


OPS = {
    "open": _open, "create": _create, "write": _write, "stat": _stat,
    "mkdir": os.mkdir, "rmdir": os.rmdir, "unlink": os.unlink,
    "rename": os.rename, "chmod": os.chmod,
    "listdir": lambda p: sorted(os.listdir(p)),
    "setxattr": lambda p, n, v: os.setxattr(p, n, v.encode()),
}


def _run(ops):
    out = []
    for op in ops:
        try:
            r = OPS[op[0]](*op[1:])
            out.append("ok" if r is None else r)
        except OSError as e:
            out.append(errno.errorcode.get(e.errno, str(e.errno)))
    return out


def as_user(user, ops, umask=0):
    """Run ops, a list of [name, args...] (OPS above), in a child process
    with user's uid, gid and groups (a tuple as ALICE) and umask; a list
    with one result each: "ok", a value, or the errno's name."""
    uid, gid, groups = user
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups(list(groups))
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.umask(umask)
            os.chdir("/")
            data = json.dumps(_run(ops)).encode()
            while data:
                data = data[os.write(w, data):]
        except BaseException:       # noqa: B036 - report, never return
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(w)
    data, deadline = b"", time.monotonic() + HANG
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, 9)
                raise AssertionError("uid %d did not finish %r within %ds"
                                     % (uid, ops, HANG))
            got = os.read(r, 65536)
            if not got:
                break
            data += got
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    if not data:
        raise AssertionError("uid %d's process failed on %r" % (uid, ops))
    return json.loads(data)


def agrees(got, want):
    """want is a value, or the values allowed (AnyOf)."""
    return got in want if isinstance(want, AnyOf) else got == want


def attrs(path):
    """(mode with type, uid, gid) of path, or the errno's name."""
    try:
        st = os.stat(path)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return oct(st.st_mode), st.st_uid, st.st_gid


def bridge_mark(path):
    """user.ipcfs.bridge of path, or the errno's name."""
    try:
        return os.getxattr(path, BRIDGE).decode()
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


D = stat.S_IFDIR
C = stat.S_IFREG


@unittest.skipUnless(os.geteuid() == 0, "acting as other uids needs root")
class PermsCase(test_bridge.BridgeCase):
    """Hosts A, B and C with allow_other, and a directory "sync" bridged
    on all three for barriers."""

    hosts = 3
    options = ("-o", "allow_other")
    guard = 90
    barriers = 0        # channels made by barrier() so far

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            for h in cls.all:
                os.mkdir(h("sync"), 0o755)
                natstest.mark(h("sync"))
        except BaseException:
            cls.tearDownClass()
            raise

    def setUp(self):
        super().setUp()
        self.problems = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            trouble = [t for t in (h.trouble("local-" + self.dir)
                                   for h in self.all) if t is not None]
            if trouble:
                self.fail("\n".join(trouble))

    # -- helpers --

    def problem(self, text):
        self.problems.append(text)

    def conclude(self):
        """Fail with every problem found, in order, once each."""
        said = list(dict.fromkeys(self.problems))
        self.assertEqual(said, [], "\n" + "\n".join(said))

    def expect(self, user, host, ops, want, what=""):
        """Run ops as user; a problem for each result that is not as
        wanted (want: one entry per op, a value or AnyOf values)."""
        got = as_user(user, ops)
        who = {ALICE[0]: "alice", MALLORY[0]: "mallory"}.get(user[0], user[0])
        for op, g, w in zip(ops, got, want):
            if not agrees(g, w):
                self.problem("%s%s on %s: %s %s gave %r, want %r" % (
                    what and what + ": ", who, host, op[0],
                    " ".join(self.name_of(a) if str(a).startswith("/")
                             else repr(a) for a in op[1:]), g, w))
        return got

    def name_of(self, path):
        """host letter and path in its mount, for messages."""
        for n, h in zip("ABC", self.all):
            if path.startswith(h.path + "/"):
                return "%s:%s" % (n, path[len(h.path) + 1:])
        return path

    def poll(self, checks, wait=WAIT):
        """Poll checks, a list of (what, fn, want), until every fn() agrees
        with its want, or wait seconds have gone by (a hang guard); a
        problem for each that did not, with what it last gave."""
        deadline = time.monotonic() + wait
        left = list(checks)
        while True:
            last = {}
            for c in list(left):
                got = c[1]()
                if agrees(got, c[2]):
                    left.remove(c)
                else:
                    last[c[0]] = got
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for what, fn, want in left:
            self.problem("not within %ds: %s: it is %r, want %r" % (
                wait, what, last[what], want))
        return not left

    def has(self, path, kind, mode, uid=None, gid=None):
        """A check for poll(): path's type and mode bits, and its owner and
        group unless uid is None."""
        if uid is None:
            return (self.name_of(path) + " mode", lambda: (
                lambda a: a[0] if isinstance(a, tuple) else a)(attrs(path)),
                oct(kind | mode))
        return ("%s mode, owner and group" % self.name_of(path),
                lambda: attrs(path), (oct(kind | mode), uid, gid))

    def sees(self, user, path, op, want):
        """A check for poll(): as user, op (a list) gives want."""
        who = {ALICE[0]: "alice", MALLORY[0]: "mallory"}.get(user[0], user[0])
        return ("%s %s %s" % (who, op[0], self.name_of(path)),
                lambda: as_user(user, [[op[0], path] + op[1:]])[0], want)

    def barrier(self, src, *dsts):
        """Make a channel in "sync" on src and wait until it shows on dsts
        (all other hosts), then remove it: a change src made before has
        reached them by then."""
        PermsCase.barriers += 1
        name = "b%d" % PermsCase.barriers
        os.close(os.open(src("sync", name), os.O_CREAT | os.O_WRONLY, 0o600))
        for h in dsts or [h for h in self.all if h is not src]:
            self.shows(h("sync", name))
        os.unlink(src("sync", name))

    def tree(self, mode=0o700):
        """Alice's directory self.dir, made with mode on A and bridged
        there, with channels "secret" (0600) and "pub" (0644); then alice
        makes her own directory of that name, with the same mode, on B
        and C, and marks it (allowed to her: the cluster's owner), and
        the channels show there."""
        d = self.dir
        self.expect(ALICE, "A", [
            ["mkdir", self.A(d), mode], ["setxattr", self.A(d), BRIDGE,
                                         "nats"],
            ["create", self.A(d, "secret"), 0o600],
            ["create", self.A(d, "pub"), 0o644]], ["ok"] * 4)
        for n, h in (("B", self.B), ("C", self.C)):
            self.expect(ALICE, n, [["mkdir", h(d), mode],
                                   ["setxattr", h(d), BRIDGE, "nats"]],
                        ["ok", "ok"])
        self.conclude()
        for h in (self.B, self.C):
            for c in ("secret", "pub"):
                self.shows(h(d, c))

    def chmod_on_a(self, mode):
        """alice chmods her directory on A; wait until B's stat shows it
        and mallory on B sees the kernel apply it."""
        d = self.dir
        self.expect(ALICE, "A", [["chmod", self.A(d), mode]], ["ok"])
        self.conclude()
        listing = (["pub", "secret"] if mode & 0o005 == 0o005 else "EACCES")
        self.poll([self.has(self.B(d), D, mode, ALICE[0], ALICE[1]),
                   self.sees(MALLORY, self.B(d), ["listdir"], listing)])
        self.conclude()


class Adopt(PermsCase):
    """Marking a directory the cluster already has."""

    def test_marking_adopts_owner_group_mode(self):
        """Alice bridges her 0700 directory on A, with a 0600 and a 0644
        channel.  Root marks B's empty root-owned 0755 directory, alice
        her own 0755 one on C: both become alice's, group 1000, 0700, and
        show the channels as alice's, 0600 and 0644."""
        d = self.dir
        self.expect(ALICE, "A", [
            ["mkdir", self.A(d), 0o700], ["setxattr", self.A(d), BRIDGE,
                                         "nats"],
            ["create", self.A(d, "secret"), 0o600],
            ["create", self.A(d, "pub"), 0o644]], ["ok"] * 4)
        self.conclude()
        os.mkdir(self.B(d), 0o755)
        natstest.mark(self.B(d))
        self.expect(ALICE, "C", [["mkdir", self.C(d), 0o755],
                                 ["setxattr", self.C(d), BRIDGE, "nats"]],
                    ["ok", "ok"])
        self.conclude()
        checks = []
        for h in (self.B, self.C):
            checks += [self.has(h(d), D, 0o700, *ALICE[:2]),
                       self.has(h(d, "secret"), C, 0o600, *ALICE[:2]),
                       self.has(h(d, "pub"), C, 0o644, *ALICE[:2])]
        self.poll(checks)
        # The kernel on B and C applies what they show.
        for n, h in (("B", self.B), ("C", self.C)):
            self.expect(MALLORY, n, [["listdir", h(d)]], ["EACCES"])
            self.expect(ALICE, n, [["listdir", h(d)],
                                   ["open", h(d, "secret"), "r"]],
                        [["pub", "secret"], "ok"])
        self.conclude()

    def test_issue_reproduction(self):
        """Issue 20's reproduction: mallory on B makes a directory of her
        own with the name of alice's 0700 bridged one and marks it.  The
        mark fails with EPERM (or EACCES) and nothing changes anywhere:
        B's directory stays mallory's, 0755, unbridged and empty; she
        cannot remove alice's channel from B; on A alice's directory and
        channel are as they were, on the same stream, which a write and a
        read on A still go through."""
        d = self.dir
        self.expect(ALICE, "A", [
            ["mkdir", self.A(d), 0o700], ["setxattr", self.A(d), BRIDGE,
                                         "nats"],
            ["create", self.A(d, "secret"), 0o600],
            ["write", self.A(d, "secret"), "top secret"]],
            ["ok", "ok", "ok", 10])
        self.conclude()
        stream = test_bridge.figures(self.A(d, "secret"))["stream"]
        self.barrier(self.A)
        self.expect(MALLORY, "B", [["mkdir", self.B(d), 0o755]], ["ok"])
        self.expect(MALLORY, "B", [["setxattr", self.B(d), BRIDGE, "nats"]],
                    [NOT_ALLOWED], "the mark of another's directory")
        self.barrier(self.B)
        if attrs(self.B(d)) != (oct(D | 0o755), *MALLORY[:2]):
            self.problem("B's %s is %r after mallory's mark, want "
                         "hers, 0755" % (d, attrs(self.B(d))))
        if bridge_mark(self.B(d)) == "nats":
            self.problem("B's %s is bridged after mallory's mark" % d)
        self.expect(MALLORY, "B", [["listdir", self.B(d)]], [[]],
                    "after her mark")
        # The attack itself: her directory, alice's channel in it.
        got = as_user(MALLORY, [["unlink", self.B(d, "secret")]])[0]
        if got == "ok":
            self.problem("mallory removed alice's 0600 channel %s/secret "
                         "from B" % d)
        self.barrier(self.B)
        if attrs(self.A(d)) != (oct(D | 0o700), *ALICE[:2]):
            self.problem("A's %s is %r, want alice's 0700" % (
                d, attrs(self.A(d))))
        if attrs(self.A(d, "secret")) != (oct(C | 0o600), *ALICE[:2]):
            self.problem("A's %s/secret is %r, want alice's 0600" % (
                d, attrs(self.A(d, "secret"))))
        if self.problems:
            self.conclude()
        got = test_bridge.figures(self.A(d, "secret"))["stream"]
        if got != stream:
            self.problem("%s/secret's stream was %s, is %s" % (d, stream,
                                                                got))
        # A write and a read on A still go through its stream.
        fd = self.open(self.A(d, "secret"), os.O_RDWR | os.O_NONBLOCK)
        self.assertEqual(os.write(fd, b"again"), 5)
        got = self.read_within(fd, 15)
        if got != b"top secretagain":
            self.problem("A read %r from %s/secret, want %r" % (
                got, d, b"top secretagain"))
        self.conclude()

    def read_within(self, fd, n):
        """Read fd (non-blocking) until n bytes came or WAIT seconds have
        gone by (a hang guard); what came."""
        buf, deadline = b"", time.monotonic() + WAIT
        p = select.poll()
        p.register(fd, select.POLLIN)
        while len(buf) < n and time.monotonic() < deadline:
            if not p.poll(100):
                continue
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            if not data:
                break
            buf += data
        return buf

    def test_first_marker_wins(self):
        """Root's 1777 directory bridged on A: alice cannot mark her own
        0755 directory of that name on B (EPERM), which stays hers,
        unbridged and empty; root can, and then B's directory is root's,
        1777, with what the cluster has in it."""
        d = self.dir
        os.mkdir(self.A(d))
        os.chmod(self.A(d), 0o1777)
        natstest.mark(self.A(d))
        os.close(os.open(self.A(d, "x"), os.O_CREAT | os.O_WRONLY, 0o644))
        self.barrier(self.A)
        self.expect(ALICE, "B", [["mkdir", self.B(d), 0o755]], ["ok"])
        self.expect(ALICE, "B", [["setxattr", self.B(d), BRIDGE, "nats"]],
                    [NOT_ALLOWED], "the mark of root's 1777 directory")
        self.barrier(self.B)
        if attrs(self.B(d)) != (oct(D | 0o755), *ALICE[:2]):
            self.problem("B's %s is %r after alice's mark, want hers, "
                         "0755" % (d, attrs(self.B(d))))
        if bridge_mark(self.B(d)) == "nats" or os.listdir(self.B(d)):
            self.problem("B's %s is bridged after alice's mark (it has "
                         "%r)" % (d, os.listdir(self.B(d))))
        if attrs(self.A(d)) != (oct(D | 0o1777), 0, 0):
            self.problem("A's %s is %r, want root's 1777" % (
                d, attrs(self.A(d))))
        # Root may mark it; it becomes the cluster's.
        if self.problems:
            # A bridged B(d) would refuse the mark (already bridged).
            self.conclude()
        natstest.mark(self.B(d))
        self.poll([self.has(self.B(d), D, 0o1777, 0, 0),
                   ("B's %s/x" % d, lambda: self.exists(self.B(d, "x")),
                    True)])
        self.conclude()


class ModeBits(PermsCase):
    """Mallory on B in alice's directory bridged on A (tree()), as its
    mode allows: the mode it was made with on every host, or (0755) the
    one a chmod on A gives it."""

    def test_0700_refuses_everything(self):
        """0700: mallory on B can neither list the directory nor open,
        make, remove or rename anything in it (EACCES)."""
        self.tree()
        d = self.B(self.dir)
        self.expect(MALLORY, "B", [
            ["listdir", d], ["open", d + "/pub", "r"],
            ["open", d + "/secret", "r"], ["create", d + "/m", 0o644],
            ["unlink", d + "/pub"], ["rename", d + "/pub", d + "/p2"]],
            ["EACCES"] * 6)
        self.conclude()

    def test_0755_lists_and_reads(self):
        """0755 (a chmod by alice on A): mallory on B lists it, opens
        "pub" (0644) for reading but not for writing, cannot open
        "secret" (0600), and cannot make, remove or rename (EACCES)."""
        self.tree()
        self.chmod_on_a(0o755)
        d = self.B(self.dir)
        self.expect(MALLORY, "B", [
            ["listdir", d], ["open", d + "/pub", "r"],
            ["open", d + "/pub", "w"], ["open", d + "/secret", "r"],
            ["create", d + "/m", 0o644], ["mkdir", d + "/md", 0o755],
            ["unlink", d + "/pub"], ["rename", d + "/pub", d + "/p2"],
            ["rename", d + "/secret", d + "/s2"]],
            [["pub", "secret"], "ok"] + ["EACCES"] * 7)
        self.conclude()

    def test_0777_allows_everything(self):
        """0777 (made so on every host): mallory on B makes a channel and
        a directory, renames alice's "pub" and removes alice's "secret";
        A sees it all, and what she made as hers."""
        self.tree(0o777)
        d = self.B(self.dir)
        self.expect(MALLORY, "B", [
            ["create", d + "/m", 0o644], ["mkdir", d + "/md", 0o755],
            ["rename", d + "/pub", d + "/p2"], ["unlink", d + "/secret"]],
            ["ok"] * 4)
        self.conclude()
        a = self.A(self.dir)
        self.poll([("A's listing", lambda: sorted(os.listdir(a)),
                    ["m", "md", "p2"]),
                   self.has(a + "/m", C, 0o644, *MALLORY[:2]),
                   self.has(a + "/md", D, 0o755, *MALLORY[:2]),
                   self.has(a + "/p2", C, 0o644, *ALICE[:2])])
        self.conclude()

    def test_sticky_keeps_others_names(self):
        """01777 (made so on every host): mallory on B cannot remove or
        rename alice's channels, nor rename hers over one (EPERM or
        EACCES), but makes, renames and removes her own; A still has
        alice's."""
        self.tree(0o1777)
        d = self.B(self.dir)
        # A name renamed on B is not used again at once: right after a
        # rename the renaming host's listing can show the old name for a
        # moment (its own earlier put coming back), which is not what
        # this test is about.
        self.expect(MALLORY, "B", [
            ["unlink", d + "/pub"], ["unlink", d + "/secret"],
            ["rename", d + "/pub", d + "/p2"],
            ["create", d + "/m", 0o644], ["mkdir", d + "/md", 0o755],
            ["rmdir", d + "/md"], ["create", d + "/n", 0o644],
            ["unlink", d + "/n"], ["rename", d + "/m", d + "/m2"],
            ["create", d + "/k", 0o644], ["rename", d + "/k", d + "/pub"]],
            [NOT_ALLOWED] * 3 + ["ok"] * 7 + [NOT_ALLOWED])
        self.barrier(self.B)
        want = ["k", "m2", "pub", "secret"]
        self.poll([("A's listing", lambda: sorted(os.listdir(
            self.A(self.dir))), want),
            ("B's listing", lambda: sorted(os.listdir(d)), want),
            self.has(self.A(self.dir, "pub"), C, 0o644, *ALICE[:2]),
            self.has(self.A(self.dir, "m2"), C, 0o644, *MALLORY[:2])])
        self.conclude()

    def test_sticky_mount_root(self):
        """The mount root is 1777 on every host; in it mallory on B can
        neither remove nor rename alice's bridged directory (EPERM or
        EACCES), while she makes and removes her own; A still has
        alice's."""
        for n, h in zip("ABC", self.all):
            if attrs(h.path)[0] != oct(D | 0o1777):
                self.problem("%s's mount root is %r, want 1777" % (
                    n, attrs(h.path)))
        self.tree(0o755)
        mine = self.B("m-" + self.dir)
        self.expect(MALLORY, "B", [
            ["rmdir", self.B(self.dir)],
            ["rename", self.B(self.dir), self.B("stolen-" + self.dir)],
            ["mkdir", mine, 0o755], ["rmdir", mine]],
            [NOT_ALLOWED, NOT_ALLOWED, "ok", "ok"])
        self.barrier(self.B)
        self.poll([self.has(self.A(self.dir), D, 0o755, *ALICE[:2]),
                   self.has(self.B(self.dir), D, 0o755, *ALICE[:2]),
                   ("A's listing", lambda: sorted(os.listdir(
                       self.A(self.dir))), ["pub", "secret"])])
        self.conclude()

    def test_made_by_another_uid_is_hers(self):
        """In a 0777 directory (root's, the same on every host) mallory
        makes a channel and a directory on B: A and C show them as
        hers, group 1001."""
        d = self.dir
        for h in self.all:
            os.mkdir(h(d))
            os.chmod(h(d), 0o777)
            natstest.mark(h(d))
        self.expect(MALLORY, "B", [["create", self.B(d, "m"), 0o640],
                                   ["mkdir", self.B(d, "md"), 0o750]],
                    ["ok", "ok"])
        self.conclude()
        self.poll([self.has(h(d, "m"), C, 0o640, *MALLORY[:2])
                   for h in (self.A, self.C)] +
                  [self.has(h(d, "md"), D, 0o750, *MALLORY[:2])
                   for h in (self.A, self.C)])
        self.conclude()


class Attributes(PermsCase):
    """chmod, chown and utimensat on one host reach the others: for
    channel "c", subdirectory "s" and the bridged directory itself, made
    by root the same on every host (fixture()); and setgid."""

    def fixture(self, chan_mode, sub_mode=0o755):
        """self.dir (0755) bridged on every host, with s (sub_mode) and c
        (chan_mode) made on A, all root's; the paths of top, s and c on
        each host, as {host letter: (top, s, c)}."""
        d = self.dir
        for h in self.all:
            os.mkdir(h(d))
            os.chmod(h(d), 0o755)
            natstest.mark(h(d))
        # Made with their modes (umask 0), not chmod'ed after.
        old = os.umask(0)
        try:
            os.mkdir(self.A(d, "s"), sub_mode)
            os.close(os.open(self.A(d, "c"), os.O_CREAT | os.O_WRONLY,
                             chan_mode))
        finally:
            os.umask(old)
        out = {}
        for n, h in zip("ABC", self.all):
            out[n] = (h(d), h(d, "s"), h(d, "c"))
            self.shows(h(d, "s"))
            self.shows(h(d, "c"))
        return out

    def test_chmod_reaches_every_host(self):
        """chmod on A of the bridged directory (0711), the subdirectory
        (03770) and the channel (0600) shows on B and C, whose kernels
        apply it: mallory can list neither directory nor open the
        channel there.  A chmod on B (the channel to 0604) shows on A
        and C, where mallory can then open it for reading."""
        p = self.fixture(0o666)
        top, s, c = p["B"]
        self.expect(MALLORY, "B", [["listdir", top], ["listdir", s],
                                   ["open", c, "rw"]],
                    [["c", "s"], [], "ok"], "before the chmod")
        self.conclude()
        top, s, c = p["A"]
        os.chmod(top, 0o711)
        os.chmod(s, 0o3770)
        os.chmod(c, 0o600)
        checks = []
        for n in "BC":
            top, s, c = p[n]
            checks += [self.has(top, D, 0o711), self.has(s, D, 0o3770),
                       self.has(c, C, 0o600),
                       self.sees(MALLORY, top, ["listdir"], "EACCES"),
                       self.sees(MALLORY, s, ["listdir"], "EACCES"),
                       self.sees(MALLORY, c, ["open", "r"], "EACCES")]
        self.poll(checks)
        os.chmod(p["B"][2], 0o604)
        checks = []
        for n in "AC":
            checks += [self.has(p[n][2], C, 0o604),
                       self.sees(MALLORY, p[n][2], ["open", "r"], "ok")]
        self.poll(checks)
        self.conclude()

    def test_chown_reaches_every_host(self):
        """chown by root on A: the channel (0600) and the subdirectory
        (0700) to mallory and group 1500, the bridged directory to alice
        and group 1500; B and C show it, and their kernels apply it:
        mallory opens the channel and lists the subdirectory, alice may
        chmod the bridged directory.  A chown on C (the channel back to
        root) shows on A and B."""
        p = self.fixture(0o600, 0o700)
        top, s, c = p["A"]
        os.chown(top, ALICE[0], G)
        os.chown(s, MALLORY[0], G)
        os.chown(c, MALLORY[0], G)
        checks = []
        for n in "BC":
            top, s, c = p[n]
            checks += [self.has(top, D, 0o755, ALICE[0], G),
                       self.has(s, D, 0o700, MALLORY[0], G),
                       self.has(c, C, 0o600, MALLORY[0], G),
                       self.sees(MALLORY, s, ["listdir"], []),
                       self.sees(MALLORY, c, ["open", "rw"], "ok")]
        if self.poll(checks):
            self.expect(ALICE, "B", [["chmod", p["B"][0], 0o755]], ["ok"],
                        "alice, the owner now")
        os.chown(p["C"][2], 0, 0)
        checks = []
        for n in "AB":
            checks += [self.has(p[n][2], C, 0o600, 0, 0),
                       self.sees(MALLORY, p[n][2], ["open", "r"], "EACCES")]
        self.poll(checks)
        self.conclude()

    def times(self, paths, want):
        """Checks for poll(): each path's (atime, mtime) in ns is want."""
        def get(q):
            try:
                st = os.stat(q)
            except OSError as e:
                return errno.errorcode.get(e.errno, str(e.errno))
            return st.st_atime_ns, st.st_mtime_ns
        return [(self.name_of(q) + " (atime, mtime) ns",
                 lambda q=q: get(q), w) for q, w in zip(paths, want)]

    def mtimes(self, paths, want):
        def get(q):
            try:
                return os.stat(q).st_mtime_ns
            except OSError as e:
                return errno.errorcode.get(e.errno, str(e.errno))
        return [(self.name_of(q) + " mtime ns", lambda q=q: get(q), w)
                for q, w in zip(paths, want)]

    def test_utime_reaches_every_host(self):
        """os.utime with explicit times (ns) on A of the bridged
        directory, the subdirectory and the channel: B and C show the
        same atime and mtime.  Then touch(1) on B of the three: A and C
        show the mtime B gave them."""
        p = self.fixture(0o644)
        base = 1_500_000_000_000_000_000
        want = [(base + i * 10**9 + 123456789, base + i * 10**9 + 987654321)
                for i in range(3)]
        for q, (at, mt) in zip(p["A"], want):
            os.utime(q, ns=(at, mt))
        self.poll(self.times(p["B"], want) + self.times(p["C"], want))
        subprocess.run(["touch", *p["B"]], check=True, timeout=HANG)
        now = [os.stat(q).st_mtime_ns for q in p["B"]]
        if any(m < time.time_ns() - 60 * 10**9 for m in now):
            self.problem("touch on B left mtimes %r" % now)
        self.poll(self.mtimes(p["A"], now) + self.mtimes(p["C"], now))
        self.conclude()

    def test_setgid_directory(self):
        """A bridged directory with g+s and group 1500 (root's 2775, the
        same on every host): a channel and a subdirectory alice makes in
        it on B get group 1500, the subdirectory g+s, on B and on A."""
        d = self.dir
        for h in self.all:
            os.mkdir(h(d))
            os.chown(h(d), 0, G)
            os.chmod(h(d), 0o2775)
            natstest.mark(h(d))
        self.expect(ALICE, "B", [["create", self.B(d, "c"), 0o644],
                                 ["mkdir", self.B(d, "s"), 0o755]],
                    ["ok", "ok"])
        self.conclude()
        self.poll([self.has(h(d, "c"), C, 0o644, ALICE[0], G)
                   for h in (self.B, self.A)] +
                  [self.has(h(d, "s"), D, 0o2755, ALICE[0], G)
                   for h in (self.B, self.A)])
        self.conclude()


if __name__ == "__main__":
    unittest.main()
