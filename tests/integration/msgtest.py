"""Shared by test_messages.py and test_broadcast.py (issue 11, framing and
delivery; docs/modes.md): numbered, checksummed messages that a reader can
verify on its own, the worker processes that write and read them, and
helpers to watch calls held in the daemon.

Run as a program, this file is a worker, each its own process with its
own open of the channel:

    msgtest.py writer PATH WRITER COUNT LARGEST [nonblock]
        write COUNT messages of writer WRITER, sizes from sizes(); print
        "wrote COUNT"; with nonblock, wait for room with poll and retry
        on EAGAIN, and fail on a short write
    msgtest.py reader PATH BUFSIZE [STOP]
        read one message per read(2) of BUFSIZE until end of file, check
        each on its own, print one JSON list of [writer, seq, size] (seq
        is -1 - seq % 32 for a message too small for a header); with STOP,
        print "stopped" after STOP messages and then wait to be killed
    msgtest.py bytes PATH SEED
        read the byte stream with reads of random sizes until end of file;
        print its length and sha256
"""

import errno
import hashlib
import json
import os
import random
import select
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

GUARD = 60          # seconds; a hang guard, never a measurement
FRAMING = "user.ipcfs.framing"
DELIVERY = "user.ipcfs.delivery"
CAPACITY = "user.ipcfs.capacity"
STATS = "user.ipcfs.stats"
PY = "/usr/bin/python3"
ME = os.path.abspath(__file__)

# A message of HDR.size bytes or more starts with MAGIC | writer, its
# sequence number, its size and the CRC-32 of the rest.  A smaller one is
# byte 0 = writer << 5 | seq % 32, then bytes made from those and its size.
HDR = struct.Struct("<IIII")
MAGIC = 0x6d736700


figures = ipcfs_test.figures


def sizes(writer, count, largest):
    """The sizes of writer's messages: 1 to largest, with the edges often."""
    rng = random.Random(f"sizes {writer} {count} {largest}")
    out = []
    for _ in range(count):
        x = rng.random()
        if x < 0.08:
            out.append(rng.randint(1, min(largest, HDR.size - 1)))
        elif x < 0.14:
            out.append(largest)
        elif x < 0.18:
            out.append(rng.choice((1, largest - 1, 4096, 4097)))
        else:
            out.append(rng.randint(1, largest))
    return [min(max(s, 1), largest) for s in out]


