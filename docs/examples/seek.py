"""Python's buffered files read ahead and seek back; a channel keeps up.
Usage: python3 seek.py [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
"""
import os
import sys

os.chdir(sys.argv[1] if len(sys.argv) > 1 else "/mnt/ipc")

with open("jobs", "w") as f:        # a writer: its lines wait in the channel
    f.write("job 1\njob 2\njob 3\n")

# A text reader: each line once, in order, then end of file.
with open("jobs") as f:
    print([line.strip() for line in f])

# "r+b" reads ahead 8 KiB, and seeks back over what readline() did not use
# before it writes; the bytes it read ahead come back after the write.
with open("jobs", "w") as f:
    f.write("job 4\njob 5\n")
with open("jobs", "r+b") as f:
    print(f.readline())             # b'job 4\n'
    f.write(b"done 4\n")            # into the stream, after job 5
    f.flush()
    print(f.readline())             # b'job 5\n', not lost
    print(f.readline())             # b'done 4\n': this open's own write
os.unlink("jobs")
