#!/usr/bin/env python3
"""A region labelled with its array type, opened as a numpy array by name.
Usage: python3 labels.py [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
"""
import os
import sys

try:
    import numpy as np
except ModuleNotFoundError:
    sys.exit(f"labels.py: needs numpy, which {sys.executable} cannot "
             "import (Debian's python3-numpy is for /usr/bin/python3; "
             "pip install numpy for another)")


def open_array(path, mode="r+"):
    """The region of a labelled channel as a numpy array."""
    dtype = np.dtype(os.getxattr(path, "user.dtype").decode())
    shape = tuple(int(n) for n in
                  os.getxattr(path, "user.shape").decode().split(","))
    return np.memmap(path, dtype=dtype, mode=mode, shape=shape)


os.chdir(sys.argv[1] if len(sys.argv) > 1 else "/mnt/ipc")

# The producer sizes the region and labels it.
with open("frame", "w"):
    pass
os.truncate("frame", 512 * 512 * 4)
os.setxattr("frame", "user.dtype", b"float32")
os.setxattr("frame", "user.shape", b"512,512")
a = open_array("frame")
a[:] = 1.5

# Anyone else opens it by name, with no other agreement.
b = open_array("frame", "r")
print(b.dtype, b.shape, float(b[511, 511]))
del a, b
os.unlink("frame")
