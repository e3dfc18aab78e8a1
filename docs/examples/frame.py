#!/usr/bin/env python3
"""frame.py: the Python side of frame.c, sharing a 512x512 float32 frame
through an ipcfs channel's region, with the channel's stream as the doorbell.

    frame.py [--memmap] [DIR]

Waits for a ring on DIR/frame (DIR defaults to /mnt/ipc), adds 1.0 in place
to every value of the frame mapped from DIR/frame, and rings back on
DIR/frame.done.  The frame is viewed with numpy.frombuffer over mmap.mmap,
or with numpy.memmap given --memmap; either way nothing is copied.

Mapping DIR/frame needs it open for writing, so this side is itself a
writer of DIR/frame and, as with a pipe whose write end one still holds,
never sees end of file there.  It learns that frame.c has gone from
DIR/frame.done instead: once its only reader has closed, poll reports an
error there.  Then it says so, removes DIR/frame and DIR/frame.done (unless
frame.c has already) and exits cleanly.
"""

import mmap
import os
import select
import sys

try:
    import numpy
except ModuleNotFoundError:
    sys.exit(f"frame.py: needs numpy, which {sys.executable} cannot "
             "import (Debian's python3-numpy is for /usr/bin/python3; "
             "pip install numpy for another)")

SIDE = 512
BYTES = SIDE * SIDE * 4


def view(path, use_memmap):
    """The frame in the channel's region, as a 512x512 float32 array."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    os.ftruncate(fd, BYTES)         # frame.c does the same; both agree
    if use_memmap:
        os.close(fd)
        return numpy.memmap(path, dtype=numpy.float32, mode="r+",
                            shape=(SIDE, SIDE))
    region = mmap.mmap(fd, BYTES)
    os.close(fd)
    return numpy.frombuffer(region, dtype=numpy.float32).reshape(SIDE, SIDE)


def main():
    args = sys.argv[1:]
    use_memmap = "--memmap" in args
    args = [a for a in args if a != "--memmap"]
    if len(args) > 1:
        sys.exit("usage: frame.py [--memmap] [DIR]")
    directory = args[0] if args else "/mnt/ipc"
    path = os.path.join(directory, "frame")

    bell = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    done = os.open(path + ".done", os.O_WRONLY | os.O_CREAT, 0o666)
    frame = view(path, use_memmap)

    poller = select.poll()
    poller.register(bell, select.POLLIN)
    poller.register(done, 0)        # errors are always reported
    frames = 0
    while True:
        ready = dict(poller.poll())
        if ready.get(done, 0) & select.POLLERR:
            break
        if not os.read(bell, 64):   # end of file: no writer left
            break
        frame += 1.0                # in place, in the shared region
        try:
            os.write(done, b"!")
        except BrokenPipeError:
            break
        frames += 1
    print(f"frame.py: {frames} frames, the C side has gone")
    for name in (path, path + ".done"):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        sys.exit(f"frame.py: {e}")