def body(writer, seq, n):
    seed = hashlib.sha256(f"{writer}.{seq}".encode()).digest()
    return (seed * (n // len(seed) + 1))[:n]


def small(writer, low, n):
    return bytes([(writer << 5) | low]) + bytes(
        (writer * 131 + low * 31 + n * 17 + i * 7) & 255 for i in range(1, n))


def message(writer, seq, size):
    if size < HDR.size:
        return small(writer, seq % 32, size)
    b = body(writer, seq, size - HDR.size)
    return HDR.pack(MAGIC | writer, seq, size, zlib.crc32(b)) + b


def identify(msg):
    """[writer, seq, size] of a message, checked whole; seq is -1 - seq % 32
    for a small one.  ValueError if it is not one message as sent."""
    n = len(msg)
    if n == 0:
        raise ValueError("an empty message")
    if n < HDR.size:
        w, low = msg[0] >> 5, msg[0] & 31
        if msg != small(w, low, n):
            raise ValueError(f"a damaged small message of {n} bytes: "
                             f"{msg.hex()}")
        return [w, -1 - low, n]
    magic, seq, size, crc = HDR.unpack_from(msg)
    if magic & ~0xff != MAGIC:
        raise ValueError(f"no header in a message of {n} bytes: "
                         f"{msg[:32].hex()}")
    w = magic & 0xff
    if size != n:
        raise ValueError(f"message {w}.{seq} of {size} bytes came as {n}")
    if zlib.crc32(msg[HDR.size:]) != crc:
        raise ValueError(f"message {w}.{seq} of {n} bytes: bad checksum")
    return [w, seq, n]


def key(writer, seq, size):
    """What identify() says of message (writer, seq, size)."""
    if size < HDR.size:
        return [writer, -1 - seq % 32, size]
    return [writer, seq, size]


def is_power_of_two(n):
    return n > 0 and n & (n - 1) == 0


# --- watching calls held in the daemon -------------------------------------

def task_dir(tid):
    if os.path.isdir(f"/proc/self/task/{tid}"):
        return f"/proc/self/task/{tid}"
    return f"/proc/{tid}"


def task_state(tid):
    """Field 3 of /proc/TID/stat and the wait channel; (None, None) once
    the task is gone (or a zombie)."""
    d = task_dir(tid)
    try:
        with open(d + "/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(d + "/wchan") as f:
            wchan = f.read().strip()
    except OSError:
        return None, None
    if state in ("Z", "X"):
        return None, None
    return state, wchan


def in_fuse_request(tid, wchan):
    if "wait_answer" in wchan or "fuse" in wchan:
        return True
    try:
        with open(task_dir(tid) + "/stack") as f:
            return "fuse" in f.read()
    except OSError:
        if wchan in ("", "0"):
            raise AssertionError(f"cannot see where task {tid} sleeps")
        return False


def wait_asleep(tid):
    """Wait until tid sleeps in a FUSE request; its state letter."""
    deadline = time.monotonic() + GUARD
    state = wchan = None
    while time.monotonic() < deadline:
        state, wchan = task_state(tid)
        if state is None:
            raise AssertionError(f"task {tid} ended instead of blocking")
        if state in ("S", "D") and in_fuse_request(tid, wchan):
            return state
        time.sleep(0.01)
    raise AssertionError(f"task {tid} never blocked ({state}, {wchan})")


def wait_for(what, fn, want):
    """Wait until fn() == want, or fail saying what."""
    deadline = time.monotonic() + GUARD
    got = fn()
    while got != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never became {want!r}: {got!r}")
        time.sleep(0.01)
        got = fn()


class Call(threading.Thread):
    """fn(*args) in a thread of its own; keeps the result or the error."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None
        self.start()

    def run(self):
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:      # noqa: B902 - handed to outcome()
            self.error = e

    def blocked(self):
        """Wait until the call sleeps in ipcfs; true if it has not ended."""
        wait_asleep(self.native_id)
        return self.is_alive()

    def outcome(self):
        self.join(GUARD)
        if self.is_alive():
            raise AssertionError(f"{self.fn.__name__} hung")
        if self.error is not None:
            raise self.error
        return self.result


def revents(fd, events):
    """The events poll reports for fd now, of the usual four."""
    p = select.poll()
    p.register(fd, events)
    got = p.poll(0)
    mask = select.POLLIN | select.POLLOUT | select.POLLHUP | select.POLLERR
    return got[0][1] & mask if got else 0


def poll_until(fd, events):
    """Wait (with the hang guard) for one of events; what poll reports."""
    p = select.poll()
    p.register(fd, events)
    got = p.poll(GUARD * 1000)
    if not got:
        raise AssertionError(f"poll for {events:#x} timed out")
    mask = select.POLLIN | select.POLLOUT | select.POLLHUP | select.POLLERR
    return got[0][1] & mask


# --- a mount, and channels with settings ----------------------------------

HangGuard = ipcfs_test.HangGuard


class ChannelCase(ipcfs_test.GuardedTestCase):
    """A default mount, and helpers that always clean up."""

    guard = GUARD * 2

    def chan(self, framing="messages", capacity=None, delivery=None):
        """A new channel no other test uses, with these settings."""
        self.count += 1
        p = self.mnt(f"{self._testMethodName}.{self.count}")
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
        self.addCleanup(os.unlink, p)
        if capacity is not None:
            os.setxattr(p, CAPACITY, str(capacity).encode())
        if framing is not None:
            os.setxattr(p, FRAMING, framing.encode())
        if delivery is not None:
            os.setxattr(p, DELIVERY, delivery.encode())
        return p

    def open(self, path, flags):
        fd = os.open(path, flags)
        self.fds.add(fd)
        return fd

    def spawn(self, *argv, text=True):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=text,
                             env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.procs.append(p)
        return p

    def finish(self, p):
        """Wait for p to end; its exit status, stdout, stderr."""
        try:
            out, err = p.communicate(timeout=GUARD * 2)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail(f"{p.args} hung; stderr: {err}")
        return p.returncode, out, err

    def errno_of(self, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        return errno.errorcode[cm.exception.errno]

    def assertEmpty(self, path, fd):
        """Nothing is left: no message in the figures, EAGAIN to a
        non-blocking read (fd is an open for reading)."""
        st = figures(path)
        self.assertEqual((st["buffered_bytes"], st["buffered_messages"]),
                         (0, 0), st)
        os.set_blocking(fd, False)
        self.assertEqual(self.errno_of(os.read, fd, 1 << 20), "EAGAIN")
        os.set_blocking(fd, True)


# --- the workers -------------------------------------------------------------

def run_writer(path, writer, count, largest, nonblock):
    flags = os.O_WRONLY | (os.O_NONBLOCK if nonblock else 0)
    fd = os.open(path, flags)
    for seq, size in enumerate(sizes(writer, count, largest)):
        msg = message(writer, seq, size)
        while True:
            try:
                n = os.write(fd, msg)
            except BlockingIOError:
                # POLLOUT says 4096 bytes fit, not that this message does.
                poll_until(fd, select.POLLOUT)
                if size > 4096:
                    time.sleep(0.002)
                continue
            break
        if n != size:
            sys.exit(f"writer {writer}: message {seq} of {size} bytes: "
                     f"write returned {n}")
    os.close(fd)
    print(f"wrote {count}", flush=True)


def run_reader(path, bufsize, stop):
    fd = os.open(path, os.O_RDONLY)
    got = []
    while True:
        if stop is not None and len(got) == stop:
            print("stopped", flush=True)
            while True:
                time.sleep(3600)
        msg = os.read(fd, bufsize)
        if not msg:
            break
        try:
            got.append(identify(msg))
        except ValueError as e:
            sys.exit(f"reader: message {len(got)}: {e}")
    print(json.dumps(got), flush=True)


def run_bytes(path, seed):
    rng = random.Random(seed)
    fd = os.open(path, os.O_RDONLY)
    h = hashlib.sha256()
    total = 0
    while True:
        data = os.read(fd, rng.randint(1, 16384))
        if not data:
            break
        h.update(data)
        total += len(data)
    print(total, h.hexdigest(), flush=True)


def main(argv):
    what, path = argv[1], argv[2]
    if what == "writer":
        run_writer(path, int(argv[3]), int(argv[4]), int(argv[5]),
                   len(argv) > 6 and argv[6] == "nonblock")
    elif what == "reader":
        run_reader(path, int(argv[3]), int(argv[4]) if len(argv) > 4
                   else None)
    elif what == "bytes":
        run_bytes(path, argv[3])
    else:
        sys.exit(f"msgtest.py: no worker '{what}'")


if __name__ == "__main__":
    main(sys.argv)
