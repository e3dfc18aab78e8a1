"""The bridged namespace stays one tree across hosts (issue 19, findings 7
and 8, and the bridge= mount option).  One nats-server per test class and
two or three ipcfs daemons bridged to it (natstest.Host), standing for
hosts; each test works under a name of its own.

- Finding 7: a bridge root is a bridged directory whose parent is not
  bridged (the directory given user.ipcfs.bridge=nats).  Renaming it, or
  any ancestor of it, moved it on one host only: after "mv r r2; rm r2/x"
  on A, B still listed x with no stream, and a read and a write of it on
  B both hung.  Such a rename must fail with EBUSY on the host that tries
  it, and change nothing on any host: every host lists the same names and
  the channels still carry data.  Renames inside the bridge (both parents
  bridged) go on working and show on every host: a subdirectory with
  channels below it, a channel over an existing channel, a directory over
  an empty one.
- Finding 8: renameat2(RENAME_EXCHANGE) where either side is bridged
  deleted the swapped channel's stream on every host.  It must fail with
  EXDEV, also when both sides are in the same bridged directory, and
  change nothing on any host.
- test_churn: threads on three hosts at once create, mkdir, rename (files
  and directories, over existing names too), unlink and rmdir on a small
  name space in one bridged directory.  Once the hosts are quiet their
  trees (names and types, recursively) must be identical, each channel
  one stream on every host, and every channel must carry one record from
  one host to a reader on another, with no caller hung or in state D.
  The seed is printed; BRIDGE_NAMES_SEED=N repeats its operations (the
  interleaving of the threads is the machine's).
- Conflicts: the same checks after two hosts made changes at odds with
  each other at once (the server frozen meanwhile), one pair each: a
  channel made in a directory renamed or removed elsewhere, a directory
  and a channel of one name, crossed directory renames, a rename and an
  unlink of one channel, and so on.  Which change wins is not checked,
  only that there is one tree.
- The bridge=PATH mount option (repeatable): the daemon makes PATH and
  its missing parents and bridges PATH at start, so a remounted host
  bridges again without a script; a bad PATH (empty, "..", an absolute
  path with "..", too long) makes the daemon refuse to start with one
  line, its own, naming the option.

"Quiet" is every host's tree the same for a second, or no host's tree
changing for a few seconds while they differ (then the test fails with
where they differ and what the cluster's names bucket holds).

"Nothing changes" is checked without sleeping: after a refused rename the
host that tried it makes a marker channel and waits until every other
host has it (a host's name changes go out in order, through one bucket),
then the trees are compared with those from before.  Every test ends by
checking that every daemon still runs and answers (a listing of its root,
a local channel's write and read).  Waits are bounded only as hang
guards, never measured.

Run as "test_bridge_names.py worker ..." this file is a worker process
(see worker() below).
"""

import base64
import ctypes
import errno
import json
import os
import random
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
import natstest  # noqa: E402
import test_bridge  # noqa: E402

PY = "/usr/bin/python3"
ME = os.path.abspath(__file__)
WAIT = test_bridge.WAIT     # a change showing elsewhere; a hang guard
DATA_WAIT = 20.0            # records to go through; a hang guard
QUIET_WAIT = 30.0           # the hosts to stop changing; a hang guard
BRIDGE = test_bridge.BRIDGE
NS = "ipcfs"                # the default -o nats_name (src/opts.c)
STREAM = re.compile(r"%s_[0-9a-f]{16}\Z" % NS)
figures = ipcfs_test.figures

AT_FDCWD = -100
RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                            ctypes.c_char_p, ctypes.c_uint]


def exchange(a, b):
    """renameat2(a, b, RENAME_EXCHANGE); OSError on failure."""
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b),
                       RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a, None, b)


def touch(path):
    """Make the channel path (it must not exist)."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))


def task_states(pid):
    """{tid: state letter} of every thread of pid, {} once it is gone."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
            out[int(tid)] = s[s.rindex(")") + 2]
        except (OSError, ValueError):
            pass
    return out


def wchan(pid, tid):
    try:
        with open("/proc/%d/task/%d/wchan" % (pid, tid)) as f:
            return f.read()
    except OSError:
        return ""


# -- the worker processes ---------------------------------------------------

