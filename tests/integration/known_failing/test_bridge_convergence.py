"""NOT RUN BY make check: these fail today (issue 19's namespace
convergence is not done).  Hosts that change the same names at once end
with different trees: directory keys carry no id, a key whose parent is
gone is ignored, a directory that is not empty elsewhere is not removed,
and nothing reconciles a host's tree with the bucket once the hosts are
quiet.  Run by hand:

    python3 tests/integration/known_failing/test_bridge_convergence.py -v

The classes are test_bridge_names.py's (Churn, Conflicts), moved here so
that make check stays a test of what works.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from test_bridge_names import *  # noqa: F401,F403,E402
from test_bridge_names import NamesCase  # noqa: E402
import test_bridge_names  # noqa: E402

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




if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sys.exit(test_bridge_names.worker(sys.argv[2:]))
    unittest.main()
