"""The NATS bridge under attack (issue 19): a hostile NATS client that
publishes into every subject and bucket the bridge uses, and a hostile
local user.  The daemons and their local channels must go on, and the
other hosts must see nothing wrong.

Each test has its own nats-server and two daemons bridged to it, A and B
(natstest.Host, -o nats_timeout=2), with a bridged directory att on both
(channels live, msgs, wait, sub/inner, victims vchan, vchan2, vdir) and an
unbridged directory local with a channel ch on each.  A reader on B waits
in read() on att/wait through every attack.  The rogue (RogueClient, plain
sockets: INFO, CONNECT, PUB, HPUB, SUB, PING/PONG) then publishes:

- test_names_bucket: keys of the names bucket that are not canonical
  (lower-case hex, =41 for a letter that is written as itself, a '='
  at the end, a NUL, a byte that must be escaped, '.', '..', '/'),
  empty components, very long keys, keys of unbridged directories, and
  values that are garbage, truncated, with a stream id that is not 16
  lower-case hex digits ('.', '*', '>', capitals), absurd capacities,
  modes past 07777, a uid past 32 bits, an unknown framing; a key
  aliasing the stream of a live channel (new name, and over another
  channel), a directory's value on a channel's key and the reverse.
  No host may show a name the bucket does not hold as the bridge writes
  it, both hosts show the same tree, and the live channel keeps its
  name and stream (a stream's name is the key put first); deleting the
  rogue's keys changes nothing either.
- test_names_modes: valid keys whose modes have the set-user-ID or
  set-group-ID bits: a channel's 6777 shows as 0777 on both hosts, a
  directory's 3777 as 3777 and 7777 as 3777 (no set-user-ID from the
  network, set-group-ID on directories only).
- test_hosts_bucket: presence lines (kept up as a host keeps its own)
  with absurd counts (2^32-1, 2^64, negative), unknown ids, garbage, an
  id glued to a count, and lines claiming writers and readers of live
  channels.  A claim of 2^32-1 writers on top of A's real writer must
  not wrap B's sum to 0 (B would take the channel for ended), nor a
  claim of -1 readers on top of B's reader make A's 0 (A's writer gets
  EPIPE today); once the rogue's keys are deleted or time out, end of
  file and EPIPE come.
- test_hosts_bucket_big: presence values of 1 MiB and of 20,000 lines.
- test_stream_subjects: messages published straight into the streams
  of live channels with a pad byte past the length, a pad of non-zero
  bytes, an empty payload: readers on B get only what A wrote.
- test_oversize_message (finding 1): 4,800 bytes published into the
  stream of a message channel of capacity 4096 (its stream's limit is
  capacity + 1 KiB), queue and broadcast, while readers on B wait.
  Today B's loop spins (on_acked -> bchan_queue -> on_acked ...),
  floods the freed subject, and stops answering.
- test_freed_and_inboxes: tens of thousands of freed notices, of every
  length, and forged answers on the daemons' inboxes (found through the
  server's /connz?subs=1).
- test_full_memory (finding 1, second way): on B, two regions use up
  max_memory while a reader waits for a bridged message; B must keep
  answering, and deliver the message once the regions are released.
- test_long_names (finding 5): names whose keys are long (nested
  directories of 255 dots, each byte =2E): each mkdir or create either
  works and shows on B, or fails with ENAMETOOLONG; a rename to a name
  whose key is too long fails with ENAMETOOLONG; never a host that is
  disconnected for good.
- test_deep_rename (finding 6): 1,200 nested directories, the top one
  renamed: no crash (today move_add recurses with 8 KiB frames), and
  B sees the tree under its new name (or the rename fails with
  ENAMETOOLONG).
- test_deep_tree_bridged_later (finding 6): A makes a tree 1,200 deep
  in d, and the rogue puts a chain of 1,200 valid directory keys in d2;
  B, which had neither, makes and bridges both (bridge_apply and
  apply_under recurse into each other today): no crash, and B shows
  both trees whole.

After each test (after()): both daemons run and answer a stat of their
mount within ANSWER seconds, report "nats connected", a local channel
carries a record on each, a bridged channel carries a record from A to B
exactly once (att/wait, and a channel made after the attack), the names
under att are the same on A and B and are those the test made, and no
process of the test was seen in state D.  Waits are bounded only as hang
guards.  A call that a daemon holds cannot be interrupted, so a watchdog
thread stats each daemon's mount once a second from a child process, and
kills a daemon that does not answer within ANSWER seconds: the test then
fails saying so, instead of hanging.  The tests measure no time.

Run as "test_bridge_attack.py worker ..." this file is a worker process
(see worker() below).
"""

import base64
import errno
import json
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402
import natstest  # noqa: E402

PY = "/usr/bin/python3"
ME = os.path.abspath(__file__)
GUARD = 170         # seconds per test: a hang guard
WAIT = 15.0         # seconds for a change to show elsewhere: a hang guard
ANSWER = 10.0       # seconds for a daemon to answer a stat: a hang guard
NS = "ipcfs"        # the default nats_name (src/ipcfs.h)
NAMES = NS + "_names"
HOSTS = NS + "_hosts"
TIMEOUT = 2         # -o nats_timeout: a silent host stops counting
BRIDGE = "user.ipcfs.bridge"
FRAMING = "user.ipcfs.framing"
DELIVERY = "user.ipcfs.delivery"
CAPACITY = "user.ipcfs.capacity"
figures = ipcfs_test.figures


# -- the rogue ---------------------------------------------------------------

class RogueClient:
    """A NATS client in plain sockets that publishes whatever it is told
    to, as anyone who can reach the server can.  publish() and hpub()
    send; request() waits for an answer on an inbox of its own;
    kv_put() and kv_del() write a key-value bucket as libnats does
    ($KV.<bucket>.<key>, KV-Operation: DEL).  A thread reads what the
    server sends: PINGs are answered, messages go to request()."""

    def __init__(self, url, name="rogue"):
        host, port = natstest._host_port(url)
        self.sock = socket.create_connection((host, port), timeout=10)
        self.file = self.sock.makefile("rb")
        line = self.file.readline()
        if not line.startswith(b"INFO "):
            raise AssertionError("no INFO from %s: %r" % (url, line))
        self.info = json.loads(line[5:])
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.pongs = 0
        self.replies = {}
        self.errors = []
        self.closed = False
        self.prefix = "_INBOX.rogue%d" % random.getrandbits(40)
        self.n = 0
        self.send(b'CONNECT {"verbose":false,"pedantic":false,'
                  b'"headers":true,"no_responders":true,"protocol":1,'
                  b'"name":"%s"}\r\nSUB %s.* 1\r\n' % (
                      name.encode(), self.prefix.encode()))
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.flush()

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def _run(self):
        try:
            while True:
                line = self.file.readline()
                if not line:
                    break
                words = line.split()
                if not words:
                    continue
                op = words[0].upper()
                if op == b"PING":
                    self.send(b"PONG\r\n")
                elif op == b"PONG":
                    with self.cond:
                        self.pongs += 1
                        self.cond.notify_all()
                elif op == b"-ERR":
                    with self.cond:
                        self.errors.append(line.decode(errors="replace"))
                        self.cond.notify_all()
                elif op in (b"MSG", b"HMSG"):
                    size = int(words[-1])
                    hdr = int(words[-2]) if op == b"HMSG" else 0
                    body = self.file.read(size + 2)[:size]
                    with self.cond:
                        self.replies[words[1].decode()] = (body[:hdr],
                                                           body[hdr:])
                        self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _wait(self, what, fn, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not fn():
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def flush(self, timeout=20):
        """PING, and wait for the PONG: the server has read all before."""
        with self.cond:
            want = self.pongs + 1
        self.send(b"PING\r\n")
        if not self._wait("PONG", lambda: self.pongs >= want, timeout):
            raise AssertionError("the rogue got no PONG (closed %s, "
                                 "errors %r)" % (self.closed, self.errors))

    @staticmethod
    def headers(hdrs):
        return b"NATS/1.0\r\n" + b"".join(
            b"%s: %s\r\n" % (k.encode(), v.encode())
            for k, v in hdrs.items()) + b"\r\n"

    def publish(self, subject, payload=b"", reply=None, headers=None):
        """PUB (or HPUB with headers, a dict) of payload to subject."""
        self.send(self.wire(subject, payload, reply, headers))

    def wire(self, subject, payload=b"", reply=None, headers=None):
        """The bytes of one publish, for sending many at once."""
        if isinstance(payload, str):
            payload = payload.encode()
        subject = subject.encode() if isinstance(subject, str) else subject
        r = b" " + reply.encode() if reply else b""
        if headers is None:
            return b"PUB %s%s %d\r\n%s\r\n" % (subject, r, len(payload),
                                              payload)
        h = self.headers(headers)
        return b"HPUB %s%s %d %d\r\n%s%s\r\n" % (
            subject, r, len(h), len(h) + len(payload), h, payload)

    def request(self, subject, payload=b"", headers=None, timeout=10):
        """Publish with a reply inbox of the rogue's; (headers, body) of
        the answer, or None when none came."""
        self.n += 1
        inbox = "%s.%d" % (self.prefix, self.n)
        self.publish(subject, payload, inbox, headers)
        if not self._wait("reply", lambda: inbox in self.replies, timeout):
            return None
        with self.cond:
            return self.replies.pop(inbox)

    def kv_put(self, bucket, key, value):
        """Put key in bucket as libnats does; JetStream's answer as a
        dict (a failed put has "error"), None if none came (a subject
        the bucket's stream does not take gets 503 no responders)."""
        got = self.request("$KV.%s.%s" % (bucket, key), value)
        if got is None or not got[1]:
            return None
        try:
            return json.loads(got[1])
        except ValueError:
            return {"error": got[1].decode(errors="replace")}

    def kv_del(self, bucket, key):
        got = self.request("$KV.%s.%s" % (bucket, key), b"",
                           headers={"KV-Operation": "DEL"})
        return json.loads(got[1]) if got and got[1] else None

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)
        self.file.close()