def worker(argv):
    """The processes the data checks start:

    readers PATH...
        open every PATH for reading (in order), print "open", then read
        each until end of file, a thread each, and print one JSON line
        [i, data] per PATH as it ends ([i, "!ERRNO"] if a call failed)
    writers PATH RECORD [PATH RECORD...]
        a thread each: open PATH for writing, write RECORD in one write,
        close, and print one JSON line [i, count] ([i, "!ERRNO"])
    """
    what, args = argv[0], argv[1:]
    lock = threading.Lock()

    def say(*x):
        with lock:
            print(json.dumps(list(x)), flush=True)

    def failed(e):
        return "!" + errno.errorcode.get(e.errno, str(e.errno))

    if what == "readers":
        fds = []
        for i, p in enumerate(args):
            try:
                fds.append(os.open(p, os.O_RDONLY))
            except OSError as e:
                say(i, failed(e))
                fds.append(None)
        print("open", flush=True)

        def read(i, fd):
            got = b""
            try:
                while True:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    got += data
            except OSError as e:
                say(i, failed(e))
                return
            finally:
                os.close(fd)
            say(i, got.decode(errors="replace"))
        ts = [threading.Thread(target=read, args=(i, fd))
              for i, fd in enumerate(fds) if fd is not None]
    elif what == "writers":
        def write(i, path, rec):
            try:
                fd = os.open(path, os.O_WRONLY)
                try:
                    n = os.write(fd, rec.encode())
                finally:
                    os.close(fd)
            except OSError as e:
                say(i, failed(e))
                return
            say(i, n)
        ts = [threading.Thread(target=write, args=(i, args[2 * i],
                                                   args[2 * i + 1]))
              for i in range(len(args) // 2)]
    else:
        sys.exit("test_bridge_names.py: no worker %r" % what)
    for t in ts:
        t.start()
    for t in ts:
        t.join()


# -- the names bucket, for a failure's report ------------------------------

def key_path(key):
    """The path a names key stands for ("=XX" decoded, "." as "/")."""
    out = []
    for comp in key.split("."):
        b, i = bytearray(), 0
        while i < len(comp):
            if comp[i] == "=" and i + 3 <= len(comp):
                b.append(int(comp[i + 1:i + 3], 16))
                i += 3
            else:
                b += comp[i].encode()
                i += 1
        out.append(b.decode(errors="replace"))
    return "/".join(out)


def names_bucket(url):
    """{path: value} of what the cluster's names bucket holds now (deleted
    keys left out), or a string saying why it could not be read."""
    stream, prefix = "KV_%s_names" % NS, "$KV.%s_names." % NS
    try:
        info = natstest.jsapi(url, "STREAM.INFO." + stream,
                              {"subjects_filter": prefix + ">"})
        subjects = sorted((info or {}).get("state", {}).get("subjects")
                          or {})
        out = {}
        for subj in subjects:
            m = natstest.jsapi(url, "STREAM.MSG.GET." + stream,
                               {"last_by_subj": subj})
            msg = (m or {}).get("message")
            if not msg:
                continue
            hdrs = base64.b64decode(msg.get("hdrs") or b"").decode(
                errors="replace")
            if "KV-Operation" in hdrs:
                continue            # DEL or PURGE
            out[key_path(subj[len(prefix):])] = base64.b64decode(
                msg.get("data") or b"").decode(errors="replace")
        return out
    except OSError as e:
        return "cannot read the names bucket: %s" % e


def bucket_report(url, top, most=40):
    """The names bucket under top for a failure's message: its paths,
    sorted, "d" or the channel's stream id, the first most of them."""
    got = names_bucket(url)
    if isinstance(got, str):
        return got
    got = {p: v for p, v in got.items() if p.startswith(top + "/")}
    lines = ["  %s: %s" % (p, v.split()[0] if v.startswith("d ") else
                           v.split()[1] if len(v.split()) > 1 else v)
             for p, v in sorted(got.items())]
    if len(lines) > most:
        lines[most:] = ["  ... and %d more" % (len(lines) - most)]
    return "%d names:\n%s" % (len(got), "\n".join(lines))


# -- the test classes ------------------------------------------------------

class NamesCase(test_bridge.BridgeCase):
    """BridgeCase with what these tests need: trees, markers, records
    carried between hosts, and the hosts' health at the end."""

    hosts = 2

    def setUp(self):
        super().setUp()
        self.marks = 0

    # -- trees --

    @staticmethod
    def tree(h, *top):
        """{relative path: "d", "f" or "?"} of everything under top on h
        ("?": a name os.listdir gives that os.lstat does not find)."""
        out = {}

        def walk(rel):
            try:
                names = os.listdir(h(*top, *rel))
            except (FileNotFoundError, NotADirectoryError):
                return
            for n in names:
                p = rel + (n,)
                try:
                    st = os.lstat(h(*top, *p))
                except (FileNotFoundError, NotADirectoryError):
                    # It changed under the walk (a host following the
                    # bucket): the caller looks again.
                    out["/".join(p)] = "?"
                    continue
                if stat.S_ISDIR(st.st_mode):
                    out["/".join(p)] = "d"
                    walk(p)
                else:
                    out["/".join(p)] = "f" if stat.S_ISREG(st.st_mode) \
                        else "other %o" % st.st_mode
        walk(())
        return out

    def streams(self, h, top, tree):
        """{path: stream} of the channels of tree on h (None: none)."""
        out = {}
        for p, kind in tree.items():
            if kind == "f":
                try:
                    out[p] = figures(h(*top, *p.split("/"))).get("stream")
                except OSError as e:
                    out[p] = "!" + errno.errorcode.get(e.errno, "?")
        return out

    @staticmethod
    def diff(trees, most=40):
        """Where trees ({host name: tree}) differ, one line a path ("-":
        not there), the first most of them."""
        paths = sorted(set().union(*trees.values()))
        lines = []
        for p in paths:
            kinds = {n: t.get(p, "-") for n, t in trees.items()}
            if len(set(kinds.values())) > 1:
                lines.append("  %s: %s" % (p, " ".join(
                    "%s=%s" % kv for kv in sorted(kinds.items()))))
        if len(lines) > most:
            lines[most:] = ["  ... and %d more" % (len(lines) - most)]
        return "\n".join(lines)

    def marker(self, origin, *bridged):
        """Make a marker channel in the bridged directory bridged on
        origin, wait until every host has it, remove it and wait until it
        is gone everywhere.  A host's name changes go out in order, so
        whatever origin sent before has then been applied everywhere."""
        self.marks += 1
        name = ".mark-%d" % self.marks
        p = origin(*bridged, name)
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        for h in self.all:
            self.shows(h(*bridged, name))
        os.unlink(p)
        for h in self.all:
            self.goes(h(*bridged, name))

    def same_everywhere(self, *top):
        """Wait (a hang guard) until every host has the same tree under
        top; that tree."""
        trees = {}

        def same():
            trees.clear()
            trees.update({n: self.tree(h, *top)
                          for n, h in zip("ABCD", self.all)})
            return len({json.dumps(t, sort_keys=True)
                        for t in trees.values()}) == 1
        if not same():
            try:
                self.until("the same tree under %s on every host" %
                           "/".join(top), same)
            except AssertionError as e:
                raise AssertionError("%s\nwhere they differ:\n%s" % (
                    e, self.diff(trees))) from None
        return trees["A"]

    def unchanged(self, before, *top):
        """Every host's tree and streams under top are as in before (a
        dict of (tree, streams) by host name)."""
        for n, h in zip("ABCD", self.all):
            t = self.tree(h, *top)
            self.assertEqual(t, before[n][0], "host %s's tree under %s "
                             "changed" % (n, "/".join(top)))
            self.assertEqual(self.streams(h, top, t), before[n][1],
                             "host %s's streams under %s changed" % (
                                 n, "/".join(top)))

    def state(self, *top):
        """{host name: (tree, streams)} under top, the same on every
        host, and every channel one stream everywhere."""
        t = self.same_everywhere(*top)
        out = {n: (t, self.streams(h, top, t))
               for n, h in zip("ABCD", self.all)}
        for n in out:
            self.assertEqual(out[n][1], out["A"][1], "host %s's streams "
                             "differ from A's" % n)
        self.assertNotIn(None, out["A"][1].values(), "a channel with no "
                         "stream: %r" % out["A"][1])
        return out

    def one_tree(self, top, what, still):
        """Wait until the hosts are quiet: every host's tree under top the
        same for a second (then it is returned), or no host's changing
        for still seconds while they differ (a failure), within
        QUIET_WAIT (a hang guard).  Then every channel must be one
        stream, the same on every host, and carry a record from one host
        to a reader on another (carry())."""
        hosts = dict(zip("ABCD", self.all))
        last, same_since, still_since = None, None, time.monotonic()
        deadline = time.monotonic() + QUIET_WAIT
        while True:
            trees = {n: self.tree(h, top) for n, h in hosts.items()}
            now = time.monotonic()
            if trees != last:
                still_since, last = now, trees
            same = len({json.dumps(t, sort_keys=True)
                        for t in trees.values()}) == 1
            if not same:
                same_since = None
            elif same_since is None:
                same_since = now
            if same and now - same_since >= 1.0:
                break
            if not same and now - still_since >= still:
                self.fail("%s: the hosts' trees differ, and stayed so for "
                          "%d s:\n%s\nthe names bucket, %s%s" % (
                              what, still, self.diff(trees),
                              bucket_report(self.server.url, top),
                              self.logs()))
            if now > deadline:
                self.fail("%s: the hosts' trees still change after %ds; "
                          "now:\n%s\nthe names bucket, %s%s" % (
                              what, QUIET_WAIT, self.diff(trees),
                              bucket_report(self.server.url, top),
                              self.logs()))
            time.sleep(0.25)
        tree = trees["A"]
        streams = {n: self.streams(h, (top,), tree)
                   for n, h in hosts.items()}
        bad = ["  %s: %s" % (p, " ".join("%s=%s" % (n, streams[n][p])
                                         for n in hosts))
               for p in sorted(streams["A"])
               if len({streams[n][p] for n in hosts}) > 1 or
               not STREAM.match(streams["A"][p] or "")]
        problems = []
        if bad:
            problems.append("channels that are not one stream on every "
                            "host:\n" + "\n".join(bad))
        H = self.all
        plan = [((top, *p.split("/")), H[(i + 1) % len(H)], H[i % len(H)])
                for i, p in enumerate(sorted(streams["A"]))]
        problems += self.carry(plan, what)
        self.assertEqual(problems, [], "%s:\n%s\nthe names bucket, %s%s" % (
            what, "\n".join(problems), bucket_report(self.server.url, top),
            self.logs()))
        return tree

    # -- data --

    @staticmethod
    def first_line(p, wait):
        """p's first line of output, or None if none came within wait."""
        r, _, _ = select.select([p.stdout], [], [], wait)
        return p.stdout.readline().rstrip("\n") if r else None

    def carry(self, plan, what=""):
        """For each (path tuple, writer host, reader host) of plan: a
        reader opens the channel on its host, then a writer on the other
        writes one record of its own and closes.  Readers and writers are
        worker processes (one per host and role, a thread per channel).
        Every reader must get exactly its record and end of file, every
        writer write it whole, within DATA_WAIT (a hang guard), and no
        thread of theirs may stay in state D for a second (a moment in D
        is how the kernel waits for a lookup of the same name or for the
        directory's lock while the daemon answers another caller; a call
        the daemon holds must sleep in S).  Returns the problems found,
        one line each."""
        if not plan:
            return []
        assert len({p for p, _, _ in plan}) == len(plan), \
            "one record a channel: a queue's readers would share them"
        recs = ["record %d of %s %s\n" % (i, self._testMethodName,
                                           "/".join(path))
                for i, (path, _, _) in enumerate(plan)]
        problems, dstate, dsince = [], {}, {}
        procs = []              # (role, host, [plan index...], process)
        bad = set()             # plan indexes with a problem

        def by(role):
            out = {}
            for i, (path, w, r) in enumerate(plan):
                out.setdefault(id(w if role == "writers" else r),
                               (w if role == "writers" else r, []))[1] \
                    .append(i)
            return out.values()

        def sample(final=False):
            now = time.monotonic()
            for role, h, idx, p in procs:
                for tid, st in task_states(p.pid).items():
                    k = (p.pid, tid)
                    if st != "D":
                        dsince.pop(k, None)
                        continue
                    dsince.setdefault(k, now)
                    if final or now - dsince[k] >= 1.0:
                        dstate[k] = "%s on %s: thread %d in D %s(%s)" % (
                            role, h.id, tid, "at the end " if final else
                            "for a second ", wchan(p.pid, tid))
        for h, idx in by("readers"):
            p = self.spawn(PY, ME, "worker", "readers",
                           *[h(*plan[i][0]) for i in idx],
                           stdin=subprocess.DEVNULL)
            procs.append(("readers", h, idx, p))
        for _, h, idx, p in procs:
            line = self.first_line(p, DATA_WAIT)
            if line != "open":
                return ["%s: the readers on %s did not all open within %ds "
                        "(printed %r; threads %r): %s" % (
                            what, h.id, DATA_WAIT, line, task_states(p.pid),
                            [plan[i][0] for i in idx])]
        for h, idx in by("writers"):
            args = []
            for i in idx:
                args += [h(*plan[i][0]), recs[i]]
            p = self.spawn(PY, ME, "worker", "writers", *args,
                           stdin=subprocess.DEVNULL)
            procs.append(("writers", h, idx, p))
        deadline = time.monotonic() + DATA_WAIT
        while any(p.poll() is None for _, _, _, p in procs):
            sample()
            if time.monotonic() > deadline:
                sample(final=True)
                break
            time.sleep(0.05)
        hung = [(role, h, idx) for role, h, idx, p in procs
                if p.poll() is None]
        for _, _, _, p in procs:
            if p.poll() is None:
                p.kill()
        for role, h, idx, p in procs:
            out, err = self.output(p, 5)
            if out is None:
                out = ""
            done = {}
            for ln in out.splitlines():
                if ln != "open":
                    i, v = json.loads(ln)
                    done[idx[i]] = v
            for j in idx:
                path = "/".join(plan[j][0])
                if j not in done:
                    problems.append("%s: %s: the %s on %s did not finish "
                                    "within %ds" % (what, path, role[:-1],
                                                    h.id, DATA_WAIT))
                elif role == "writers" and done[j] != len(recs[j]):
                    problems.append("%s: %s: the write on %s returned %r" %
                                    (what, path, h.id, done[j]))
                elif role == "readers" and done[j] != recs[j]:
                    problems.append("%s: %s: the reader on %s got %r, not "
                                    "%r" % (what, path, h.id, done[j],
                                            recs[j]))
                else:
                    continue
                bad.add(j)
            if err.strip():
                problems.append("%s: %s on %s: stderr %s" % (
                    what, role, h.id, err.strip()[-500:]))
        if hung:
            problems.append("%s: still running after %ds: %s" % (
                what, DATA_WAIT, ", ".join("%s on %s" % (r, h.id)
                                           for r, h, _ in hung)))
        for j in sorted(bad):
            path, w, r = plan[j]
            problems.append("%s: %s: %s" % (what, "/".join(path), "; ".join(
                "on %s %s" % (h.id, self.stream_story(h(*path)))
                for h in (w, r))))
        return problems + sorted(dstate.values())

    def stream_story(self, path):
        """What the channel at path has for a stream, and what the server
        knows of that stream, for a failure's message."""
        try:
            st = figures(path)
        except OSError as e:
            return "no stats (%s)" % e
        name = st.get("stream")
        if name is None:
            return "no stream (remote readers %s, writers %s)" % (
                st.get("remote_readers"), st.get("remote_writers"))
        try:
            info = natstest.jsapi(self.server.url, "STREAM.INFO." + name)
        except OSError as e:
            info = {"error": str(e)}
        if isinstance(info, dict) and "state" in info:
            return "stream %s: %d messages, %d consumers" % (
                name, info["state"].get("messages", 0),
                info["state"].get("consumer_count", 0))
        return "stream %s, on the server: %s" % (
            name, (info or {}).get("error", info))

    def carries(self, plan, what=""):
        problems = self.carry(plan, what)
        self.assertEqual(problems, [], "records across hosts:\n%s%s" % (
            "\n".join(problems), self.logs()))

    def both_ways(self, what, *paths):
        """Each path written on A and read on B, then (a queue has one
        reader at a time here) written on B and read on A."""
        A, B = self.all[0], self.all[1]
        self.carries([(p, A, B) for p in paths], what + ", A to B")
        self.carries([(p, B, A) for p in paths], what + ", B to A")

    # -- the hosts' health --

    def check_hosts(self):
        """Every daemon runs, lists its root, and moves a record through
        a local channel."""
        for n, h in zip("ABCDEFG", self.all + self.extra):
            if h.mount is None:
                continue
            self.assertIsNone(h.mount.proc.poll(), "host %s's daemon "
                              "exited: %s" % (n, h.log()[-3000:]))
            os.listdir(h.path)
            p = h("local-%s" % self._testMethodName)
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o666))
            rfd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            try:
                wfd = os.open(p, os.O_WRONLY)
                try:
                    self.assertEqual(os.write(wfd, b"ping"), 4)
                finally:
                    os.close(wfd)
                self.assertEqual(os.read(rfd, 100), b"ping")
            finally:
                os.close(rfd)
            os.unlink(p)

    def refused(self, want, fn, *args):
        """fn(*args) must fail with errno want (a name, or a tuple of
        names any of which will do)."""
        want = (want,) if isinstance(want, str) else want
        try:
            fn(*args)
        except OSError as e:
            got = errno.errorcode.get(e.errno, str(e.errno))
            self.assertIn(got, want, "%s%r failed with %s, not %s" % (
                fn.__name__, args, got, " or ".join(want)))
            return
        self.fail("%s%r succeeded: expected %s" % (
            fn.__name__, args, " or ".join(want)))


