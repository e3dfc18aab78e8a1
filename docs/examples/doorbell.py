#!/usr/bin/env python3
"""The doorbell pattern, Python side: wait for the ring on DIR/frame, add
1.0 to the frame in its region in place, ring back on DIR/frame.done.
Usage: doorbell.py [DIR]  (an ipcfs mount, /mnt/ipc by default)"""

import mmap
import os
import sys

try:
    import numpy as np
except ModuleNotFoundError:
    sys.exit(f"doorbell.py: needs numpy, which {sys.executable} cannot "
             "import (Debian's python3-numpy is for /usr/bin/python3; "
             "pip install numpy for another)")

d = sys.argv[1] if len(sys.argv) > 1 else "/mnt/ipc"
bell = os.open(f"{d}/frame", os.O_RDONLY | os.O_CREAT, 0o644)
done = os.open(f"{d}/frame.done", os.O_WRONLY | os.O_CREAT, 0o644)

while os.read(bell, 1):                  # the ring; b"" once the C side left
    with open(f"{d}/frame", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        frame = np.frombuffer(m, dtype=np.float32)
        frame += 1.0                     # in the shared region: no copy
        del frame                        # let go of m before it closes
    os.write(done, b"!")                 # ring back

for name in ("frame", "frame.done"):     # unless the C side removed them
    try:
        os.unlink(f"{d}/{name}")
    except FileNotFoundError:
        pass