class RogueHosts:
    """Presence keys the rogue keeps up as a host does: each put again
    every beat (nats_timeout / 5), until stop() (it then times out) or
    drop() (deleted)."""

    def __init__(self, rogue, beat=TIMEOUT / 5.0):
        self.rogue = rogue
        self.beat = beat
        self.keys = {}
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def put(self, key, value):
        got = self.rogue.kv_put(HOSTS, key, value)
        if not got or "seq" not in got:
            raise AssertionError("the rogue's put of %s: %r" % (key, got))
        with self.lock:
            self.keys[key] = value

    def stop(self, key):
        with self.lock:
            self.keys.pop(key, None)

    def drop(self, key):
        self.stop(key)
        self.rogue.kv_del(HOSTS, key)

    def _run(self):
        while self.running:
            time.sleep(self.beat)
            with self.lock:
                now = list(self.keys.items())
            for k, v in now:
                try:
                    self.rogue.publish("$KV.%s.%s" % (HOSTS, k), v)
                except OSError:
                    return

    def close(self):
        self.running = False
        self.thread.join(10)


def kv_get(url, bucket, key):
    """The value of key in bucket (bytes), None if it has none."""
    got = natstest.jsapi(url, "STREAM.MSG.GET.KV_" + bucket,
                         {"last_by_subj": "$KV.%s.%s" % (bucket, key)})
    if not isinstance(got, dict) or "message" not in got:
        return None
    return base64.b64decode(got["message"].get("data", ""))


def kv_keys(url, bucket):
    """How many keys (subjects) the bucket's stream has."""
    got = natstest.jsapi(url, "STREAM.INFO.KV_" + bucket)
    if not isinstance(got, dict) or "state" not in got:
        return 0
    return got["state"].get("num_subjects", 0)


def short(path):
    """path with each run of 10 or more dots or spaces said in words."""
    return re.sub(r"([. ])\1{9,}", lambda m: "<%d %s>" % (
        len(m.group()), "dots" if m.group(1) == "." else "spaces"), path)


def escape(name):
    """A path component as the bridge writes it in a key."""
    return "".join(chr(b) if chr(b).isalnum() and b < 128 or b in b"-_"
                   else "=%02X" % b for b in name.encode())


# -- the worker processes ---------------------------------------------------

def worker(argv):
    """The processes the tests start:

    reader PATH
        open for reading, print "open", then each read (of up to 64 KiB)
        as one JSON string (bytes as latin-1), "err NAME" for a read that
        fails (the reader goes on, at most 20 times), "eof" at the end
    writer PATH
        open for writing, print "open"; then for each JSON string on
        stdin write it (latin-1) and print "wrote N" or "err NAME"; on
        "close" close and print "closed"
    pump PATH COUNT PAUSE
        open for writing, print "open", write COUNT records of 64 bytes
        ("p N", spaces, newline), PAUSE seconds apart, close, print
        "done", or "err N NAME" for a write that failed
    """
    what, path = argv[0], argv[1]
    if what == "reader":
        fd = os.open(path, os.O_RDONLY)
        print("open", flush=True)
        errors = 0
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError as e:
                print("err", errno.errorcode.get(e.errno, e.errno),
                      flush=True)
                errors += 1
                if errors == 20:
                    sys.exit(3)
                continue
            if not data:
                break
            print(json.dumps(data.decode("latin-1")), flush=True)
        os.close(fd)
        print("eof", flush=True)
    elif what == "writer":
        fd = os.open(path, os.O_WRONLY)
        print("open", flush=True)
        for line in sys.stdin:
            line = line.strip()
            if line == "close":
                os.close(fd)
                print("closed", flush=True)
                return
            data = json.loads(line).encode("latin-1")
            try:
                print("wrote", os.write(fd, data), flush=True)
            except OSError as e:
                print("err", errno.errorcode.get(e.errno, e.errno),
                      flush=True)
    elif what == "pump":
        count, pause = int(argv[2]), float(argv[3])
        fd = os.open(path, os.O_WRONLY)
        print("open", flush=True)
        for i in range(count):
            try:
                os.write(fd, record(i))
            except OSError as e:
                print("err", i, errno.errorcode.get(e.errno, e.errno),
                      flush=True)
                sys.exit(2)
            time.sleep(pause)
        os.close(fd)
        print("done", flush=True)
    else:
        sys.exit("test_bridge_attack.py: no worker %r" % what)


def record(i):
    r = b"p %d" % i
    return r + b" " * (63 - len(r)) + b"\n"