class RenameRoot(NamesCase):
    """Finding 7: a bridge root, or an ancestor of one, cannot be renamed
    (EBUSY, nothing changes anywhere); renames inside the bridge work."""

    hosts = 2

    def populate(self, *top):
        """Channels x, y and sub/z under the bridged directory top, made
        on A, on every host."""
        A = self.A
        os.mkdir(A(*top, "sub"), 0o755)
        for names in (("x",), ("y",), ("sub", "z")):
            os.close(os.open(A(*top, *names),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        for h in self.all:
            self.shows(h(*top, "sub", "z"))
        return self.state(*top)

    def test_rename_bridge_root(self):
        """mv r r2 (and mv r plain/r) on A, then on B: EBUSY; then rm r/x
        goes everywhere and the channels carry data both ways.  (Before
        the fix: the rename succeeded on A only; "mv r r2; rm r2/x" on A
        left x on B, with no stream, and a read and a write of it on B
        hung.)"""
        A, B = self.A, self.B
        r = self.bridged()
        before = self.populate(r)
        plain = "%s-plain" % r
        for h in (A, B):
            os.mkdir(h(plain), 0o755)
        for h in (A, B):
            self.refused("EBUSY", os.rename, h(r), h(r + "-2"))
            self.refused("EBUSY", os.rename, h(r), h(plain, r))
            self.assertTrue(self.exists(h(r, "x")))
            self.marker(h, r)
        self.unchanged(before, r)
        for h in (A, B):
            self.assertEqual(os.listdir(h(plain)), [])
            self.assertEqual(os.getxattr(h(r), BRIDGE), b"nats")
        # What split the cluster: rm of a channel after the rename.
        os.unlink(A(r, "x"))
        self.goes(B(r, "x"))
        self.state(r)
        self.both_ways("after the refused renames", (r, "y"),
                       (r, "sub", "z"))
        self.check_hosts()

    def test_rename_ancestor_of_bridge_root(self):
        """top/mid/r bridged, top and mid plain: renaming top or mid, in
        place or elsewhere, is EBUSY; a sibling of mid, and a local
        channel in top, rename as usual."""
        A, B = self.A, self.B
        top = self.dir
        r = (top, "mid", "r")
        for h in (A, B):
            os.makedirs(h(*r), 0o755)
            natstest.mark(h(*r))
            os.mkdir(h(top, "other"), 0o755)
            os.close(os.open(h(top, "local"), os.O_CREAT | os.O_WRONLY,
                             0o666))
        before = self.populate(*r)
        for h in (A, B):
            self.refused("EBUSY", os.rename, h(top), h(top + "-2"))
            self.refused("EBUSY", os.rename, h(top, "mid"), h(top, "mid2"))
            self.refused("EBUSY", os.rename, h(top, "mid"),
                         h(top, "other", "mid"))
            self.refused("EBUSY", os.rename, h(top, "mid"),
                         h("%s-mid" % top))
            self.marker(h, *r)
        self.unchanged(before, *r)
        # Not ancestors: they rename, on their host only (not bridged).
        for h in (A, B):
            os.rename(h(top, "other"), h(top, "other2"))
            os.rename(h(top, "local"), h(top, "local2"))
            self.assertEqual(sorted(os.listdir(h(top))),
                             ["local2", "mid", "other2"])
        os.unlink(A(*r, "x"))
        self.goes(B(*r, "x"))
        self.state(*r)
        self.both_ways("after the refused renames", r + ("y",),
                       r + ("sub", "z"))
        self.check_hosts()

    def test_rename_inside_shows_everywhere(self):
        """Inside the bridge: a subdirectory with channels and a
        subdirectory below it renamed (in place, and into another
        subdirectory), a channel renamed over an existing channel, an
        empty directory renamed over another; every host shows each, and
        the moved channels keep their streams and carry data."""
        A, B = self.A, self.B
        r = self.bridged()
        for names in (("d",), ("d", "e"), ("other",), ("empty1",),
                      ("empty2",)):
            os.mkdir(A(r, *names), 0o755)
        for names in (("d", "c1"), ("d", "e", "c2"), ("src",), ("dst",)):
            os.close(os.open(A(r, *names),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        before = self.state(r)
        s = before["A"][1]
        # A subdirectory with what is below it.
        os.rename(A(r, "d"), A(r, "d2"))
        self.goes(B(r, "d"))
        self.shows(B(r, "d2", "e", "c2"))
        # ... and on B, into another subdirectory.
        os.rename(B(r, "d2"), B(r, "other", "d3"))
        self.goes(A(r, "d2"))
        self.shows(A(r, "other", "d3", "e", "c2"))
        # A channel over an existing channel: src's stream, dst's name.
        os.rename(A(r, "src"), A(r, "dst"))
        self.goes(B(r, "src"))
        self.until("dst is src's channel on B", lambda: self.exists(
            B(r, "dst")) and figures(B(r, "dst")).get("stream") ==
            s["src"])
        # An empty directory over another.
        os.rename(B(r, "empty1"), B(r, "empty2"))
        self.goes(A(r, "empty1"))
        after = self.state(r)
        self.assertEqual(after["A"][0], {
            "other": "d", "other/d3": "d", "other/d3/c1": "f",
            "other/d3/e": "d", "other/d3/e/c2": "f", "dst": "f",
            "empty2": "d"})
        self.assertEqual(after["A"][1], {
            "other/d3/c1": s["d/c1"], "other/d3/e/c2": s["d/e/c2"],
            "dst": s["src"]})
        self.both_ways("after the renames", (r, "other", "d3", "c1"),
                       (r, "other", "d3", "e", "c2"), (r, "dst"))
        self.check_hosts()


class Exchange(NamesCase):
    """Finding 8: renameat2(RENAME_EXCHANGE) with a bridged side fails
    with EXDEV and changes nothing on any host."""

    hosts = 2

    def populate(self, r):
        A = self.A
        for names in (("s1",), ("s2",)):
            os.mkdir(A(r, *names), 0o755)
        for names in (("x",), ("y",), ("s1", "c1"), ("s2", "c2")):
            os.close(os.open(A(r, *names),
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        for h in self.all:
            self.shows(h(r, "s2", "c2"))
        return self.state(r)

    def test_exchange_in_one_bridged_directory(self):
        """Two channels, two subdirectories, a channel and a
        subdirectory, all in one bridged directory, on A and on B: EXDEV.
        (Before the fix: the exchange of x and y succeeded on A, and y's
        stream was deleted on every host: B then listed only y, with x's
        stream, and A's x had no stream.)"""
        A, B = self.A, self.B
        r = self.bridged()
        before = self.populate(r)
        for h in (A, B):
            self.refused("EXDEV", exchange, h(r, "x"), h(r, "y"))
            self.refused("EXDEV", exchange, h(r, "s1"), h(r, "s2"))
            self.refused("EXDEV", exchange, h(r, "x"), h(r, "s1"))
            self.refused("EXDEV", exchange, h(r, "s1", "c1"),
                         h(r, "s2", "c2"))
            self.marker(h, r)
        self.unchanged(before, r)
        self.both_ways("after the refused exchanges", (r, "x"), (r, "y"),
                       (r, "s1", "c1"), (r, "s2", "c2"))
        self.check_hosts()

    def test_exchange_with_a_bridged_side(self):
        """One side bridged, the other not: a bridged channel with a
        local one, a bridged subdirectory with a local directory, the
        bridge root itself with a local directory (EXDEV, or EBUSY since
        it is a bridge root: either refuses it), and channels of two
        different bridge roots: all refused, nothing changes."""
        A, B = self.A, self.B
        r = self.bridged()
        r2 = self.bridged(name=self.dir + "-2")
        before = self.populate(r)
        os.close(os.open(A(r2, "w"), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o666))
        self.shows(B(r2, "w"))
        before2 = self.state(r2)
        plain = "%s-plain" % r
        for h in (A, B):
            os.mkdir(h(plain), 0o755)
            os.close(os.open(h(plain, "o"), os.O_CREAT | os.O_WRONLY,
                             0o666))
            os.mkdir(h(plain, "pd"), 0o755)
        for h in (A, B):
            self.refused("EXDEV", exchange, h(r, "x"), h(plain, "o"))
            self.refused("EXDEV", exchange, h(plain, "o"), h(r, "x"))
            self.refused("EXDEV", exchange, h(r, "s1"), h(plain, "pd"))
            self.refused(("EXDEV", "EBUSY"), exchange, h(r), h(plain))
            self.refused("EXDEV", exchange, h(r, "x"), h(r2, "w"))
            self.marker(h, r)
            self.marker(h, r2)
        self.unchanged(before, r)
        self.unchanged(before2, r2)
        for h in (A, B):
            self.assertEqual(sorted(os.listdir(h(plain))), ["o", "pd"])
            self.assertEqual(os.listdir(h(plain, "pd")), [])
        self.both_ways("after the refused exchanges", (r, "x"),
                       (r, "s1", "c1"), (r2, "w"))
        self.check_hosts()


class Churn(NamesCase):
    """Names changed from three hosts at once end as one tree."""

    hosts = 3
    guard = 150
    SECONDS = float(os.environ.get("BRIDGE_NAMES_SECONDS", "20"))
    THREADS = 2                 # per host
    PAUSE = 0.05                # the most a thread sleeps between calls
    NAMES = "abcdef"            # 6 names, depth 1 and 2: 42 paths
    # Errors an operation may meet when others change the names meanwhile
    # (EINVAL: a directory renamed into itself).
    FINE = {"ENOENT", "EEXIST", "ENOTEMPTY", "EBUSY", "EXDEV", "ENOTDIR",
            "EISDIR", "EINVAL"}

    def test_churn(self):
        seed = int(os.environ.get("BRIDGE_NAMES_SEED",
                                  random.randrange(1 << 32)))
        print("\ntest_churn: seed %d (BRIDGE_NAMES_SEED=%d repeats it)"
              % (seed, seed), file=sys.stderr, flush=True)
        r = self.bridged()
        stop = threading.Event()
        counts = {}             # (op, outcome): n
        problems = []
        current = {}            # thread index: (op, args, since, tid)
        lock = threading.Lock()

        def run(k, h):
            rng = random.Random(seed * 64 + k)

            def path():
                names = [rng.choice(self.NAMES)]
                if rng.random() < 0.6:
                    names.append(rng.choice(self.NAMES))
                return h(r, *names)
            while not stop.is_set():
                x = rng.random()
                if x < 0.25:
                    op, args = "create", (path(),)
                elif x < 0.4:
                    op, args = "mkdir", (path(),)
                elif x < 0.7:
                    op, args = "rename", (path(), path())
                elif x < 0.85:
                    op, args = "unlink", (path(),)
                else:
                    op, args = "rmdir", (path(),)
                with lock:
                    current[k] = (op, args, time.monotonic(),
                                  threading.get_native_id())
                try:
                    if op == "create":
                        os.close(os.open(args[0], os.O_CREAT | os.O_EXCL |
                                         os.O_WRONLY, 0o666))
                    elif op == "mkdir":
                        os.mkdir(args[0], 0o755)
                    elif op == "rename":
                        os.rename(*args)
                    elif op == "unlink":
                        os.unlink(args[0])
                    else:
                        os.rmdir(args[0])
                    outcome = "ok"
                except OSError as e:
                    outcome = errno.errorcode.get(e.errno, str(e.errno))
                    if outcome not in self.FINE:
                        with lock:
                            problems.append("%s%r on host %s: %s" % (
                                op, args, h.id, e))
                with lock:
                    del current[k]
                    counts[op, outcome] = counts.get((op, outcome), 0) + 1
                time.sleep(rng.random() * self.PAUSE)

        threads = []
        for i, h in enumerate(self.all):
            for j in range(self.THREADS):
                t = threading.Thread(target=run, args=(
                    i * self.THREADS + j, h), daemon=True)
                threads.append(t)
        for t in threads:
            t.start()
        time.sleep(self.SECONDS)
        stop.set()
        deadline = time.monotonic() + WAIT
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0))
        with lock:
            stuck = dict(current)
        print("test_churn: %s" % ", ".join(
            "%s %s %d" % (op, out, n)
            for (op, out), n in sorted(counts.items())), file=sys.stderr)
        if stuck:
            me = os.getpid()
            self.fail("seed %d: operations hung for %ds: %s%s" % (
                seed, WAIT, "; ".join(
                    "%s%r (thread state %s, wchan %s)" % (
                        op, args, task_states(me).get(tid),
                        wchan(me, tid))
                    for op, args, since, tid in stuck.values()),
                self.logs()))
        self.assertEqual(problems, [], "seed %d: unexpected errors" % seed)

        tree = self.one_tree(r, "seed %d" % seed, still=5.0)
        print("test_churn: %d names in the end, %d channels" % (
            len(tree), sum(1 for k in tree.values() if k == "f")),
            file=sys.stderr)
        self.check_hosts()


class Conflicts(NamesCase):
    """Two hosts change names at once, each change allowed by what its
    own host sees and at odds with the other's.  The server is frozen
    (SIGSTOP) while A makes its change and B its own, so that neither
    hears of the other's first, then it goes on (SIGCONT).  Whichever
    wins, the hosts must end with one tree, each channel one stream that
    carries data (one_tree).  In brackets: what the hosts ended with
    before the fix, the same in every run."""

    hosts = 2

    def at_once(self, setup, fa, fb):
        """A bridged directory with setup(r) done and seen everywhere;
        then fa(r) on A and fb(r) on B with the server frozen; then wait
        for one tree.  r is its name."""
        r = self.bridged()
        setup(r)
        self.state(r)
        self.server.proc.send_signal(signal.SIGSTOP)
        try:
            # SIGSTOP stops each thread of the server at its next turn:
            # until all have stopped it may still pass a change on.
            self.until("the server stopped", lambda: set(task_states(
                self.server.proc.pid).values()) == {"T"})
            fa(r)
            fb(r)
            # Frozen a moment more, so that both hosts' first requests
            # wait at the server: the same order each run (not timing).
            time.sleep(0.3)
        finally:
            self.server.proc.send_signal(signal.SIGCONT)
        self.one_tree(r, self._testMethodName, still=3.0)
        self.check_hosts()

    def test_create_in_a_directory_renamed_elsewhere(self):
        """A: mv d e; B: touch d/x.  [A: e; B: d, d/x, e]"""
        A, B = self.A, self.B
        self.at_once(lambda r: os.mkdir(A(r, "d")),
                     lambda r: os.rename(A(r, "d"), A(r, "e")),
                     lambda r: touch(B(r, "d", "x")))

    def test_create_in_a_directory_removed_elsewhere(self):
        """A: rmdir d; B: touch d/x.  [A: nothing; B: d, d/x]"""
        A, B = self.A, self.B
        self.at_once(lambda r: os.mkdir(A(r, "d")),
                     lambda r: os.rmdir(A(r, "d")),
                     lambda r: touch(B(r, "d", "x")))

    def test_rename_into_a_directory_removed_elsewhere(self):
        """A: mv x d/x; B: rmdir d.  [A: d, d/x; B: nothing]"""
        A, B = self.A, self.B
        self.at_once(lambda r: (touch(A(r, "x")), os.mkdir(A(r, "d"))),
                     lambda r: os.rename(A(r, "x"), A(r, "d", "x")),
                     lambda r: os.rmdir(B(r, "d")))

    def test_directory_and_channel_of_one_name(self):
        """A: mkdir n; B: touch n.  [A: n a directory; B: n a channel]"""
        A, B = self.A, self.B
        self.at_once(lambda r: None,
                     lambda r: os.mkdir(A(r, "n")),
                     lambda r: touch(B(r, "n")))

    def test_crossed_directory_renames(self):
        """A: mv d1 d2/d1; B: mv d2 d1/d2 (each fine alone; both together
        would make a loop).  [A: d2, d2/d1; B: d1, d1/d2]"""
        A, B = self.A, self.B
        self.at_once(lambda r: (os.mkdir(A(r, "d1")), os.mkdir(A(r, "d2"))),
                     lambda r: os.rename(A(r, "d1"), A(r, "d2", "d1")),
                     lambda r: os.rename(B(r, "d2"), B(r, "d1", "d2")))

    def test_two_renames_onto_one_name(self):
        """A: mv x t; B: mv y t.  [in 3 runs of 8: one tree, but on one
        host t's stream id is empty (its stats say "stream ipcfs_", the
        other host logs "stream ID twice"), and a record written there
        hangs; in the others: one tree, t]"""
        A, B = self.A, self.B
        self.at_once(lambda r: (touch(A(r, "x")), touch(A(r, "y"))),
                     lambda r: os.rename(A(r, "x"), A(r, "t")),
                     lambda r: os.rename(B(r, "y"), B(r, "t")))

    def test_two_moves_of_one_channel(self):
        """A: mv x a; B: mv x b.  The bucket then has two keys naming one
        stream.  Every host, and a host that joins later (after a's key
        was put again by a setting), shows one name for it, the same;
        and removing that name removes the channel everywhere, with no
        other key of it left to bring it back.  [a host started later
        showed b while the others showed a; after rm a, the channel came
        back as b everywhere, and its stream was made again]"""
        A, B = self.A, self.B
        self.at_once(lambda r: touch(A(r, "x")),
                     lambda r: os.rename(A(r, "x"), A(r, "a")),
                     lambda r: os.rename(B(r, "x"), B(r, "b")))
        r = self.dir
        (name,) = self.state(r)["A"][0].keys()
        os.setxattr(A(r, name), "user.ipcfs.capacity", b"8192")
        C = natstest.Host(self.server.url)
        self.extra.append(C)
        os.mkdir(C(r), 0o755)
        natstest.mark(C(r))
        want = {name: "f"}
        self.until("C shows %r under %s" % (want, r),
                   lambda: self.tree(C, r) == want)
        os.unlink(A(r, name))
        for n, h in (("A", A), ("B", B), ("C", C)):
            self.until("%s shows nothing under %s" % (n, r),
                       lambda h=h: self.tree(h, r) == {})
        self.until("the bucket has no key under %s" % r, lambda: not [
            k for k in names_bucket(self.server.url) if
            k.startswith(r + "/")])
        self.check_hosts()

    def test_rename_and_unlink_of_one_channel(self):
        """A: mv x y; B: rm x.  [one tree, y, but its stream is gone
        from the server: a read and a write of it hang on both hosts]"""
        A, B = self.A, self.B
        self.at_once(lambda r: touch(A(r, "x")),
                     lambda r: os.rename(A(r, "x"), A(r, "y")),
                     lambda r: os.unlink(B(r, "x")))

    def test_unlink_and_rename_over_it(self):
        """A: rm x; B: mv y x.  [in 2 runs of 8: B keeps x, which the
        names bucket no longer has, and A logs "stream ID twice"; in the
        others: one tree, nothing]"""
        A, B = self.A, self.B
        self.at_once(lambda r: (touch(A(r, "x")), touch(A(r, "y"))),
                     lambda r: os.unlink(A(r, "x")),
                     lambda r: os.rename(B(r, "y"), B(r, "x")))

    def test_rename_out_of_a_directory_renamed_elsewhere(self):
        """A: mv d e; B: mv d/x y.  [one tree: e, e/x]"""
        A, B = self.A, self.B
        self.at_once(lambda r: (os.mkdir(A(r, "d")), touch(A(r, "d", "x"))),
                     lambda r: os.rename(A(r, "d"), A(r, "e")),
                     lambda r: os.rename(B(r, "d", "x"), B(r, "y")))

    def test_one_channel_made_on_two_hosts(self):
        """A: touch c; B: touch c.  [one tree: c]"""
        A, B = self.A, self.B
        self.at_once(lambda r: None,
                     lambda r: touch(A(r, "c")),
                     lambda r: touch(B(r, "c")))

    def test_one_directory_made_on_two_hosts(self):
        """A: mkdir d, touch d/x; B: mkdir d.  [one tree: d, d/x]"""
        A, B = self.A, self.B
        self.at_once(lambda r: None,
                     lambda r: (os.mkdir(A(r, "d")), touch(A(r, "d", "x"))),
                     lambda r: os.mkdir(B(r, "d")))


class Option(NamesCase):
    """-o bridge=PATH: made and bridged at start, again after a restart;
    a bad PATH is refused."""

    hosts = 1

    def test_bridge_option(self):
        """A with -o bridge=jobs,bridge=a/b starts with both bridged (a
        itself plain); a channel made on B, which bridged them by
        setfattr, shows on A and carries data; so it does again after A's
        daemon is killed and started anew with the same options."""
        B = self.all[0]
        for d in ("jobs", os.path.join("a", "b")):
            os.makedirs(B(d), 0o755)
            natstest.mark(B(d))
        os.close(os.open(B("jobs", "before"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.close(os.open(B("a", "b", "deep"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        A = natstest.Host(self.server.url, "-o", "bridge=jobs,bridge=a/b")
        self.extra.append(A)

        def check(when):
            for d in ("jobs", "a/b"):
                self.assertTrue(os.path.isdir(A(d)), "%s: no %s on A" % (
                    when, d))
                self.assertEqual(os.getxattr(A(d), BRIDGE), b"nats",
                                 "%s: %s on A" % (when, d))
            with self.assertRaises(OSError) as cm:
                os.getxattr(A("a"), BRIDGE)
            self.assertEqual(cm.exception.errno, errno.ENODATA,
                             "%s: a on A is bridged" % when)
            self.shows(A("jobs", "before"))
            self.shows(A("a", "b", "deep"))
            self.assertEqual(figures(A("jobs", "before")).get("stream"),
                             figures(B("jobs", "before"))["stream"])
        check("at start")
        # Made on B now: shows on A too.
        os.close(os.open(B("jobs", "after"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        self.shows(A("jobs", "after"))
        self.carries([(("jobs", "before"), B, A), (("a", "b", "deep"), B, A),
                      (("jobs", "after"), A, B)], "before the restart")
        A.restart()
        check("after the restart")
        self.shows(A("jobs", "after"))
        self.carries([(("jobs", "before"), B, A), (("a", "b", "deep"), B, A),
                      (("jobs", "after"), B, A)], "after the restart")
        self.check_hosts()

    def test_bad_bridge_option(self):
        """bridge= with an empty path, "..", a path through "..", an
        absolute one with "..", a name over 255 bytes or a path over 4095:
        the daemon does not start and says so in one line of its own,
        "ipcfs: bridge...", as for its other options (libfuse's "unknown
        option" line does not count).  A good path first, to show that
        the option itself is taken."""
        good = ipcfs_test.Mount("-o", "nats=%s,bridge=ok/path" %
                                self.server.url)
        try:
            self.assertEqual(os.getxattr(good("ok", "path"), BRIDGE),
                             b"nats")
        finally:
            good.close()
        for bad in ("", "..", "../jobs", "jobs/..", "/jobs/../x",
                    "a/../../b", "x" * 256, "/".join(["x" * 200] * 21)):
            what = "bridge=%r" % (bad if len(bad) < 40 else
                                  "%s... (%d bytes)" % (bad[:20], len(bad)))
            tmp = tempfile.mkdtemp(prefix="ipcfs-test.")
            mnt = os.path.join(tmp, "mnt")
            os.mkdir(mnt)
            try:
                p = subprocess.run(
                    [ipcfs_test.IPCFS, "-f", "-o", "nats=%s,bridge=%s" % (
                        self.server.url, bad), mnt],
                    stdin=subprocess.DEVNULL, capture_output=True,
                    text=True, timeout=WAIT)
            except subprocess.TimeoutExpired:
                p = None
            finally:
                mounted = ipcfs_test.mounted(mnt)
                if mounted:
                    subprocess.call(["fusermount3", "-u", "-z", mnt])
                shutil.rmtree(tmp, ignore_errors=True)
            self.assertIsNotNone(p, "%s: the daemon started (still running "
                                 "after %ds)" % (what, WAIT))
            self.assertFalse(mounted, what + ": mounted")
            self.assertNotEqual(p.returncode, 0, what)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, "%s: not one line: %r" % (
                what, p.stderr[-1000:]))
            self.assertRegex(lines[0], r"^ipcfs: bridge\b", what)
            self.assertNotIn("unknown option", lines[0], what)
        self.check_hosts()


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2:])
    else:
        unittest.main()
