"""The harness of the NATS bridge tests (natstest.py) on its own: a lone
nats-server stopped, killed and started again on the same port with its
JetStream store; a 3-node cluster ready for a stream with 3 replicas,
that keeps a meta leader when one node stops or dies; a network
namespace whose link is cut and healed, with a server and an ipcfs
daemon reached through it; bridged daemons killed and restarted; a
proxy whose hooks see and answer what goes through.  After each test
nothing it made is left: no process, mount, namespace, link, proxy or
directory.

Waits are bounded only as hang guards, never as measurements.
"""

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
import natstest  # noqa: E402

PY = "/usr/bin/python3"
GUARD = 240         # seconds per test; a hang guard
WAIT = 60.0         # seconds; a bounded wait, never a measurement

# Connect to HOST PORT from wherever this runs; exit 0 when the server
# sent its first line, 1 when the connection failed within 2 s.
CONNECT = r'''
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), 2) as s:
        s.settimeout(2)
        sys.exit(0 if s.recv(100) else 1)
except OSError:
    sys.exit(1)
'''


def greets(host, port):
    """The first line a NATS server at host:port sends, or b""."""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.settimeout(5)
            return s.makefile("rb").readline()
    except OSError:
        return b""


class HangGuard(Exception):
    pass


class HarnessCase(unittest.TestCase):

    def setUp(self):
        natstest.skip_unless_nats()
        self.tmp = tempfile.mkdtemp(prefix="natstest-self.")
        signal.signal(signal.SIGALRM, self._hang)
        signal.alarm(GUARD)

    def tearDown(self):
        signal.alarm(0)
        left = natstest.leftovers()
        natstest.cleanup_all()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(left, [], "left behind")

    @staticmethod
    def _hang(signum, frame):
        raise HangGuard("hang guard: the test did not finish")

    def until(self, what, fn, wait=WAIT):
        """Poll fn until it returns true; fail after wait seconds."""
        deadline = time.monotonic() + wait
        while True:
            got = fn()
            if got:
                return got
            if time.monotonic() > deadline:
                self.fail("not within %ds: %s" % (wait, what))
            time.sleep(0.1)

    def stream(self, url, name, replicas=1):
        r = natstest.jsapi(url, "STREAM.CREATE." + name,
                           {"name": name, "subjects": [name.lower() + ".>"],
                            "num_replicas": replicas, "storage": "file"})
        self.assertIsInstance(r, dict, "no reply to STREAM.CREATE")
        self.assertNotIn("error", r)
        self.assertEqual(r["config"]["num_replicas"], replicas)

    def has_stream(self, url, name):
        r = natstest.jsapi(url, "STREAM.INFO." + name)
        return isinstance(r, dict) and r.get("config", {}).get("name") == name


class Server(HarnessCase):

    def test_restart_keeps_port_and_store(self):
        with natstest.NatsServer("s", self.tmp) as s:
            self.assertTrue(s.url.startswith("nats://127.0.0.1:"))
            self.assertEqual(greets("127.0.0.1", s.port)[:5], b"INFO ")
            self.assertEqual(s.monitor("/healthz?js-enabled-only=true"),
                             (200, {"status": "ok"}))
            self.stream(s.url, "KEEP")
            port, pid = s.port, s.proc.pid

            s.stop()
            self.assertFalse(s.running())
            self.assertEqual(greets("127.0.0.1", port), b"")
            self.assertTrue(os.path.isdir(os.path.join(s.store, "jetstream")))
            s.start()
            self.assertNotEqual(s.proc.pid, pid)
            self.assertEqual(s.port, port)
            self.assertEqual(greets("127.0.0.1", port)[:5], b"INFO ")
            self.assertEqual(s.monitor("/healthz")[0], 200)
            self.assertTrue(self.has_stream(s.url, "KEEP"))

            s.kill()
            self.assertEqual(s.proc.returncode, -signal.SIGKILL)
            s.start()
            self.assertTrue(self.has_stream(s.url, "KEEP"))
            self.assertIn("Starting nats-server", s.log())
        self.assertFalse(s.running())

    def test_own_temporary_directory(self):
        s = natstest.NatsServer("own")
        self.assertTrue(os.path.isdir(s.store))
        s.close()
        self.assertFalse(os.path.exists(s.tmpdir))

    def test_safety_net(self):
        """What a test leaves is taken down by cleanup_all (the atexit
        hook)."""
        s = natstest.NatsServer("left", self.tmp)
        self.assertTrue(natstest.leftovers())
        natstest.cleanup_all()
        self.assertFalse(s.running())
        self.assertEqual(natstest.leftovers(), [])


