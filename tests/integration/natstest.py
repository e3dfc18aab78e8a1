"""Shared by the NATS bridge tests (issue 13, -o nats): real nats-server
processes with JetStream, alone or as a routed cluster, ipcfs daemons
bridged to them (Host), network namespaces whose link a test can cut
(NetNS), and a proxy between clients and a server that lets a test see,
drop, answer or cut what goes through (NatsProxy).  Standard library
only.

Everything here is taken down again: each class is a context manager and
has close(), and an atexit hook (run on SIGTERM too, which is what
tests/run-all's timeout sends) kills what a failed test left: daemons
and their mounts first, then proxies and servers, then namespaces and
temporary directories.  leftovers() lists what is still there, for a
test to check.

Readiness, measured with nats-server 2.9.10 on a loaded 2-core machine:

- A lone server answers GET /healthz?js-enabled-only=true with 200 about
  0.1 s after it starts, and takes JetStream API requests from then on.
- A 3-node cluster elects its JetStream meta leader 0.2 to 0.7 s after
  its servers start.  Until then every node's /healthz (without
  js-enabled-only, which is 200 from the start) answers 503 "JetStream
  has not established contact with a meta leader", /jsz has no
  meta_cluster.leader, and a JetStream API request (stream create) is
  dropped: no error, no reply at all.  A client that sent one that early
  waits for its own request timeout (5 s in libnats) before it can try
  again -- that is the "R=3 stream create fails for ~6 s after the
  cluster starts" seen before.  A create sent once every node reports
  the same leader and /healthz 200 succeeded at the first try in every
  run, taking 0.1 to 0.8 s (it elects the stream's own Raft group).
  NatsCluster waits for that and then makes and deletes an R=n stream
  (probe), retried, so that a test starts on a cluster known to work.
  Cluster start to ready: 0.4 to 1.4 s.
- SIGTERM to the meta leader: the others elect a new one within 0.3 s.
  SIGKILL to it: for about 4 s the others' /jsz still names the dead
  leader; their /healthz turns 503 "JetStream is not current with the
  meta leader" about 1 s after the kill and back to 200 once a new
  leader is elected.  So NatsCluster.leader() trusts /jsz only on a node
  whose /healthz is 200 and only if the leader it names is a running
  node.
- A restarted cluster node answers /healthz 200 0.2 to 0.5 s after it
  starts (it catches up with the meta leader).

Addresses: servers listen on 127.0.0.1 by default.  A daemon in a NetNS
reaches the root namespace at 10.213.INDEX.1 only, so servers for those
tests listen on 0.0.0.0 (host="0.0.0.0") and the daemon gets
server.url_for(ns.gateway).  A server on 0.0.0.0 advertises its other
addresses to clients too (connect_urls in INFO).
"""

import atexit
import errno
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

NATS_SERVER = os.environ.get("NATS_SERVER", "nats-server")
READY = 60.0        # seconds; bounded waits are hang guards, never timing
STOP_GRACE = 5.0    # seconds between SIGTERM and SIGKILL
NETNS_DIR = "/run/netns"


def skip_unless_nats():
    """Raise unittest.SkipTest unless nats-server is installed.  make check
    installs it (tools/install-deps), so this only helps someone running
    one test by hand on a machine without it."""
    if shutil.which(NATS_SERVER) is None:
        raise unittest.SkipTest(
            "nats-server is not installed (tools/install-deps or "
            "'apt-get install nats-server' installs it)")


# -- clean-up --------------------------------------------------------------

# Live objects, each with _cleanup(); atexit takes them down by their
# class's _rank (daemons, then servers and clusters, then namespaces),
# newest first.
_live = []
# Everything ever made in this process, for leftovers(); processes as
# pid: start time, so that a pid used again by someone else is not ours.
_made = {"pids": {}, "dirs": set(), "netns": set(), "links": set(),
         "mounts": set(), "proxies": set()}
_handlers = False


def _register(obj):
    global _handlers
    _live.append(obj)
    if not _handlers:
        _handlers = True
        atexit.register(cleanup_all)
        # tests/run-all's timeout ends a test with SIGTERM: turn it into
        # SystemExit so that with-blocks, tearDown and atexit still run.
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _sigterm)
        except ValueError:          # not the main thread
            pass


