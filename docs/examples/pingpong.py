#!/usr/bin/env python3
"""pingpong: request and reply over two ipcfs channels, in plain Python.

    pingpong.py server [DIR]              answer "ping N" with "pong N"
    pingpong.py client [DIR [COUNT]]      send COUNT pings, check every pong

Requests go through DIR/req and replies through DIR/rep (DIR defaults to
/mnt/ipc).  Either side may start first, and either may be the C version
(pingpong.c): they speak the same lines of text.  A read may return less
than a line, or more, so each side keeps what it has read until a newline
arrives.

When one side goes away, whether it finished or was killed, the other sees
end of file on read or EPIPE (BrokenPipeError) on write, says so and exits.
Each side removes req and rep when it ends well; the second finds them
gone.  A run that fails or is killed may leave them behind, with messages
in them: remove them (or use a fresh DIR) before the next one.
"""

import os
import sys


class Lines:
    """Lines read from a file descriptor, however the reads split them."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def next(self):
        """The next line without its newline, or None at end of file."""
        while b"\n" not in self.buf:
            data = os.read(self.fd, 4096)
            if not data:
                if self.buf:
                    sys.exit(f"{prog}: end of file in the middle of a message")
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()


def write_all(fd, text):
    data = text.encode()
    while data:
        data = data[os.write(fd, data):]


def open_chan(directory, name, flags):
    """Open a channel, creating it if it is not there yet."""
    return os.open(os.path.join(directory, name), flags | os.O_CREAT, 0o666)


def remove(directory):
    """Remove the channels, unless the other side has already."""
    for name in ("req", "rep"):
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass


def server(directory):
    """Answer requests until the client closes its end."""
    req = Lines(open_chan(directory, "req", os.O_RDONLY))
    rep = open_chan(directory, "rep", os.O_WRONLY)
    n = 0
    while (line := req.next()) is not None:
        if not line.startswith("ping "):
            sys.exit(f"{prog}: bad request {line!r}")
        try:
            write_all(rep, "pong " + line[5:] + "\n")
        except BrokenPipeError:
            sys.exit(f"{prog}: client closed rep (EPIPE) after {n} requests")
        n += 1
    print(f"{prog}: client closed req (end of file) after {n} requests")


def client(directory, count):
    """Send count requests and check that every reply matches."""
    req = open_chan(directory, "req", os.O_WRONLY)
    rep = Lines(open_chan(directory, "rep", os.O_RDONLY))
    for i in range(1, count + 1):
        try:
            write_all(req, f"ping {i}\n")
        except BrokenPipeError:
            sys.exit(f"{prog}: server closed req (EPIPE) "
                     f"after {i - 1} round trips")
        line = rep.next()
        if line is None:
            sys.exit(f"{prog}: server closed rep (end of file) "
                     f"after {i - 1} round trips")
        if line != f"pong {i}":
            sys.exit(f"{prog}: reply {i}: expected 'pong {i}', got {line!r}")
    print(f"{prog}: {count} round trips, every reply checked")


if __name__ == "__main__":
    args = sys.argv[1:]
    if not 1 <= len(args) <= 3 or args[0] not in ("server", "client"):
        print("usage: pingpong.py server [DIR]\n"
              "       pingpong.py client [DIR [COUNT]]", file=sys.stderr)
        sys.exit(2)
    prog = "pingpong " + args[0]
    directory = args[1] if len(args) > 1 else "/mnt/ipc"
    try:
        if args[0] == "server":
            server(directory)
        else:
            client(directory, int(args[2]) if len(args) > 2 else 1000)
        remove(directory)
    except OSError as e:
        sys.exit(f"{prog}: {e}")