class Cluster(HarnessCase):

    def test_cluster(self):
        with natstest.NatsCluster(self.tmp) as c:
            self.assertEqual(len(c.urls), 3)
            self.assertEqual(c.url, ",".join(c.urls))
            views = [c.node(i).meta() for i in range(3)]
            leader = views[0]["leader"]
            self.assertIn(leader, ["n0", "n1", "n2"])
            for v in views:
                self.assertEqual(v["leader"], leader)
                self.assertEqual(v["cluster_size"], 3)
            lead = c.node(int(leader[1:]))
            peers = {leader} | {r["name"] for r in lead.meta()["replicas"]}
            self.assertEqual(peers, {"n0", "n1", "n2"})
            # Ready means ready: a stream with 3 replicas, at once, from
            # a node that is not the leader.
            other = c.node((int(leader[1:]) + 1) % 3)
            self.stream(other.url, "R3", replicas=3)

            # The leader stops: the others agree on a new one.
            lead.stop()
            new = c.leader()
            self.assertNotEqual(new, leader)
            self.assertTrue(self.has_stream(other.url, "R3"))
            lead.start()
            self.assertIn(c.leader(), ["n0", "n1", "n2"])

            # The leader dies: the others see it only after a while.
            lead = c.node(int(c.leader()[1:]))
            lead.kill()
            new = c.leader()
            self.assertNotEqual(new, lead.name)
            other = c.node(int(new[1:]))
            self.until("the R3 stream on two nodes",
                       lambda: self.has_stream(other.url, "R3"))
            lead.start()
            c.leader()
            self.assertEqual(len(c.running()), 3)

            # The whole cluster stops and comes back with its streams.
            c.stop()
            self.assertEqual(c.running(), [])
            c.start()
            self.until("the R3 stream after a restart",
                       lambda: self.has_stream(c.urls[0], "R3"))
        self.assertEqual(c.running(), [])


class Namespace(HarnessCase):

    def reaches(self, ns, host, port):
        return ns.run(PY, "-c", CONNECT, host, str(port),
                      timeout=WAIT).returncode == 0

    def test_cut_and_heal(self):
        with natstest.NetNS("natstest-a", 201) as ns:
            self.assertIn("natstest-a", natstest._netns_list())
            lsn = socket.create_server((ns.gateway, 0))
            lsn.listen(16)
            port = lsn.getsockname()[1]

            def accept():
                lsn.settimeout(5)
                try:
                    conn, _ = lsn.accept()
                    conn.sendall(b"hello\r\n")
                    conn.close()
                except OSError:
                    pass

            try:
                t = threading.Thread(target=accept)
                t.start()
                self.assertTrue(self.reaches(ns, ns.gateway, port))
                t.join()
                ns.cut()
                self.assertFalse(self.reaches(ns, ns.gateway, port))
                ns.heal()
                t = threading.Thread(target=accept)
                t.start()
                self.until("through the healed link",
                           lambda: self.reaches(ns, ns.gateway, port))
                t.join()
            finally:
                lsn.close()
        self.assertNotIn("natstest-a", natstest._netns_list())
        self.assertFalse(os.path.exists("/sys/class/net/ntv201r"))

    def test_server_through_namespace(self):
        with natstest.NetNS("natstest-b", 202) as ns, \
                natstest.NatsServer("s", self.tmp, host="0.0.0.0") as s:
            url = s.url_for(ns.gateway)
            self.assertEqual(url, "nats://10.213.202.1:%d" % s.port)
            self.assertTrue(self.reaches(ns, ns.gateway, s.port))
            ns.cut()
            self.assertFalse(self.reaches(ns, ns.gateway, s.port))
            self.assertTrue(greets("127.0.0.1", s.port))
            ns.heal()
            self.until("the server through the healed link",
                       lambda: self.reaches(ns, ns.gateway, s.port))

    def test_daemon_in_namespace(self):
        """A daemon run through NetNS.wrapper() is in the namespace's
        network but in this mount namespace: its mount is seen here."""
        with natstest.NetNS("natstest-c", 203) as ns:
            m = ipcfs_test.Mount(wrapper=ns.wrapper())
            try:
                pid = m.proc.pid
                self.assertEqual(os.stat("/proc/%d/ns/net" % pid).st_ino,
                                 os.stat(ns.path).st_ino)
                self.assertEqual(os.stat("/proc/%d/ns/mnt" % pid).st_ino,
                                 os.stat("/proc/self/ns/mnt").st_ino)
                self.assertTrue(ipcfs_test.mounted(m.path))
                r = os.open(m("c"), os.O_RDONLY | os.O_CREAT, 0o600)
                w = os.open(m("c"), os.O_WRONLY)
                os.write(w, b"through")
                self.assertEqual(os.read(r, 100), b"through")
                os.close(w)
                os.close(r)
            finally:
                m.close()


# Until the daemon has -o nats, Host runs it through this: it notes the
# -o options in ARGS and execs the daemon without the nats ones.
SHIM = r'''#!/usr/bin/python3
import os, sys
args, out = sys.argv[1:], []
while args:
    a = args.pop(0)
    if a == "-o":
        opts = args.pop(0)
        with open(os.environ["NATSTEST_ARGS"], "a") as f:
            f.write(opts + "\n")
        keep = [o for o in opts.split(",") if not o.startswith("nats")]
        if keep:
            out += ["-o", ",".join(keep)]
    else:
        out.append(a)
os.execv(os.environ["NATSTEST_IPCFS"], [os.environ["NATSTEST_IPCFS"]] + out)
'''