def _unregister(obj):
    if obj in _live:
        _live.remove(obj)


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


def cleanup_all():
    """Take down everything still live (the atexit hook; a test may call
    it too).  Errors are printed, not raised."""
    order = sorted(reversed(_live), key=lambda o: o._rank)
    for obj in order:
        try:
            obj._cleanup()
        except BaseException as e:      # noqa: B036 - keep going
            print("natstest: cleaning up %r: %s" % (obj, e), file=sys.stderr)
        _unregister(obj)


def _stat(pid):
    """(state, start time) of a process, or None when there is none."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return None


def _spawned(pid):
    st = _stat(pid)
    _made["pids"][pid] = st[1] if st else None


def _alive(pid):
    """True while a process this module started runs (not a zombie)."""
    st = _stat(pid)
    return (st is not None and st[0] != "Z"
            and _made["pids"].get(pid, st[1]) == st[1])


def _netns_list():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                         text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def leftovers():
    """What this process made and did not take down again: a list of
    descriptions, empty when everything is gone."""
    out = []
    for pid in sorted(_made["pids"]):
        if _alive(pid):
            out.append("process %d is running" % pid)
    for d in sorted(_made["dirs"]):
        if os.path.lexists(d):
            out.append("directory %s exists" % d)
    if _made["netns"]:
        for name in sorted(_made["netns"] & _netns_list()):
            out.append("network namespace %s exists" % name)
    for link in sorted(_made["links"]):
        if os.path.exists("/sys/class/net/" + link):
            out.append("link %s exists" % link)
    for p in sorted(_made["proxies"], key=lambda p: p.port):
        if not p.closed:
            out.append("%r is open" % p)
    with open("/proc/mounts") as f:
        points = {line.split()[1] for line in f}
    for m in sorted(_made["mounts"] & points):
        out.append("%s is mounted" % m)
    return out


class _Resource:
    _rank = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# -- ports and the monitoring endpoint -------------------------------------

_given = set()


def free_port():
    """A TCP port that is free now on every address, below the kernel's
    ephemeral range (so no outgoing connection takes it while a stopped
    server is away) and not handed out before in this process."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = max(low, 12000)
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(10000, low)
        if port in _given:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            continue
        finally:
            s.close()
        _given.add(port)
        return port
    raise AssertionError("no free TCP port")


def _get(url, timeout=2.0):
    """(status, parsed JSON body or text) of a GET, or (None, error)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    except (OSError, ValueError) as e:
        return None, str(e)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def _connect_host(host):
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _host_port(url):
    """host and port of the first of a comma-separated list of URLs."""
    u = urllib.parse.urlsplit(url.split(",")[0].strip())
    return u.hostname, u.port or 4222


# -- a small NATS client for the JetStream API ------------------------------

def mark(path, value=b"nats", wait=30.0):
    """Bridge directory path (setxattr user.ipcfs.bridge), as a user
    would: again while it fails with ETIMEDOUT, which a mark gets when
    the cluster takes more than 3 s to answer (a stream leader being
    elected, a loaded machine), for at most wait seconds (a hang guard).
    Any other error is raised."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.setxattr(path, "user.ipcfs.bridge", value)
            return
        except OSError as e:
            if e.errno != errno.ETIMEDOUT or time.monotonic() > deadline:
                raise