class Worker:
    """A worker process; a thread collects what it prints, a line at a
    time (lines())."""

    def __init__(self, case, *args):
        self.args = args
        self.proc = subprocess.Popen(
            [PY, ME, "worker", *map(str, args)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._lines = []
        self._err = []
        self.t = [threading.Thread(target=self._take, args=(f, out),
                                   daemon=True)
                  for f, out in ((self.proc.stdout, self._lines),
                                 (self.proc.stderr, self._err))]
        for t in self.t:
            t.start()
        case.workers.append(self)

    @staticmethod
    def _take(f, out):
        for line in f:
            out.append(line.rstrip("\n"))

    @property
    def pid(self):
        return self.proc.pid

    def lines(self):
        return list(self._lines)

    def stderr(self):
        return "\n".join(self._err)

    def data(self):
        """What a reader has read, all together (bytes)."""
        return b"".join(json.loads(x).encode("latin-1")
                        for x in self.lines() if x.startswith('"'))

    def reads(self):
        """A reader's reads, each as bytes, and "eof" or "err NAME"."""
        return [json.loads(x).encode("latin-1") if x.startswith('"')
                else x for x in self.lines() if x != "open"]

    def say(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def write(self, data):
        self.say(json.dumps(data.decode("latin-1")))

    def running(self):
        return self.proc.poll() is None

    def __repr__(self):
        return "<worker %s: %s>" % (" ".join(map(str, self.args[:2])),
                                    (self.lines() or ["-"])[-1][:80])


def proc_state(pid):
    """(state letter, wchan) of a process, None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read()
    except (OSError, IndexError):
        return None
    return None if st in "ZX" else (st, wchan)


# -- the tests ---------------------------------------------------------------

class BridgeAttack(unittest.TestCase):
    """A server, hosts A and B, and the layout of the module's comment,
    made again for each test."""

    # Options of the daemons, by test (both hosts).
    host_options = {"test_full_memory": ("-o", "max_memory=64M")}

    def setUp(self):
        natstest.skip_unless_nats()
        self.workers = []
        self.rogues = []
        self.dstates = []           # (pid, args, wchan) seen in state D
        self.stuck = []             # what the watchdog found
        self.reported = 0           # how much of it a failure said
        self.watching = True
        signal.signal(signal.SIGALRM, self._hang)
        signal.alarm(GUARD)
        self.server = natstest.NatsServer("s")
        opts = ("-o", "nats_timeout=%d" % TIMEOUT) + \
            self.host_options.get(self._testMethodName, ())
        self.A = natstest.Host(self.server.url, *opts)
        self.B = natstest.Host(self.server.url, *opts)
        self.hosts = {"A": self.A, "B": self.B}
        self.threads = [threading.Thread(target=fn, daemon=True)
                        for fn in (self._states, self._watchdog)]
        for t in self.threads:
            t.start()
        self.layout()

    def tearDown(self):
        signal.alarm(0)
        self.watching = False
        for t in self.threads:
            t.join(2 * ANSWER)
        # A daemon that stopped answering holds every process that waits
        # on its mount, even one killed: kill the workers, then any such
        # daemon, and only then wait for the workers.
        for w in self.workers:
            if w.running():
                w.proc.kill()
        for name, h in self.hosts.items():
            if h.mount is not None and h.mount.proc.poll() is None and \
                    self.probe(h) is None:
                self.stuck.append("host %s does not answer at the end"
                                  % name)
                h.mount.proc.kill()
        errors = []
        for w in self.workers:
            try:
                w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                errors.append("%r did not end" % w)
            for f in (w.proc.stdin, w.proc.stdout, w.proc.stderr):
                try:
                    f.close()
                except OSError:
                    pass
        for r in self.rogues:
            r.close()
        for name, h in self.hosts.items():
            try:
                h.close()
            except AssertionError as e:
                errors.append("host %s: %s" % (name, str(e)[:3000]))
        self.server.close()
        natstest.cleanup_all()
        self.assertEqual(self.stuck[self.reported:], [], "daemons that "
                         "stopped answering (killed so that the test ends)")
        self.assertEqual(errors, [], "daemon reports")

    @staticmethod
    def _hang(signum, frame):
        raise ipcfs_test.HangGuard("hang guard: the test did not finish")

    def _states(self):
        """Sample the workers' states: one seen in D twice in a row (a
        tenth of a second apart) is noted."""
        last = {}
        while self.watching:
            for w in list(self.workers):
                st = proc_state(w.pid)
                d = st is not None and st[0] == "D"
                if d and last.get(w.pid):
                    self.dstates.append((w.pid, w.args, st[1]))
                last[w.pid] = d
            time.sleep(0.1)

    def _watchdog(self):
        """Probe each daemon about once a second.  One that does not
        answer within ANSWER seconds is noted and killed: whatever the
        test waits for on its mount then fails instead of hanging (a
        call the daemon holds cannot be interrupted otherwise).  At the
        hang guard's end, every daemon is killed."""
        deadline = time.monotonic() + GUARD - 5
        while self.watching:
            for name, h in list(self.hosts.items()):
                if not self.watching:
                    return
                m = h.mount
                if m is None or m.proc.poll() is not None:
                    continue
                if time.monotonic() > deadline:
                    self.stuck.append("host %s killed at the hang guard"
                                      % name)
                    m.proc.kill()
                    continue
                if self.probe(h) is None and self.watching and \
                        m.proc.poll() is None:
                    log = m.daemon_log().splitlines()
                    self.stuck.append(
                        "host %s stopped answering (a stat and getxattr "
                        "of its mount root took over %ds); its log ends:"
                        "\n    %s" % (name, ANSWER, "\n    ".join(log[-8:])))
                    m.proc.kill()
            time.sleep(1)

    # -- helpers --

    def rogue(self):
        r = RogueClient(self.server.url)
        self.rogues.append(r)
        return r

    def until(self, what, fn, wait=WAIT):
        """Poll fn until it returns something true, and return that; fail
        after wait seconds (a hang guard, not a measurement)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                got = fn()
            except OSError as e:
                if e.errno not in (errno.ECONNABORTED, errno.ENOTCONN):
                    raise
                self.fail("waiting until %s: a daemon is gone (%s)%s" % (
                    what, e, self.logs()))
            if got:
                return got
            if time.monotonic() > deadline:
                self.fail("not within %ds: %s%s" % (wait, what,
                                                     self.logs()))
            time.sleep(0.05)

    def logs(self, n=12):
        """The last lines of each daemon's log, for a failure, and what a
        sanitizer said (its first lines)."""
        out = []
        for name, h in self.hosts.items():
            log = (h.log() if h.mount else "").splitlines()
            san = [i for i, x in enumerate(log) if "Sanitizer" in x or
                   "runtime error" in x]
            if san:
                log = log[:san[0]] + [x for x in log[san[0]:] if
                                      x.startswith(("==", "SUMMARY")) or
                                      "ipcfs/src" in x or " in " in x][:12]
            if h.mount is None or h.mount.proc.poll() is not None:
                state = "exited %s" % (h.mount.proc.poll() if h.mount
                                       else "")
            else:
                stats = self.probe(h, 3)
                state = "running, %s" % (
                    "does not answer" if stats is None else
                    ", ".join(x for x in stats.splitlines()
                              if x.startswith("nats ")))
            out.append("\n%s (%s):\n  %s" % (name, state,
                                             "\n  ".join(log[-n:])))
        # What the watchdog found is said here; tearDown says the rest.
        self.reported = len(self.stuck)
        return "".join(out + ["\n" + x for x in self.stuck])

    @staticmethod
    def probe(h, timeout=ANSWER):
        """A stat and a listing of h's mount root and its user.ipcfs.stats,
        in a child process: the stats text, or None if it did not answer
        within timeout seconds (the child is killed then)."""
        if h.mount is None or h.mount.proc.poll() is not None:
            return None
        try:
            r = subprocess.run(
                [PY, "-c", "import os, sys; p = sys.argv[1]; os.stat(p); "
                 "os.listdir(p); sys.stdout.write(os.getxattr(p, "
                 "'user.ipcfs.stats').decode())", h.path],
                capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout if r.returncode == 0 else None

    def answers(self, name, what=""):
        """Fail unless host name's daemon runs and answers (probe())."""
        h = self.hosts[name]
        if h.mount.proc.poll() is not None:
            self.fail("host %s's daemon exited (%s) %s%s" % (
                name, h.mount.proc.returncode, what, self.logs(40)))
        if self.probe(h) is None:
            alive = h.mount.proc.poll() is None
            logs = self.logs(40)
            # Killed, so that nothing waits on it (tearDown would).
            h.mount.proc.kill()
            self.fail("host %s's daemon %s %s%s" % (
                name, "does not answer a stat of its mount within %ds "
                "(killed)" % ANSWER if alive else "exited (%s)" %
                h.mount.proc.returncode, what, logs))

    def connected(self, name, wait=20):
        h = self.hosts[name]
        self.until("host %s reports nats connected" % name,
                   lambda: figures(h.path).get("nats") == "connected", wait)

    @staticmethod
    def exists(path):
        try:
            os.stat(path)
        except FileNotFoundError:
            return False
        return os.path.basename(path) in os.listdir(os.path.dirname(path))

    def shows(self, path, wait=WAIT):
        self.until("%s shows" % short(path), lambda: self.exists(path),
                   wait)

    def make(self, h, *names, framing=None, delivery=None, capacity=None):
        p = h("att", *names)
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        for k, v in ((CAPACITY, capacity), (FRAMING, framing),
                     (DELIVERY, delivery)):
            if v is not None:
                os.setxattr(p, k, str(v).encode())
        return p

    def settled(self, path, **want):
        keys = {"framing": FRAMING, "delivery": DELIVERY,
                "capacity": CAPACITY}

        def ok():
            if not self.exists(path):
                return False
            return all(os.getxattr(path, keys[k]) == str(v).encode()
                       for k, v in want.items())
        self.until("%s with %r" % (path, want), ok)

    def stream(self, path):
        """A channel's stream name (ipcfs_<id>)."""
        return figures(path)["stream"]

    def subject(self, path):
        """A channel's stream subject (ipcfs.<id>)."""
        return NS + "." + self.stream(path)[len(NS) + 1:]

    def ident(self, path):
        return self.stream(path)[len(NS) + 1:]

    def layout(self):
        """The set-up of the module's comment; self.names is what the
        legitimate operations made under att: path -> "f" or "d"."""
        A, B = self.A, self.B
        for h in (A, B):
            os.mkdir(h("att"), 0o755)
            natstest.mark(h("att"))
            os.mkdir(h("local"), 0o755)
            os.close(os.open(h("local", "ch"), os.O_CREAT | os.O_WRONLY,
                             0o666))
        self.names = {}
        self.chan(A, "live")
        self.chan(A, "msgs", framing="messages", capacity=4096)
        self.chan(A, "wait")
        os.mkdir(A("att", "sub"), 0o755)
        self.names["sub"] = "d"
        self.chan(A, "sub", "inner")
        self.chan(A, "vchan")
        self.chan(A, "vchan2")
        os.mkdir(A("att", "vdir"), 0o755)
        self.names["vdir"] = "d"
        self.same_names()
        # The reader that waits on B through every attack.
        self.waiting = self.reader(B, "wait")

    def chan(self, h, *names, **settings):
        """Make channel att/names on h; wait until both hosts have it with
        these settings and count no open of it elsewhere."""
        self.make(h, *names, **settings)
        self.names["/".join(names)] = "f"
        for o in (self.A, self.B):
            p = o("att", *names)
            self.settled(p, **settings)
            self.until("no open of %s counted" % p, lambda: (
                figures(p)["remote_readers"], figures(p)["remote_writers"])
                == (0, 0))
        return h("att", *names)

    def reader(self, h, *names):
        """A reader worker on att/names of h, open."""
        r = Worker(self, "reader", h("att", *names))
        self.until("%r opens" % (r,), lambda: r.lines() or not r.running())
        self.assertEqual(r.lines()[:1], ["open"], r.stderr())
        return r

    def writer(self, h, *names):
        w = Worker(self, "writer", h("att", *names))
        self.until("%r opens" % (w,), lambda: w.lines() or not w.running())
        self.assertEqual(w.lines()[:1], ["open"], w.stderr())
        return w

    def wrote(self, w, data):
        """Write data through writer w; its answer ("wrote N", "err X")."""
        n = len(w.lines())
        w.write(data)
        self.until("%r answers a write" % (w,),
                   lambda: len(w.lines()) > n or not w.running(), WAIT * 2)
        return w.lines()[n] if len(w.lines()) > n else "exited"

    @staticmethod
    def tree(h, top="att"):
        """The names under top on h: path -> "f" or "d" (a loop, not
        os.walk, which recurses as deep as the tree is)."""
        out = {}
        todo = [""]
        while todo:
            rel = todo.pop()
            try:
                with os.scandir(os.path.join(h(top), rel)) as it:
                    for e in it:
                        p = os.path.join(rel, e.name)
                        if e.is_dir(follow_symlinks=False):
                            out[p] = "d"
                            todo.append(p)
                        else:
                            out[p] = "f"
            except (NotADirectoryError, FileNotFoundError):
                # It changed while the walk went on (the host follows
                # the bucket): seen as neither, so the caller looks again.
                out[rel] = "changing"
        return out

    def same_names(self, wait=WAIT):
        """Wait until A and B both have exactly the names the test made
        under att; fail saying what differs."""
        want = self.names
        deadline = time.monotonic() + wait
        while True:
            got = {n: self.tree(h) for n, h in self.hosts.items()}
            if all(t == want for t in got.values()):
                return
            if time.monotonic() > deadline:
                diff = []
                for n, t in got.items():
                    extra = sorted(set(t) - set(want))
                    missing = sorted(set(want) - set(t))
                    kind = sorted(k for k in set(t) & set(want)
                                  if t[k] != want[k])
                    diff.append("%s: not made by the test %r, missing %r, "
                                "of another kind %r" % (n, extra, missing,
                                                        kind))
                self.fail("the names under att differ from those the test "
                          "made:\n  %s%s" % ("\n  ".join(diff), self.logs()))
            time.sleep(0.1)

    def round_trip_local(self, h):
        """A record through local/ch on h (not bridged)."""
        p = h("local", "ch")
        r = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        try:
            w = os.open(p, os.O_WRONLY)
            try:
                self.assertEqual(os.write(w, b"local\n"), 6)
            finally:
                os.close(w)
            self.assertEqual(os.read(r, 100), b"local\n")
        finally:
            os.close(r)

    def carries(self, reader, names, data):
        """Write data from A to att/names, where reader (on B) reads; the
        reader must get exactly data, then end of file."""
        w = self.writer(self.A, *names)
        self.assertEqual(self.wrote(w, data), "wrote %d" % len(data))
        w.say("close")
        self.until("the writer on A closes", lambda: "closed" in w.lines())
        self.until("the reader on B gets %r and end of file" % data,
                   lambda: "eof" in reader.lines() or
                   not reader.running())
        self.assertEqual(reader.data(), data, "what B's reader of %s read: "
                         "%r" % ("/".join(names), reader.reads()))

    def after(self):
        """The checks after an attack (the module's comment)."""
        for name in self.hosts:
            self.answers(name, "after the attack")
        for name in self.hosts:
            self.connected(name)
        for h in self.hosts.values():
            self.round_trip_local(h)
        # The reader that waited through the attack.
        self.carries(self.waiting, ("wait",), b"after the attack\n")
        # A channel made now: the names still go round, and the data.
        self.chan(self.A, "after")
        r = self.reader(self.B, "after")
        self.carries(r, ("after",), b"made after the attack\n")
        self.same_names()
        for name in self.hosts:
            self.answers(name, "at the end")
        self.assertEqual(self.dstates, [], "processes seen in state D")

    def traffic(self, count=150, pause=0.01):
        """Records from A to B through att/live while the attack goes
        on: (pump, reader); check_traffic() checks them."""
        r = self.reader(self.B, "live")
        p = Worker(self, "pump", self.A("att", "live"), count, pause)
        self.until("the pump opens", lambda: p.lines() or not p.running())
        return p, r, count

    def check_traffic(self, t):
        p, r, count = t
        self.until("the pump on A is done", lambda: not p.running(), 60)
        self.assertEqual(p.lines(), ["open", "done"], p.stderr())
        self.until("the reader on B of live ends",
                   lambda: not r.running(), WAIT * 2)
        self.assertEqual(r.lines()[-1:], ["eof"], r.stderr())
        got = r.data()
        want = b"".join(record(i) for i in range(count))
        if got != want:
            recs = [got[i:i + 64] for i in range(0, len(got), 64)]
            self.fail("live carried %d bytes, not the %d written: %r..." % (
                len(got), len(want), [x for x in recs
                                      if x not in set(record(i) for i in
                                                      range(count))][:5]))

    # -- 1. the names bucket --

    def test_names_bucket(self):
        """Keys and values no host writes, put in the names bucket while
        records go from A to B (live).  Today every key that decodes to
        a valid name makes that name on both hosts (key_dir takes lower
        case hex, a lone '=', a NUL that cuts the name short, bytes that
        should have been escaped; value_parse takes any 16 bytes as a
        stream id, masks the mode, takes any framing word), and a key
        with live's value renames live there (bridge_apply takes a known
        stream id under a new key for a rename made elsewhere)."""
        A = self.A
        t = self.traffic()
        rogue = self.rogue()
        live = self.ident(A("att", "live"))
        live_value = kv_get(self.server.url, NAMES, "att.live")
        self.assertTrue(live_value and live_value.startswith(b"f " +
                                                             live.encode()),
                        live_value)
        d = b"d 755 0 0"

        def f(ident, cap="4096", mode="644", framing="bytes", uid="0"):
            return ("f %s %s queue %s %s %s 0" % (ident, framing, cap, mode,
                                                  uid)).encode()
        def fresh():
            return "%016x" % random.getrandbits(64)
        bad_keys = {
            # Not canonical: each decodes to a name whose key is another.
            "att.a=2eb": d,             # lower-case hex: "a.b"
            "att.a=2Eb=2e": d,
            "att.=41bc": d,             # 'A' is written as itself
            "att.x=": d,                # '=' at the end
            "att.x=2": d,               # half an escape
            "att.y=00z": d,             # a NUL
            "att.a+b": d,               # '+' must be escaped
            "att.c~d": f(fresh()),
            "att.=2E": d,               # "."
            "att.=2E=2E": d,            # ".."
            "att.a=2Fb": d,             # "a/b"
            "att.sub.=41": d,
            "att.sub.i=2dj": f(fresh()),  # '-' is written as itself
            # Empty components, a dot at the end.
            "att..e1": d,
            "att.e2.": d,
            "att.sub..e3": d,
            # Very long: a component of 300, a deep path under no
            # directory of ours.
            "att." + "L" * 300: d,
            "att.nowhere." + ".".join(["q"] * 1500): d,
            # Not in a bridged directory.
            "local.rogue": d,
            "local.rogue2": f(fresh()),
            "rogue_top": d,
        }
        bad_values = [
            b"garbage", b"", b"f", b"d", b"d 755", b"x 755 0 0",
            b"f " + fresh().encode() + b" bytes queue",
            b"f " + fresh().encode() + b" bytes queue 4096 644",
            f("01234567.9abcdef"), f("0123456789abcde*"),
            f("0123456789abcde>"), f("0123456789ABCDEF"),
            f("0123456789abcdeg"), f("0123456789abcde"),
            f(fresh() + "0"), f(fresh(), cap="0"), f(fresh(), cap="-1"),
            f(fresh(), cap="18446744073709551616"),
            f(fresh(), cap="18446744073709551615"),
            f(fresh(), cap="99999999999999999999999"),
            f(fresh(), mode="10644"), f(fresh(), mode="177777"),
            f(fresh(), mode="9"), f(fresh(), uid="99999999999"),
            f(fresh(), framing="junk"),
            b"d 10755 0 0", b"d 777777 0 0", b"d 755 99999999999 0",
            b"d 755 0 -5",
        ]
        for i, v in enumerate(bad_values):
            bad_keys["att.v%d" % i] = v
        # Aliases of live's stream: a new name, a name in sub, and over
        # another channel.
        aliases = {"att.alias": live_value, "att.sub.alias2": live_value,
                   "att.vchan2": live_value}
        # A directory's value on a channel's key, and the reverse.
        kinds = {"att.vchan": d, "att.vdir": f(fresh())}
        stored, refused = [], []
        for k, v in list(bad_keys.items()) + list(aliases.items()) + \
                list(kinds.items()):
            got = rogue.kv_put(NAMES, k, v)
            (stored if got and "seq" in got else refused).append(k)
        print("\nrogue keys stored: %d, refused by the server: %r" % (
            len(stored), refused), file=sys.stderr)
        # The rogue's keys reach the hosts in order: once a key put last
        # is in the bucket and both hosts have had time to see it...
        rogue.kv_put(NAMES, "att.zz_last", b"garbage")
        self.until("the rogue's last key is stored", lambda: kv_get(
            self.server.url, NAMES, "att.zz_last") == b"garbage")
        self.answers("A", "after the rogue's keys")
        self.answers("B", "after the rogue's keys")
        # The victims' keys now say what the rogue put, and the hosts
        # follow the bucket as they do for a host's changes at odds
        # (docs/bridge.md): vchan is a directory, vdir a channel, and
        # live's stream has one name, the first of its keys in order:
        # alias.  (Only an authenticated NATS keeps a client from putting
        # keys: it can rename as a host can, never split a stream.)
        self.names["vchan"] = "d"
        self.names["vdir"] = "f"
        del self.names["vchan2"]
        del self.names["live"]
        self.names["alias"] = "f"
        # ...a legitimate name made after them shows: by then every host
        # has applied the rogue's keys too (one watcher, in order).
        self.chan(A, "marker")
        self.same_names()
        # live's stream is alias's on both hosts, and no other name
        # shares it.
        for name, h in self.hosts.items():
            self.assertEqual(self.ident(h("att", "alias")), live,
                             "live's stream on %s" % name)
            for n, kind in self.tree(h).items():
                if kind == "f" and n != "alias":
                    self.assertNotEqual(self.ident(h("att", n)), live,
                                        "%s shares live's stream on %s"
                                        % (n, name))
        # Deleting the rogue's own keys (not the victims') changes
        # nothing either.
        for k in list(bad_keys) + ["att.alias", "att.sub.alias2",
                                   "att.zz_last"]:
            rogue.kv_del(NAMES, k)
        # With the alias gone, live's own key is the first again.
        del self.names["alias"]
        self.names["live"] = "f"
        self.chan(A, "marker2")
        self.same_names()
        for name, h in self.hosts.items():
            self.assertEqual(self.ident(h("att", "live")), live,
                             "live's stream on %s" % name)
        self.check_traffic(t)
        self.after()

    def test_names_modes(self):
        """Modes from the network: no set-user-ID, and no set-group-ID
        on a channel.  The rogue puts a channel's key with mode 6777 and
        directories' keys with modes 3777 and 7777 (valid values, as a
        host would put them).  Both hosts show the channel with mode
        0777, and both directories with 3777: set-group-ID and sticky
        stay on a directory, set-user-ID goes."""
        rogue = self.rogue()
        want = {
            "suid_chan": ("f %016x bytes queue 4096 6777 0 0" %
                          random.getrandbits(64), stat.S_IFREG | 0o777),
            "sgid_dir": ("d 3777 0 0", stat.S_IFDIR | 0o3777),
            "suid_dir": ("d 7777 0 0", stat.S_IFDIR | 0o3777),
        }
        for name, (value, mode) in want.items():
            got = rogue.kv_put(NAMES, "att." + name, value)
            self.assertTrue(got and "seq" in got, "the rogue's put of "
                            "att.%s: %r" % (name, got))
            self.names[name] = "d" if stat.S_ISDIR(mode) else "f"
        self.same_names()
        wrong = []
        for hn, h in self.hosts.items():
            for name, (value, mode) in want.items():
                m = os.stat(h("att", name)).st_mode
                if m != mode:
                    wrong.append("att/%s on %s has mode %o, not %o (value "
                                 "%r)" % (name, hn, m, mode, value))
        self.assertEqual(wrong, [], "modes from the network")
        self.after()

    # -- 1. the hosts bucket --

    def test_hosts_bucket(self):
        """Presence the rogue keeps up, then deletes or lets time out.
        Today presence_count sums every host's lines in unsigned ints
        and takes any count sscanf's %u takes ("-1" is 2^32-1)."""
        A, B = self.A, self.B
        for n in ("eof", "wrap", "epipe", "glued", "sentinel"):
            self.chan(A, n)
        ids = {n: self.ident(A("att", n)).encode()
               for n in ("eof", "wrap", "epipe", "glued", "sentinel",
                         "live")}
        t = self.traffic()
        r_eof = self.reader(B, "eof")
        r_wrap = self.reader(B, "wrap")
        r_epipe = self.reader(B, "epipe")
        w_eof = self.writer(A, "eof")
        w_wrap = self.writer(A, "wrap")
        w_epipe = self.writer(A, "epipe")
        self.until("B counts A's writer of wrap, A counts B's reader of "
                   "epipe", lambda: figures(B("att", "wrap"))[
                       "remote_writers"] == 1 and figures(A(
                           "att", "epipe"))["remote_readers"] == 1)
        rogue = self.rogue()
        hosts = RogueHosts(rogue)
        try:
            self._hosts_attack(rogue, hosts, ids, r_eof, r_wrap, r_epipe,
                               w_eof, w_wrap, w_epipe)
        finally:
            hosts.close()
        self.check_traffic(t)
        self.after()

    def _hosts_attack(self, rogue, hosts, ids, r_eof, r_wrap, r_epipe,
                      w_eof, w_wrap, w_epipe):
        A, B = self.A, self.B

        def unknown():
            return b"%016x" % random.getrandbits(64)
        # Garbage, unknown ids, absurd counts, an id glued to a count.
        absurd = b"".join([
            unknown() + b" 4294967295 4294967295\n",
            unknown() + b" 18446744073709551616 1\n",
            unknown() + b" -1 -1\n",
            b"garbage\n", b"\n", b" \n", b"0 0 0\n", b"\x00\xff 1 1\n",
            ids["glued"] + b"7 0 1\n",           # "<id>7", not "<id> 7"
            ids["glued"] + b" 1\n",              # a count missing
            ids["glued"] + b"\n",
        ])
        hosts.put("rogue-absurd", absurd)
        # Claims on live channels.  2^32-1 writers more than A's one
        # would make 0 in 32 bits: B would take wrap for ended.  -1
        # readers more than B's one would make 0: A's writer of epipe
        # would get EPIPE.
        hosts.put("rogue-wrap", ids["wrap"] + b" 0 4294967295\n")
        hosts.put("rogue-epipe", ids["epipe"] + b" -1 0\n")
        # eof: claimed writers, deleted or left to time out later.
        hosts.put("rogue-eof-del", ids["eof"] + b" 0 1\n")
        hosts.put("rogue-eof-ttl1", ids["eof"] +
                  b" 4294967295 4294967295\n" + ids["eof"] +
                  b" 18446744073709551616 18446744073709551616\n")
        hosts.put("rogue-eof-ttl2", ids["eof"] + b" 2147483648 2147483648\n"
                  + ids["eof"] + b" 2147483648 2147483648\n")
        # Last: a plain claim of one reader of sentinel.  Once both hosts
        # count it, they have taken all the rogue's keys before it.
        hosts.put("rogue-sentinel", ids["sentinel"] + b" 1 0\n")
        self.until("both hosts count the rogue's reader of sentinel",
                   lambda: all(figures(h("att", "sentinel"))[
                       "remote_readers"] == 1 for h in (A, B)))
        self.answers("A", "after the rogue's presence keys")
        self.answers("B", "after the rogue's presence keys")
        # Counts that are wrong go in problems, and the test goes on to
        # what they do to the channels.
        problems = []
        fw = figures(B("att", "wrap"))
        if fw["remote_writers"] == 0:
            problems.append("B counts no writer of wrap on other hosts "
                            "while A has one open (A's 1 plus the rogue's "
                            "4294967295 wrapped to 0)")
        fe = figures(A("att", "epipe"))
        if fe["remote_readers"] == 0:
            problems.append("A counts no reader of epipe on other hosts "
                            "while B has one open (B's 1 plus the rogue's "
                            "-1 made 0)")
        for name, h in self.hosts.items():
            fg = figures(h("att", "glued"))
            if (fg["remote_readers"], fg["remote_writers"]) != (0, 0):
                problems.append("%s counts %d readers and %d writers of "
                                "glued from the lines '<id>7 0 1', '<id> "
                                "1', '<id>'" % (name, fg["remote_readers"],
                                                fg["remote_writers"]))
        self.problems = problems
        # The channels work as they should meanwhile.
        self.assertEqual(self.wrote(w_epipe, b"e1\n"), "wrote 3",
                         "A's write to epipe, which B reads; %r"
                         % problems)
        self.until("B's reader of epipe gets e1",
                   lambda: r_epipe.data() == b"e1\n" or
                   not r_epipe.running())
        self.assertEqual(r_epipe.reads(), [b"e1\n"])
        self.assertEqual(self.wrote(w_wrap, b"w1\n"), "wrote 3")
        self.until("B's reader of wrap gets w1",
                   lambda: r_wrap.data() == b"w1\n" or
                   not r_wrap.running())
        self.assertEqual(r_wrap.reads(), [b"w1\n"],
                         "B's reader of wrap (no end of file while A "
                         "has a writer); %r" % problems)
        # The rogue goes: some keys deleted, the others left to time out.
        self.assertEqual(self.wrote(w_eof, b"eofdata\n"), "wrote 8")
        w_eof.say("close")
        w_wrap.say("close")
        hosts.drop("rogue-wrap")
        hosts.drop("rogue-eof-del")
        hosts.drop("rogue-epipe")
        for k in ("rogue-absurd", "rogue-eof-ttl1", "rogue-eof-ttl2",
                  "rogue-sentinel"):
            hosts.stop(k)
        for r, want in ((r_eof, b"eofdata\n"), (r_wrap, b"w1\n")):
            self.until("%r gets end of file once the rogue's claims are "
                       "gone" % (r,), lambda: not r.running(),
                       WAIT + 3 * TIMEOUT)
            self.assertEqual(r.lines()[-1:], ["eof"], r.stderr())
            self.assertEqual(r.data(), want)
        # EPIPE: B's reader goes; A's writer must be told.
        r_epipe.proc.kill()

        def epipe():
            time.sleep(0.2)         # a write a poll is plenty
            got = self.wrote(w_epipe, b"x")
            if got not in ("wrote 1", "err EPIPE"):
                self.fail("a write to epipe: %s" % got)
            return got == "err EPIPE"
        self.until("A's writer of epipe gets EPIPE once B's reader is gone",
                   epipe, WAIT + 3 * TIMEOUT)
        for name, h in self.hosts.items():
            self.until("%s counts no rogue host's opens any more" % name,
                       lambda: figures(h("att", "sentinel"))[
                           "remote_readers"] == 0, WAIT + 3 * TIMEOUT)
        self.assertEqual(problems, [], "counts of other hosts' opens")


    def test_hosts_bucket_big(self):
        """Presence values of 1 MiB and of 20,000 lines, kept up as a
        host does.  Today each bucket event parses every host's value
        with sscanf, which takes the length of the rest of the string
        each time: quadratic, and both loops stop answering."""
        A, B = self.A, self.B
        self.chan(A, "sentinel")
        sentinel = self.ident(A("att", "sentinel")).encode()
        t = self.traffic()
        rogue = self.rogue()
        hosts = RogueHosts(rogue)
        try:
            line = b"%016x 1 1\n" % random.getrandbits(64)
            hosts.put("rogue-big", line * (1048576 // len(line)))
            hosts.put("rogue-lines", b"".join(
                b"%016x %d %d\n" % (random.getrandbits(64), i, i)
                for i in range(20000)))
            hosts.put("rogue-sentinel", sentinel + b" 1 0\n")
            self.until("both hosts count the rogue's reader of sentinel",
                       lambda: all(figures(h("att", "sentinel"))[
                           "remote_readers"] == 1 for h in (A, B)))
            self.check_traffic(t)
            self.after()
        finally:
            hosts.close()


    # -- 1. the streams of live channels --

    def test_stream_subjects(self):
        """Malformed messages published straight into two channels'
        streams: on the wire a message is a byte P, P zero bytes, then
        the data (docs/bridge.md), so each of these can only come from
        someone else than a host.  Readers on B must get only what A
        wrote, whole, once."""
        A, B = self.A, self.B
        self.chan(A, "bytes2")
        t = self.traffic()
        rogue = self.rogue()
        malformed = [
            b"\xffpad past the end",        # P = 255 > length - 1
            b"\x05\x00\x00",                # P = 5, 2 bytes follow
            b"\x01",                        # P = 1, nothing follows
            b"\x03XYZpad not zeros",        # the pad is not zeros
            b"\x02\x00",                    # P = 2, 1 byte follows
            b"",                            # empty: no P at all
        ]
        readers = {}
        for name in ("msgs", "bytes2"):
            readers[name] = self.reader(B, name)
            subj = self.subject(A("att", name))
            for i, m in enumerate(malformed):
                for hdrs in (None, {"Nats-Msg-Id": "rogue.%s.%d" % (
                        name, i)}):
                    got = rogue.request(subj, m, headers=hdrs)
                    self.assertIsNotNone(got, "no answer from %s's stream"
                                         % name)
                    self.assertIn(b'"seq"', got[1], "%s's stream did not "
                                  "store %r: %r" % (name, m, got))
        self.answers("A", "after malformed messages")
        self.answers("B", "after malformed messages")
        for name, data in (("msgs", b"legit message"),
                           ("bytes2", b"legit bytes\n")):
            w = self.writer(A, name)
            self.assertEqual(self.wrote(w, data), "wrote %d" % len(data))
            r = readers[name]
            self.until("B's reader of %s gets what A wrote" % name,
                       lambda: data in r.data() or not r.running())
            w.say("close")
            self.until("B's reader of %s ends" % name,
                       lambda: not r.running(), WAIT * 2)
            # A message channel's reads are its messages; a byte
            # channel's may be cut anywhere.
            got = r.reads() if name == "msgs" else [r.data()] + [
                x for x in r.reads() if isinstance(x, str)]
            self.assertEqual(got, [data, "eof"], "the reads of B's reader "
                             "of %s (A wrote only %r): %r" % (
                                 name, data, r.reads()))
        self.check_traffic(t)
        self.after()

    # -- finding 1: a message larger than the channel --

    def test_oversize_message(self):
        """4,800 bytes (a zero pad byte, then 4,799 of data: well formed)
        published into the stream of a message channel of capacity
        4096, queue and broadcast, while a reader on B waits.  The
        stream takes it: its limit is capacity + 1 KiB.  No ring can
        hold it.  Today B's queue channel acknowledges it, fails to push
        it, and goes round on_acked -> bchan_queue -> on_acked in one
        bridge_flush, sending a freed notice each time: B stops
        answering.  B must go on, and deliver what A writes next; the
        oversized message may be dropped or fail a read, never be
        handed out as data."""
        A, B = self.A, self.B
        self.chan(A, "bmsgs", framing="messages", capacity=4096,
                  delivery="broadcast")
        readers = {n: self.reader(B, n) for n in ("msgs", "bmsgs")}
        rogue = self.rogue()
        big = b"\x00" + b"O" * 4799
        for name in readers:
            subj = self.subject(A("att", name))
            got = rogue.request(subj, big,
                                headers={"Nats-Msg-Id": "rogue.big." + name})
            self.assertIsNotNone(got, "no answer from %s's stream" % name)
            self.assertIn(b'"seq"', got[1], "%s's stream did not store "
                          "4,800 bytes: %r" % (name, got))
        # B fetches it at once, for its waiting readers.
        for _ in range(3):
            self.answers("B", "after a message larger than the channel")
            time.sleep(0.5)
        self.answers("A", "after a message larger than the channel")
        for name, r in readers.items():
            data = b"legit after the big one"
            w = self.writer(A, name)
            self.assertEqual(self.wrote(w, data), "wrote %d" % len(data))
            self.until("B's reader of %s gets what A wrote" % name,
                       lambda: data in r.data() or not r.running())
            w.say("close")
            self.until("B's reader of %s ends" % name,
                       lambda: not r.running(), WAIT * 2)
            reads = [x for x in r.reads() if not (
                isinstance(x, str) and x.startswith("err "))]
            self.assertEqual(reads, [data, "eof"], "the reads of B's "
                             "reader of %s: %r" % (name, r.reads()))
        self.after()

    # -- 1. the freed subject and the daemons' inboxes --

    def test_freed_and_inboxes(self):
        """Tens of thousands of freed notices while records go from A to
        B, then garbage and forged statuses on every inbox subscription
        of the daemons: kinds p, f, a and others, channel numbers 1 to
        12, sequences 0 to 3 and absurd ones.  Nothing that would pass
        for a success is forged (a puback, an acknowledgement's answer):
        anyone who can publish there can fake those, by design."""
        A, B = self.A, self.B
        t = self.traffic(count=200)
        rogue = self.rogue()
        freed = "_ipcfs.%s.freed" % NS
        ids = [self.ident(A("att", n)).encode()
               for n in ("live", "msgs", "wait")]
        bodies = ids + [b"%016x" % random.getrandbits(64), b"", b"x",
                        b"0" * 15, b"0" * 17, ids[0] + b"\n", b"\xff" * 16,
                        b"*" * 16, b"." * 16]
        batch = b"".join(rogue.wire(freed, b) for b in bodies)
        for _ in range(30000 // len(bodies)):
            rogue.send(batch)
        for size in (4096, 65536, 1000000):
            rogue.publish(freed, b"f" * size)
        rogue.flush()
        self.answers("A", "after the freed flood")
        self.answers("B", "after the freed flood")
        self.check_traffic(t)
        # The daemons' inboxes, as the server's monitor lists them.
        status, connz = self.server.monitor("/connz?subs=1")
        self.assertEqual(status, 200, connz)
        subs = []
        for c in connz.get("connections", []):
            if c.get("name") in (A.id, B.id):
                subs += [x for x in c.get("subscriptions_list", [])
                         if x.startswith("_ipcfs.%s.inbox." % NS)]
        self.assertTrue(subs, "no inbox subscription of the daemons in "
                        "/connz: %r" % connz)
        sent = 0
        for sub in subs:
            base = sub.rsplit(".", 1)[0]
            tails = ["%s.%d.%d" % (k, n, q) for k in "pfax"
                     for n in range(1, 13) for q in (0, 1, 2, 3)]
            tails += ["p", "f.", "a..", "x.y.z", "p.x.y",
                      "f.18446744073709551615.18446744073709551615",
                      "f.99999999999999999999999.1", "a.1.-1",
                      "p.1.99999999999999999999999"]
            tails += [str(n) for n in range(1, 40)] + \
                ["%x" % random.getrandbits(64) for _ in range(20)]
            out = []
            for tail in tails:
                subj = base + "." + tail
                out.append(rogue.wire(subj, b"garbage"))
                out.append(rogue.wire(subj, b""))
                out.append(rogue.wire(subj, b'{"error":{"code":503,'
                                      b'"err_code":10077}}'))
                for st in ("404", "408", "409", "503", "100", "x"):
                    out.append(rogue.wire(subj, b"", headers={
                        "Status": st}))
                out.append(rogue.wire(subj, b"\x00" * 100,
                                      reply="$JS.ACK.x.y.1.1.1.1.1"))
                sent += 11
            rogue.send(b"".join(out))
        rogue.flush()
        print("\nforged %d messages on %d inbox subscriptions" % (
            sent, len(subs)), file=sys.stderr)
        self.answers("A", "after forged answers")
        self.answers("B", "after forged answers")
        self.after()

    # -- finding 1, second way in: regions use up max_memory --

    def test_full_memory(self):
        """Both daemons run with -o max_memory=64M.  On B two local
        channels' regions are grown (truncate) until they take all of
        it: 1 GiB does not fit (ENOSPC), so the second is grown to the
        largest size that does.  A reader on B waits on a bridged
        channel whose ring is empty (so it has no room at all), and A
        writes.  Today B acknowledges the message, cannot push it, and
        spins as in test_oversize_message.  B must keep answering, and
        deliver the message once the regions are truncated to 0."""
        A, B = self.A, self.B
        self.chan(A, "q")
        r = self.reader(B, "q")
        r1, r2 = B("local", "r1"), B("local", "r2")
        for p in (r1, r2):
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o666))
        with self.assertRaises(OSError) as cm:
            os.truncate(r1, 1 << 30)
        self.assertIn(cm.exception.errno, (errno.ENOSPC, errno.EFBIG))
        os.truncate(r1, 32 << 20)
        lo, hi = 0, 64 << 20
        while lo < hi:
            mid = (lo + hi + 1) // 2
            try:
                os.truncate(r2, mid)
                lo = mid
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
                hi = mid - 1
        os.truncate(r2, lo)
        with self.assertRaises(OSError) as cm:
            os.truncate(r2, lo + 1)
        self.assertEqual(cm.exception.errno, errno.ENOSPC,
                         "max_memory is used up")
        print("\nregions of %d and %d bytes use up max_memory on B" % (
            32 << 20, lo), file=sys.stderr)
        w = self.writer(A, "q")
        self.assertEqual(self.wrote(w, b"through full memory\n"),
                         "wrote 20")
        for _ in range(3):
            self.answers("B", "while its regions use up max_memory and a "
                         "message for its reader comes")
            time.sleep(0.5)
        for p in (r1, r2):
            os.truncate(p, 0)
        self.until("B's reader gets the message once the regions are "
                   "released", lambda: r.data() or not r.running())
        w.say("close")
        self.until("B's reader ends", lambda: not r.running(), WAIT * 2)
        self.assertEqual(r.reads(), [b"through full memory\n", "eof"])
        self.after()

    # -- finding 5: long names --

    def test_long_names(self):
        """Nested directories named 255 dots under att, each dot "=2E"
        in the key: five of them and a file of 80 spaces make a key of
        4,074 bytes, and "$KV.ipcfs_names." before it, with an inbox
        after it, is more than the server's 4,096-byte control line.
        Today the server closes the connection at that publish, libnats
        connects again, the worker sends the same put again, and the
        host is disconnected for good: nothing it does later reaches the
        cluster.  Each mkdir and create must either work and show on B,
        or fail with ENAMETOOLONG; a rename to a name whose key would be
        4,089 bytes fails with ENAMETOOLONG."""
        A, B = self.A, self.B
        dots = "." * 255
        parts = []
        refused = None              # the shortest key refused
        for depth in range(1, 6):
            p = A("att", *parts, dots)
            try:
                os.mkdir(p, 0o755)
            except OSError as e:
                self.assertEqual(e.errno, errno.ENAMETOOLONG,
                                 "mkdir at depth %d: %s" % (depth, e))
                refused = len(self.key(*parts, dots))
                break
            parts.append(dots)
            self.names["/".join(parts)] = "d"
            self.shows(B("att", *parts))
        if refused is None:
            name = " " * 80
            try:
                os.close(os.open(A("att", *parts, name),
                                 os.O_CREAT | os.O_WRONLY, 0o666))
            except OSError as e:
                self.assertEqual(e.errno, errno.ENAMETOOLONG,
                                 "create: %s" % e)
                refused = len(self.key(*parts, name))
            else:
                self.names["/".join(parts + [name])] = "f"
                self.shows(B("att", *parts, name))
        print("\nlong names: %d directories of 255 dots made, the shortest "
              "key refused %s bytes" % (len(parts), refused),
              file=sys.stderr)
        # A rename, in the deepest directory where a channel "c" can be
        # made, to a name whose key would be 4,089 bytes or, higher up,
        # as long as the shortest key refused.
        while True:
            try:
                self.chan(A, *parts, "c")
                break
            except OSError as e:
                self.assertEqual(e.errno, errno.ENAMETOOLONG,
                                 "create c: %s" % e)
                self.names.pop("/".join(parts + ["c"]), None)
                refused = min(refused or 4096, len(self.key(*parts, "c")))
                parts.pop()
        n = min(255, (4089 - len(self.key(*parts)) - 1) // 3)
        new = self.key(*parts, "." * n)
        if len(new) >= 4089 or (refused is not None and
                                len(new) >= refused):
            with self.assertRaises(OSError) as cm:
                os.rename(A("att", *parts, "c"), A("att", *parts, "." * n))
            self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG,
                             "a rename to a name whose key has %d bytes"
                             % len(new))
            self.assertTrue(self.exists(A("att", *parts, "c")))
        else:
            print("long names: no rename too long to try", file=sys.stderr)
        self.after()

    @staticmethod
    def key(*names):
        """The key of att/names."""
        return ".".join(escape(n) for n in ("att",) + names)

    # -- finding 6: deep trees --

    def nest(self, h, top, depth):
        """depth nested directories "a" under top on h (through directory
        descriptors: the path grows long); how many were made."""
        fd = os.open(h(top), os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(depth):
                os.mkdir("a", 0o755, dir_fd=fd)
                nfd = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = nfd
        finally:
            os.close(fd)
        return depth

    def deep(self, h, top, depth):
        """True if h has top/a/a/.../a, depth a's deep (and nothing
        deeper)."""
        p = h(top, *["a"] * depth)
        try:
            return stat.S_ISDIR(os.stat(p).st_mode) and os.listdir(p) == []
        except (FileNotFoundError, NotADirectoryError):
            return False

    def deepest(self, h, top):
        """How deep the chain top/a/a/... goes on h."""
        n, p = 0, h(top)
        while True:
            try:
                if "a" not in os.listdir(p):
                    return n
            except OSError:
                return n
            n += 1
            p = os.path.join(p, "a")

    def test_deep_rename(self):
        """1,200 nested directories "a" in att on A, then att/a renamed to
        att/b.  Today bridge_renaming -> move_add recurses once a level
        with two 4 KiB keys on the stack: the stack overflows and A
        dies.  The rename must either work, and B show att/b 1,200 deep
        (and no att/a), or fail with ENAMETOOLONG, and B show att/a."""
        A, B = self.A, self.B
        depth = 1200
        self.nest(A, "att", depth)
        try:
            os.rename(A("att", "a"), A("att", "b"))
            top = "b"
        except OSError as e:
            if e.errno != errno.ENAMETOOLONG:
                self.answers("A", "renaming a 1,200-deep tree (%s)" % e)
            self.assertEqual(e.errno, errno.ENAMETOOLONG,
                             "rename of a 1,200-deep tree: %s" % e)
            top = "a"
        self.answers("A", "after renaming a 1,200-deep tree")
        self.answers("B", "after A renamed a 1,200-deep tree")
        self.assertTrue(self.deep(A, os.path.join("att", top), depth - 1))
        self.until("B shows att/%s with the 1,200-deep tree (deepest now "
                   "att/%s + %s)" % (top, top, "?"), lambda: self.deep(
                       B, os.path.join("att", top), depth - 1), WAIT * 2)
        # The old keys go once the new ones are all put.
        self.until("B no longer shows att/%s" % ("b" if top == "a" else "a"),
                   lambda: not self.exists(B("att", "b" if top == "a"
                                             else "a")), WAIT * 2)
        p = top
        for _ in range(depth):
            self.names[p] = "d"
            p += "/a"
        self.after()

    def test_deep_tree_bridged_later(self):
        """A makes a tree 1,200 deep in d, bridged; the rogue puts 1,201
        valid directory keys d2, d2.a, d2.a.a, ... (each as a host would).
        Then B, which had neither, makes d and d2 and bridges them: the
        cluster's names are applied at once (today apply_under ->
        bridge_apply -> apply_under ..., once a level, with a 4 KiB key
        on the stack each time, and past 128 levels a walk of every name
        for each).  B must not crash, must keep answering, and must show
        both trees whole."""
        A, B = self.A, self.B
        depth = 1200
        os.mkdir(A("d"), 0o755)
        natstest.mark(A("d"))
        self.nest(A, "d", depth)
        deepest = "d." + ".".join(["a"] * depth)
        try:
            self.until("the key of A's deepest directory is in the bucket",
                       lambda: kv_get(self.server.url, NAMES, deepest)
                       is not None, WAIT)
        except AssertionError:
            print("\nA has not shared d 1,200 deep: the names bucket has "
                  "%d keys" % kv_keys(self.server.url, NAMES),
                  file=sys.stderr)
        rogue = self.rogue()
        key = "d2"
        # A bridged top has a key of its own (issue 20), d2 first.
        out = [rogue.wire("$KV.%s.%s" % (NAMES, key), b"d 755 0 0")]
        for i in range(depth):
            key += ".a"
            out.append(rogue.wire("$KV.%s.%s" % (NAMES, key), b"d 755 0 0"))
        rogue.send(b"".join(out))
        rogue.flush()
        self.until("the rogue's deepest key is in the bucket",
                   lambda: kv_get(self.server.url, NAMES, key) is not None)
        for top in ("d", "d2"):
            os.mkdir(B(top), 0o755)
            try:
                os.setxattr(B(top), BRIDGE, b"nats")
            except OSError as e:
                if e.errno not in (errno.ECONNABORTED, errno.ENOTCONN):
                    raise
                self.fail("bridging %s on B: the daemon is gone (%s)%s" % (
                    top, e, self.logs()))
            self.answers("B", "after bridging %s, which the cluster has "
                         "1,200 deep" % top)
        for top in ("d", "d2"):
            self.until("B shows %s 1,200 deep (it has %d levels)" % (
                top, self.deepest(B, top)),
                lambda: self.deep(B, top, depth))
        self.answers("A", "after B bridged the deep trees")
        self.after()

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2:])
    else:
        unittest.main()
