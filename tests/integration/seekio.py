#!/usr/bin/env python3
"""seekio: the Python side of test_seek.sh.  Each command does one thing to
a channel and prints one line per step, flushed at once, so that a step
that hangs (and is killed by the caller's time limit) leaves a transcript
of what came before it.  Errors print as their errno name.

usage: seekio.py COMMAND ARGS...

    stream PATH N        write the first N bytes of the stream pattern
    region PATH SIZE     set the region size (making PATH if need be);
                         where the mount maps, fill it through mmap with
                         the region pattern
    drain PATH           a new non-blocking open reads until EAGAIN or
                         end of file; says what it got
    show FILE            says what an ordinary file holds
    sendfile PATH N      one os.sendfile() of N bytes into a scratch file
    splice PATH N        one os.splice() of N bytes into a pipe
    cfr PATH DEST N      one os.copy_file_range() of N bytes into DEST
    copyfile PATH OUT    shutil.copyfile(PATH, OUT); says what OUT holds
    copylive PATH OUT    shutil.copyfile while PATH has a writer and a
                         reader open: the writer goes on writing after it
    rplus PATH           readline, write, flush, readline, readline, read1
                         through one open(PATH, "r+b") (BufferedRandom)
    lines PATH N [live]  text-mode "for line in open(PATH)" must get the
                         lines 1..N; with live, a child writes them (one
                         write each) while the loop runs, and then closes

"What it got" is told by content: "N bytes of the stream" (a prefix of the
stream pattern), "N bytes of the region" (a prefix of the region pattern),
"N zero bytes", or the first bytes of anything else.  The two patterns
never look alike, so a stream byte delivered as region data shows.
"""

import errno
import mmap
import os
import shutil
import sys
import tempfile

# The stream pattern: numbered 8-byte lines "0000000\n", "0000001\n"...
STREAM = b"".join(b"%07d\n" % i for i in range(20000))
# The region pattern: bytes that never form a line of digits.
REGION = bytes((i * 7 + 3) % 251 | 0x80 for i in range(1 << 16))


def out(*args):
    print(*args, flush=True)


def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def describe(data):
    n = len(data)
    if n == 0:
        return "0 bytes"
    if data == STREAM[:n]:
        return "%d bytes of the stream" % n
    if data == REGION[:n]:
        return "%d bytes of the region" % n
    if data.count(0) == n:
        return "%d zero bytes" % n
    return "%d other bytes, starting %r" % (n, data[:16])


def maps(path):
    """Whether the mount of path maps regions (region=off does not)."""
    mode = os.getxattr(path, "user.ipcfs.region").decode()
    return mode != "off"


def drain_fd(fd):
    data = b""
    while True:
        try:
            b = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not b:
            return data
        data += b


def stream(path, n):
    # No O_TRUNC: in page-cache mode it would drop the region's pages.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        out("stream:", os.write(fd, STREAM[:int(n)]))
    finally:
        os.close(fd)


def region(path, size):
    size = int(size)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, size)
        if not maps(path):
            out("region:", size)
            return
        with mmap.mmap(fd, size) as m:
            m[:] = REGION[:size]
    finally:
        os.close(fd)
    out("region:", size, "filled through mmap")


def drain(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        out("drain:", describe(drain_fd(fd)))
    finally:
        os.close(fd)


def show(path):
    with open(path, "rb") as f:
        out("show:", describe(f.read()))


def sendfile(path, n):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with tempfile.TemporaryFile() as t:
            try:
                got = os.sendfile(t.fileno(), fd, None, int(n))
            except OSError as e:
                out("sendfile:", err(e))
                return
            t.seek(0)
            out("sendfile: %d," % got, describe(t.read()))
    finally:
        os.close(fd)


def splice(path, n):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    r, w = os.pipe()
    try:
        try:
            got = os.splice(fd, w, int(n))
        except OSError as e:
            out("splice:", err(e))
            return
        data = os.read(r, 65536) if got else b""
        out("splice: %d," % got, describe(data))
    finally:
        for x in (fd, r, w):
            os.close(x)


def cfr(path, dest, n):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    dfd = os.open(dest, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        try:
            out("copy_file_range:", os.copy_file_range(fd, dfd, int(n)))
        except OSError as e:
            out("copy_file_range:", err(e))
    finally:
        os.close(fd)
        os.close(dfd)


def copyfile(path, dest):
    shutil.copyfile(path, dest)
    with open(dest, "rb") as f:
        out("copyfile:", describe(f.read()))


def copylive(path, dest):
    # A reader that stays, so that rule 5 gives the writer no EPIPE once
    # copyfile's own open has gone; then a writer with data in the stream.
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path, os.O_WRONLY)
    out("write:", os.write(w, STREAM[:10000]))
    copyfile(path, dest)
    try:
        out("write after copyfile:", os.write(w, STREAM[10000:12000]))
    except OSError as e:
        out("write after copyfile:", err(e))
    os.close(w)
    out("reader:", describe(drain_fd(r)))
    os.close(r)


def rplus(path):
    with open(path, "r+b") as f:
        out("readline:", f.readline())
        out("write:", f.write(b"X\n"))
        f.flush()
        out("flush: ok")
        out("readline:", f.readline())
        out("readline:", f.readline())
        # The write went into the stream like any other: it comes next.
        out("read1:", f.read1(100))


def lines(path, n, live=None):
    n = int(n)
    want = ["%d\n" % i for i in range(1, n + 1)]
    with open(path) as f:
        pid = 0
        if live:
            pid = os.fork()
            if pid == 0:
                fd = os.open(path, os.O_WRONLY)
                for line in want:
                    os.write(fd, line.encode())
                os._exit(0)
        got = [line for line in f]
        if pid:
            os.waitpid(pid, 0)
    if got == want:
        out("lines: %d, in order" % len(got))
    else:
        bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                   min(len(got), len(want)))
        out("lines: %d, wrong from line %d: %r" %
            (len(got), bad + 1, got[bad:bad + 3]))


COMMANDS = {
    "stream": stream, "region": region, "drain": drain, "show": show,
    "sendfile": sendfile, "splice": splice, "cfr": cfr,
    "copyfile": copyfile, "copylive": copylive, "rplus": rplus,
    "lines": lines,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except OSError as e:
        out("%s: %s" % (sys.argv[1], err(e)))
        sys.exit(1)