def jsapi(url, subject, body=None, timeout=10.0):
    """One request to the JetStream API, subject "$JS.API." + subject
    ("STREAM.CREATE.NAME", "STREAM.INFO.NAME", "STREAM.NAMES", ...), over
    a plain NATS connection to the first server of url.  Returns the reply
    as a dict (a failed request has an "error" member), or None when no
    reply came within timeout or nobody serves the API yet (no
    responders).  Raises OSError when the server cannot be reached."""
    host, port = _host_port(url)
    deadline = time.monotonic() + timeout
    data = json.dumps(body if body is not None else {}).encode()
    inbox = "_INBOX.natstest.%d.%d" % (os.getpid(), random.getrandbits(48))
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")

        def line():
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout
            s.settimeout(left)
            got = f.readline()
            if not got:
                raise ConnectionError("the server closed the connection")
            return got.rstrip(b"\r\n")

        try:
            if not line().startswith(b"INFO "):
                raise ConnectionError("no INFO from " + url)
            s.sendall(b'CONNECT {"verbose":false,"pedantic":false,'
                      b'"headers":true,"no_responders":true,"protocol":1,'
                      b'"name":"natstest"}\r\n')
            s.sendall(b"SUB %s 1\r\n" % inbox.encode())
            s.sendall(b"PUB $JS.API.%s %s %d\r\n%s\r\n" % (
                subject.encode(), inbox.encode(), len(data), data))
            while True:
                words = line().split()
                if not words:
                    continue
                op = words[0].upper()
                if op == b"PING":
                    s.sendall(b"PONG\r\n")
                elif op == b"-ERR":
                    raise ConnectionError(b" ".join(words).decode())
                elif op in (b"MSG", b"HMSG"):
                    size = int(words[-1])
                    s.settimeout(max(deadline - time.monotonic(), 0.1))
                    payload = f.read(size + 2)[:size]
                    if op == b"HMSG":
                        hdr = int(words[-2])
                        head, payload = payload[:hdr], payload[hdr:]
                        if b" 503" in head.split(b"\r\n")[0]:
                            return None         # no responders
                    return json.loads(payload) if payload else None
        except socket.timeout:
            return None


# -- servers ---------------------------------------------------------------