class Proxy(HarnessCase):

    def test_proxy(self):
        """A NatsProxy passes a client's traffic to the server and back,
        shows the hooks each publish and message, lets a hook answer in
        the server's place, cuts connections, and is gone once closed."""
        seen = []

        def on_publish(conn, f):
            seen.append(("pub", f.subject, f.reply))
            if f.subject.startswith("$JS.API.STREAM.INFO."):
                conn.status(f.reply, 503)       # no responders
                return True
            return False

        def on_message(conn, f):
            seen.append(("msg", f.subject, f.sid))
            return False

        with natstest.NatsServer("s", self.tmp) as s, \
                natstest.NatsProxy(s.url, on_publish, on_message) as p:
            self.assertTrue(p.url.startswith("nats://127.0.0.1:"))
            self.assertEqual(greets("127.0.0.1", p.port)[:5], b"INFO ")
            self.stream(p.url, "PROXIED")
            self.assertIn("$JS.API.STREAM.CREATE.PROXIED",
                          [x[1] for x in seen if x[0] == "pub"])
            inbox = [x[2] for x in seen if x[0] == "pub"][-1]
            self.assertIn(("msg", inbox, "1"), seen)
            # Answered by the hook: jsapi takes 503 for no responders.
            self.assertIsNone(natstest.jsapi(p.url, "STREAM.INFO.PROXIED"))
            self.assertTrue(self.has_stream(s.url, "PROXIED"))
            with socket.create_connection(("127.0.0.1", p.port), 5) as c:
                c.settimeout(5)
                self.assertEqual(c.makefile("rb").readline()[:5], b"INFO ")
                p.cut()
                self.assertEqual(c.recv(100), b"")
            self.assertTrue(p.connections)
            self.assertEqual(p.errors, [])
            self.assertTrue(natstest.leftovers())
        self.assertEqual(greets("127.0.0.1", p.port), b"")


class Hosts(HarnessCase):

    def host(self, url, *options, **kw):
        """A Host, with the daemon itself once it has -o nats."""
        try:
            return natstest.Host(url, *options, **kw)
        except AssertionError as e:
            if "unknown option" not in str(e):
                raise
        shim = os.path.join(self.tmp, "ipcfs-shim")
        with open(shim, "w") as f:
            f.write(SHIM)
        os.chmod(shim, 0o700)
        os.environ["NATSTEST_ARGS"] = os.path.join(self.tmp, "args")
        os.environ["NATSTEST_IPCFS"] = ipcfs_test.IPCFS
        self.addCleanup(os.environ.pop, "NATSTEST_ARGS", None)
        self.addCleanup(os.environ.pop, "NATSTEST_IPCFS", None)
        h = natstest.Host(url, *options, binary=shim, **kw)
        with open(os.environ["NATSTEST_ARGS"]) as f:
            self.assertEqual(f.read().split()[-1], ",".join(
                ["nats=" + u for u in h.urls] + ["nats_host=" + h.id]))
        return h

    def check_kill_restart(self, h):
        self.assertTrue(ipcfs_test.mounted(h.path))
        path, pid, ident = h.path, h.pid, h.id
        self.assertTrue(ident.startswith("natstest-"))
        h.kill()
        self.assertFalse(ipcfs_test.mounted(path))
        self.assertFalse(natstest._alive(pid))
        self.assertFalse(os.path.exists(path))
        self.assertEqual(len(h.logs), 1)
        h.restart()
        self.assertNotEqual(h.path, path)
        self.assertNotEqual(h.id, ident)
        self.assertTrue(ipcfs_test.mounted(h.path))
        os.mkdir(h("d"))
        self.assertTrue(os.path.isdir(h("d")))

    def test_kill_and_restart(self):
        with natstest.NatsCluster(self.tmp) as c:
            with self.host(c.url, "-o", "capacity=8K") as h:
                self.assertEqual(h.urls, c.urls)
                os.close(os.open(h("c"), os.O_RDONLY | os.O_CREAT, 0o600))
                self.assertEqual(ipcfs_test.figures(h("c"))["capacity"], 8192)
                self.check_kill_restart(h)
            with self.host(c.urls[:1], host_id="fixed") as h:
                h.restart()
                self.assertEqual(h.id, "fixed")

    def test_host_in_namespace(self):
        with natstest.NetNS("natstest-d", 204) as ns, \
                natstest.NatsServer("s", self.tmp, host="0.0.0.0") as s, \
                self.host(s.url_for(ns.gateway), netns=ns) as h:
            self.assertEqual(os.stat("/proc/%d/ns/net" % h.pid).st_ino,
                             os.stat(ns.path).st_ino)
            self.check_kill_restart(h)
            self.assertEqual(os.stat("/proc/%d/ns/net" % h.pid).st_ino,
                             os.stat(ns.path).st_ino)


if __name__ == "__main__":
    unittest.main()
