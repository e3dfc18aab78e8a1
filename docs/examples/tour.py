#!/usr/bin/env python3
"""The ipcfs tour in Python: one process writes, another reads, with
plain open, write and read.  Usage: tour.py [DIR]  (/mnt/ipc by default)"""

import os
import sys

folder = sys.argv[1] if len(sys.argv) > 1 else "/mnt/ipc"
path = os.path.join(folder, "tour-py")
open(path, "w").close()                 # create the channel, like touch

if os.fork() == 0:                      # the child writes three lines
    with open(path, "wb", buffering=0) as w:
        for i in range(3):
            w.write(b"line %d\n" % i)   # one write each: never split
    os._exit(0)                         # the last writer is gone: EOF

with open(path, "rb") as r:             # the parent reads
    for line in r:                      # waits for data, stops at EOF
        print("got", line.decode().rstrip())
os.wait()
os.unlink(path)