class NatsServer(_Resource):
    """A nats-server with JetStream, its store in tmpdir/name and its log
    in tmpdir/name.log.  With cluster_port it is a cluster node routed to
    routes (nats://host:port URLs), in cluster cluster_name.

    The constructor waits until the server is ready: a lone server until
    /healthz?js-enabled-only=true is 200, a cluster node until its
    /healthz is 200 (in touch with a meta leader), unless wait=False
    (NatsCluster starts its nodes so and waits for them together).
    tmpdir None makes a temporary directory, removed by close()."""

    _rank = 1

    def __init__(self, name, tmpdir=None, port=None, cluster_port=None,
                 routes=(), host="127.0.0.1", cluster_name=None, wait=True):
        skip_unless_nats()
        self.name = name
        self.own_tmp = tmpdir is None
        if self.own_tmp:
            tmpdir = tempfile.mkdtemp(prefix="natstest.")
            _made["dirs"].add(tmpdir)
        self.tmpdir = tmpdir
        self.host = host
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.cluster_name = cluster_name or ("natstest" if cluster_port
                                             else None)
        self.store = os.path.join(tmpdir, name)
        self.logfile = os.path.join(tmpdir, name + ".log")
        self.proc = None
        self.stopped = False
        _register(self)
        try:
            self.start(wait=wait)
        except BaseException:
            self.close()
            raise

    def __repr__(self):
        return "<NatsServer %s %s>" % (self.name, self.url)

    @property
    def url(self):
        """The client URL, for a client in the root network namespace."""
        return self.url_for(_connect_host(self.host))

    def url_for(self, address):
        """The client URL through another address of this machine (a
        NetNS's gateway, for a server on 0.0.0.0)."""
        return "nats://%s:%d" % (address, self.port)

    @property
    def route_url(self):
        return "nats://%s:%d" % (_connect_host(self.host), self.cluster_port)

    def monitor(self, path):
        """(status, JSON) of GET path on the monitoring port; status None
        when the server does not answer."""
        return _get("http://%s:%d%s" % (_connect_host(self.host),
                                        self.monitor_port, path))

    def argv(self):
        argv = [NATS_SERVER, "-js", "-sd", self.store, "-a", self.host,
                "-p", str(self.port), "-m", str(self.monitor_port),
                "--server_name", self.name]
        if self.cluster_port:
            argv += ["--cluster", "nats://%s:%d" % (self.host,
                                                    self.cluster_port),
                     "--cluster_name", self.cluster_name]
            if self.routes:
                argv += ["--routes", ",".join(self.routes)]
        return argv

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def crashed(self):
        """True when the server exited without stop() or kill()."""
        return (self.proc is not None and not self.stopped
                and self.proc.poll() is not None)

    def start(self, wait=True):
        """Start the server (again: same ports and store, so JetStream
        keeps its streams) and, with wait, wait until it is ready."""
        if self.running():
            raise AssertionError("%s is running already" % self.name)
        os.makedirs(self.store, exist_ok=True)
        self.stopped = False
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        _spawned(self.proc.pid)
        if wait:
            self.wait_ready()

    def ready(self):
        """True when the server serves JetStream: a lone server once
        JetStream is enabled, a cluster node once it is current with a
        meta leader."""
        if self.cluster_port:
            return self.monitor("/healthz")[0] == 200
        return self.monitor("/healthz?js-enabled-only=true")[0] == 200

    def wait_ready(self, timeout=READY):
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.running():
                raise AssertionError("nats-server %s exited (%s):\n%s" % (
                    self.name, self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError(
                    "nats-server %s not ready after %ds: /healthz %r\n%s" % (
                        self.name, timeout, self.monitor("/healthz"),
                        self.log()))
            time.sleep(0.05)

    def meta(self):
        """This node's view of the JetStream meta group (/jsz
        meta_cluster: name, leader, peer, cluster_size, and on the leader
        replicas), {} when it has none or does not answer."""
        status, js = self.monitor("/jsz")
        if status != 200 or not isinstance(js, dict):
            return {}
        return js.get("meta_cluster") or {}

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited after 5 s.  (On
        SIGTERM nats-server 2.9.10 exits with status 1, on SIGINT 0.)"""
        if self.proc is None:
            return
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        """SIGKILL: no shutdown, as if the machine had died."""
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        self.stop()
        if self.own_tmp:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        _unregister(self)

    def _cleanup(self):
        self.kill()
        if self.own_tmp:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


class NatsCluster(_Resource):
    """n servers n0..n{n-1} routed to each other as one JetStream cluster.
    The constructor returns once a stream with n replicas can be created
    (see the module's comment); leader_after and ready_after say how long
    that took (for a report, never for an assertion).  The stores and
    logs are tmpdir/n0... (one cluster per tmpdir); tmpdir None makes a
    temporary directory, removed by close()."""

    _rank = 2

    def __init__(self, tmpdir=None, n=3, host="127.0.0.1",
                 cluster_name="natstest"):
        skip_unless_nats()
        self.own_tmp = tmpdir is None
        if self.own_tmp:
            tmpdir = tempfile.mkdtemp(prefix="natstest.")
            _made["dirs"].add(tmpdir)
        self.tmpdir = tmpdir
        self.n = n
        self.nodes = []
        _register(self)
        try:
            cports = [free_port() for _ in range(n)]
            routes = ["nats://%s:%d" % (_connect_host(host), p)
                      for p in cports]
            t0 = time.monotonic()
            for i in range(n):
                self.nodes.append(NatsServer(
                    "n%d" % i, tmpdir, cluster_port=cports[i],
                    routes=[r for j, r in enumerate(routes) if j != i],
                    host=host, cluster_name=cluster_name, wait=False))
            self.leader()
            self.leader_after = time.monotonic() - t0
            self.probe()
            self.ready_after = time.monotonic() - t0
        except BaseException:
            self.close()
            raise

    def __repr__(self):
        return "<NatsCluster %s>" % self.url

    def node(self, i):
        return self.nodes[i]

    @property
    def urls(self):
        return [s.url for s in self.nodes]

    @property
    def url(self):
        return ",".join(self.urls)

    def urls_for(self, address):
        return [s.url_for(address) for s in self.nodes]

    def running(self):
        return [s for s in self.nodes if s.running()]

    def leader(self, timeout=READY):
        """Wait until every running node is ready (/healthz 200) and names
        the same meta leader, itself a running node; return its name."""
        deadline = time.monotonic() + timeout
        while True:
            up = self.running()
            names = {s.name for s in up}
            seen = {s.meta().get("leader") if s.ready() else None
                    for s in up}
            if len(seen) == 1 and next(iter(seen)) in names:
                return seen.pop()
            for s in self.nodes:
                if s.crashed():
                    raise AssertionError("nats-server %s exited (%s):\n%s"
                                         % (s.name, s.proc.returncode,
                                            s.log()))
            if time.monotonic() > deadline:
                raise AssertionError("no JetStream meta leader after %ds: %s"
                                     % (timeout, self._views()))
            time.sleep(0.05)

    def _views(self):
        return "; ".join("%s %s healthz %r meta %r" % (
            s.name, "up" if s.running() else "down",
            s.monitor("/healthz"), s.meta()) for s in self.nodes)

    def probe(self, timeout=READY):
        """Create a stream with n replicas and delete it again, retrying
        until that works (a hang guard bounds it)."""
        name = "NATSTEST_PROBE_%d" % os.getpid()
        conf = {"name": name, "subjects": ["natstest.probe.%d" % os.getpid()],
                "num_replicas": self.n, "storage": "file"}
        deadline = time.monotonic() + timeout
        last = None
        while True:
            up = self.running()
            try:
                last = jsapi(up[0].url, "STREAM.CREATE." + name, conf,
                             timeout=5)
            except OSError as e:
                last = str(e)
            if isinstance(last, dict) and ("config" in last or
                                           last.get("error", {}).get(
                                               "err_code") == 10058):
                break                   # made (10058: by an earlier try)
            if time.monotonic() > deadline:
                raise AssertionError("cannot create an R%d stream: %r; %s"
                                     % (self.n, last, self._views()))
            time.sleep(0.2)
        while True:
            try:
                last = jsapi(up[0].url, "STREAM.DELETE." + name, timeout=5)
            except OSError as e:
                last = str(e)
            if isinstance(last, dict) and (last.get("success") or
                                           last.get("error", {}).get(
                                               "err_code") == 10059):
                return                  # deleted (10059: not found)
            if time.monotonic() > deadline:
                raise AssertionError("cannot delete the probe stream: %r"
                                     % (last,))
            time.sleep(0.2)

    def stop(self):
        """Stop every node (SIGTERM)."""
        for s in self.nodes:
            s.stop()

    def start(self):
        """Start the nodes that are not running (same ports and stores)
        and wait until there is a leader."""
        for s in self.nodes:
            if not s.running():
                s.start(wait=False)
        return self.leader()

    def close(self):
        for s in self.nodes:
            s.close()
        if self.own_tmp:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        _unregister(self)

    def _cleanup(self):
        for s in self.nodes:
            s._cleanup()
            _unregister(s)
        if self.own_tmp:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


# -- network namespaces ----------------------------------------------------

def _ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class NetNS(_Resource):
    """Network namespace name joined to the root namespace by a veth pair:
    the root side ntvINDEXr is 10.213.INDEX.1/24 (gateway), the namespace
    side ntvINDEXn is 10.213.INDEX.2/24 (address).  cut() takes the root
    side down, so nothing gets through; heal() brings it up again.  A
    namespace or link of the same name left by an earlier run is removed
    first.  Needs root."""

    _rank = 3

    def __init__(self, name, index):
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces need root")
        if not 0 <= index <= 255:
            raise ValueError("index must be 0 to 255")
        self.name = name
        self.index = index
        self.root_link = "ntv%dr" % index
        self.ns_link = "ntv%dn" % index
        self.gateway = "10.213.%d.1" % index
        self.address = "10.213.%d.2" % index
        self.path = os.path.join(NETNS_DIR, name)
        self._remove()
        _made["netns"].add(name)
        _made["links"].add(self.root_link)
        _register(self)
        try:
            _ip("netns", "add", name)
            _ip("link", "add", self.root_link, "type", "veth", "peer",
                "name", self.ns_link, "netns", name)
            _ip("addr", "add", self.gateway + "/24", "dev", self.root_link)
            _ip("link", "set", self.root_link, "up")
            _ip("-n", name, "addr", "add", self.address + "/24", "dev",
                self.ns_link)
            _ip("-n", name, "link", "set", self.ns_link, "up")
            _ip("-n", name, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def __repr__(self):
        return "<NetNS %s %s>" % (self.name, self.address)

    def wrapper(self):
        """The argv prefix that runs a program in this network namespace
        but in the caller's mount namespace (ip netns exec would give it
        a mount namespace of its own, where a FUSE mount is invisible)."""
        return ["nsenter", "--net=" + self.path]

    def run(self, *argv, **kw):
        """subprocess.run of argv inside the namespace."""
        return subprocess.run([*self.wrapper(), *argv], **kw)

    def cut(self):
        _ip("link", "set", self.root_link, "down")

    def heal(self):
        _ip("link", "set", self.root_link, "up")

    def _remove(self):
        # Deleting the namespace deletes its end of the veth pair and so
        # the pair; the link is deleted too in case the namespace is gone.
        if os.path.exists(self.path) or self.name in _netns_list():
            _ip("netns", "delete", self.name, check=False)
        if os.path.exists("/sys/class/net/" + self.root_link):
            _ip("link", "delete", self.root_link, check=False)

    def close(self):
        self._remove()
        _unregister(self)

    _cleanup = _remove


# -- a proxy between clients and a server ----------------------------------

def subject_matches(pattern, subject):
    """True if a subscription to pattern (with NATS wildcards: '*' one
    token, '>' one or more at the end) gets messages on subject."""
    pt, st = pattern.split("."), subject.split(".")
    for i, p in enumerate(pt):
        if p == ">":
            return len(st) > i
        if i >= len(st) or (p != "*" and p != st[i]):
            return False
    return len(pt) == len(st)


class NatsFrame:
    """One PUB or HPUB a client sent, or one MSG or HMSG the server sent:
    op (b"PUB", b"HPUB", b"MSG", b"HMSG"), subject and reply (str, reply
    "" when none), sid (str, MSG and HMSG only), header (the header block,
    bytes, b"" for PUB and MSG), payload (bytes, without the header),
    raw (the frame as it came, to pass on)."""

    def __init__(self, words, body, raw):
        self.op = words[0].upper()
        self.raw = raw
        with_hdr = self.op in (b"HPUB", b"HMSG")
        hlen = int(words[-2]) if with_hdr else 0
        self.header, self.payload = body[:hlen], body[hlen:]
        args = [w.decode() for w in words[1:-2 if with_hdr else -1]]
        self.subject = args[0]
        if self.op in (b"MSG", b"HMSG"):
            self.sid = args[1]
            self.reply = args[2] if len(args) > 2 else ""
        else:
            self.sid = None
            self.reply = args[1] if len(args) > 1 else ""

    def header_value(self, name):
        """The value of header name (str), None if it has none."""
        for line in self.header.split(b"\r\n")[1:]:
            k, sep, v = line.partition(b":")
            if sep and k.strip().lower() == name.lower().encode():
                return v.strip().decode(errors="replace")
        return None

    def __repr__(self):
        return "<%s %s %s %d bytes>" % (self.op.decode(), self.subject,
                                        self.reply, len(self.payload))


class ProxyConnection:
    """A client's connection through a NatsProxy and its own connection to
    the server.  The hooks get it, to send what they like either way
    (to_server, to_client, deliver, status) or to cut() both."""

    def __init__(self, proxy, client, server):
        self.proxy = proxy
        self.client = client
        self.server = server
        self.subs = {}              # sid: subject, as the client subscribed
        self.cut_done = False
        self.locks = {client: threading.Lock(), server: threading.Lock()}
        self.threads = [
            threading.Thread(target=self._pump, args=(
                client, self._from_client), daemon=True),
            threading.Thread(target=self._pump, args=(
                server, self._from_server), daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def to_server(self, data):
        with self.locks[self.server]:
            self.server.sendall(data)

    def to_client(self, data):
        with self.locks[self.client]:
            self.client.sendall(data)

    def deliver(self, subject, payload=b"", header=None):
        """Send the client a message on subject (MSG, or HMSG with header,
        bytes) as if the server did, on the client's subscription that
        takes it.  AssertionError if it has none."""
        sid = next((s for s, p in list(self.subs.items())
                    if subject_matches(p, subject)), None)
        if sid is None:
            raise AssertionError("the client has no subscription to %s "
                                 "(it has %r)" % (subject, self.subs))
        if header is None:
            self.to_client(b"MSG %s %s %d\r\n%s\r\n" % (
                subject.encode(), sid.encode(), len(payload), payload))
        else:
            self.to_client(b"HMSG %s %s %d %d\r\n%s%s\r\n" % (
                subject.encode(), sid.encode(), len(header),
                len(header) + len(payload), header, payload))

    def status(self, subject, code, description=""):
        """A status message on subject, as the server sends a requester
        (code 503: no responders)."""
        line = ("NATS/1.0 %d %s" % (code, description)).strip()
        self.deliver(subject, header=line.encode() + b"\r\n\r\n")

    def cut(self):
        """Close both connections at once, as a network failure would:
        what either side had sent and the other not yet read is lost."""
        self.cut_done = True
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _from_client(self, words, frame, raw):
        op = words[0].upper()
        if op == b"SUB" and len(words) >= 3:
            self.subs[words[-1].decode()] = words[1].decode()
        elif op == b"UNSUB" and len(words) >= 2:
            self.subs.pop(words[1].decode(), None)
        if op in (b"PUB", b"HPUB") and self.proxy.on_publish is not None:
            if self.proxy.on_publish(self, frame):
                return
        self.to_server(raw)

    def _from_server(self, words, frame, raw):
        op = words[0].upper()
        if op == b"INFO":
            # Only the proxy's address: a client told of the server's
            # own (connect_urls) could reconnect around the proxy.
            info = json.loads(raw.split(None, 1)[1])
            for k in ("connect_urls", "ws_connect_urls"):
                info.pop(k, None)
            self.to_client(b"INFO %s\r\n" % json.dumps(info).encode())
            return
        if op in (b"MSG", b"HMSG") and self.proxy.on_message is not None:
            if self.proxy.on_message(self, frame):
                return
        self.to_client(raw)

    def _pump(self, src, handle):
        """Read protocol lines (and the payloads of PUB, HPUB, MSG, HMSG)
        from src and hand each to handle(words, frame, raw), frame None
        but for those four, until either side closes."""
        buf = b""
        try:
            while not self.cut_done:
                i = buf.find(b"\r\n")
                if i < 0:
                    got = src.recv(65536)
                    if not got:
                        break
                    buf += got
                    continue
                words = buf[:i].split()
                if not words:
                    buf = buf[i + 2:]
                    continue
                op = words[0].upper()
                if op in (b"PUB", b"HPUB", b"MSG", b"HMSG"):
                    end = i + 2 + int(words[-1]) + 2
                    while len(buf) < end:
                        got = src.recv(65536)
                        if not got:
                            raise ConnectionError("closed in a payload")
                        buf += got
                    raw, buf = buf[:end], buf[end:]
                    handle(words, NatsFrame(words, raw[i + 2:end - 2], raw),
                           raw)
                else:
                    raw, buf = buf[:i + 2], buf[i + 2:]
                    handle(words, None, raw)
        except OSError:
            pass
        except Exception as e:      # noqa: B902 - a hook's, or garbage
            self.proxy.errors.append("%s: %r" % (
                "from the client" if src is self.client else
                "from the server", e))
            print("natstest: %r: %r" % (self.proxy, e), file=sys.stderr)
        self.cut()


class NatsProxy(_Resource):
    """A TCP proxy in front of the server at server_url that speaks enough
    NATS to let a test see and change what goes through.  Clients connect
    to proxy.url; each client connection gets one of its own to the
    server.  Two hooks, None by default (everything passes):

    - on_publish(conn, frame) for each PUB and HPUB a client sends;
    - on_message(conn, frame) for each MSG and HMSG the server sends;

    conn is the ProxyConnection, frame a NatsFrame.  A hook that returns
    a true value has dealt with the frame, which is not passed on: it may
    drop it, answer it (conn.deliver, conn.status), pass it on itself
    (conn.to_server(frame.raw)), cut the connection (conn.cut()).  Hooks
    run in the connection's thread for that direction, which they may
    hold up (the other direction goes on).  An exception in a hook, or
    garbage on the wire, cuts the connection and is noted in errors.  The
    server's INFO reaches clients without connect_urls, so that they
    reconnect through the proxy only.  connections lists every
    connection made so far."""

    _rank = 1

    def __init__(self, server_url, on_publish=None, on_message=None):
        self.target = _host_port(server_url)
        self.on_publish = on_publish
        self.on_message = on_message
        self.connections = []
        self.errors = []            # what went wrong in a connection
        self.closed = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        _made["proxies"].add(self)
        _register(self)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def __repr__(self):
        return "<NatsProxy %s -> %s:%d>" % (self.url, *self.target)

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            conn = ProxyConnection(self, client, server)
            self.connections.append(conn)
            conn.start()

    def cut(self):
        """Cut every connection open now (clients may connect again)."""
        for c in list(self.connections):
            c.cut()

    def close(self):
        """Stop taking connections and close those there are."""
        self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(10)
        self.cut()
        for c in list(self.connections):
            for t in c.threads:
                t.join(10)
            for s in (c.client, c.server):
                s.close()
        _unregister(self)

    _cleanup = close


# -- bridged daemons -------------------------------------------------------

_hosts = 0


def _host_id():
    global _hosts
    _hosts += 1
    return "natstest-%d-%d" % (os.getpid(), _hosts)


class Host(_Resource):
    """An ipcfs daemon bridged to NATS (ipcfs_test.Mount with -o nats=URL
    for each of the URLs, given as a list or comma-separated, and -o
    nats_host=ID), as if on a host of its own.  options go to the daemon
    before those.  With netns (a NetNS) the daemon runs in that network
    namespace but in this mount namespace, so the mount is visible here.

    host_id None gives each daemon a new unique id (a restarted daemon
    is a new host, as with the default hostname-and-pid); a given id is
    kept across restart().  host(names...) is a path in the mount, as
    with Mount; path, pid and id are the current daemon's."""

    def __init__(self, nats_url, *options, netns=None, host_id=None,
                 binary=None):
        if isinstance(nats_url, str):
            nats_url = nats_url.split(",")
        self.urls = [u.strip() for u in nats_url if u.strip()]
        self.options = options
        self.netns = netns
        self.fixed_id = host_id
        self.binary = binary
        self.mount = None
        self.logs = []          # the logs of the daemons before this one
        _register(self)
        try:
            self._mount()
        except BaseException:
            self.close()
            raise

    def __repr__(self):
        return "<Host %s %s>" % (self.id, self.path)

    def _mount(self):
        self.id = self.fixed_id or _host_id()
        opts = ",".join(["nats=" + u for u in self.urls] +
                        ["nats_host=" + self.id])
        wrapper = self.netns.wrapper() if self.netns else ()
        self.mount = ipcfs_test.Mount(*self.options, "-o", opts,
                                      binary=self.binary, wrapper=wrapper)
        _made["dirs"].add(self.mount.tmp)
        _made["mounts"].add(self.mount.path)
        _spawned(self.mount.proc.pid)

    def __call__(self, *names):
        return self.mount(*names)

    @property
    def path(self):
        return self.mount.path

    @property
    def pid(self):
        return self.mount.proc.pid

    def log(self):
        """This daemon's log."""
        return self.mount.daemon_log() if self.mount else ""

    def trouble(self, name="local-check"):
        """None if the daemon still runs and its mount answers: a listing
        of its root, and a write read back on a local channel called name
        there (outside the bridge); else what is wrong."""
        if self.mount is None or self.mount.proc.poll() is not None:
            return "the daemon of %r is gone:\n%s" % (self,
                                                       self.log()[-3000:])
        p = self(name)
        try:
            os.listdir(self.path)
            fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                got = (os.write(fd, b"ping"), os.read(fd, 100))
            finally:
                os.close(fd)
                os.unlink(p)
        except OSError as e:
            return "the mount of %r does not answer: %s" % (self, e)
        if got != (4, b"ping"):
            return "a local channel on %r gave back %r" % (self, got)
        return None

    def kill(self):
        """SIGKILL the daemon (a host that dies) and lazily unmount its
        stale mount point.  restart() brings the host back."""
        if self.mount is None:
            return
        m, self.mount = self.mount, None
        if m.proc.poll() is None:
            m.proc.kill()
        m.proc.wait()
        self.logs.append(m.daemon_log())
        m.close()           # fusermount3 -u -z (umount -l), rmtree

    def restart(self):
        """Kill the daemon if it runs, and mount again on a fresh mount
        point (host.path changes)."""
        self.kill()
        self._mount()

    def close(self):
        """Unmount and stop the daemon; fails on a sanitizer report."""
        _unregister(self)
        if self.mount is not None:
            m, self.mount = self.mount, None
            m.close()

    def _cleanup(self):
        if self.mount is not None:
            m, self.mount = self.mount, None
            if m.proc.poll() is None:
                m.proc.kill()
            m.close()
