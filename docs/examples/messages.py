"""A message queue and a broadcast channel from Python.
Usage: python3 messages.py [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
"""
import errno
import os
import sys

os.chdir(sys.argv[1] if len(sys.argv) > 1 else "/mnt/ipc")

# A message queue: each os.write() is one message, each os.read() one whole.
open("jobs", "x").close()
os.setxattr("jobs", "user.ipcfs.framing", b"messages")
q = os.open("jobs", os.O_RDWR)
for job in (b"resize a.png", b"resize b.png", b"x" * 5000):
    os.write(q, job)
print(os.read(q, 65536), os.read(q, 65536))
try:
    os.read(q, 100)                 # too small for the 5000-byte message
except OSError as e:
    print(errno.errorcode[e.errno], "and it stays queued:",
          len(os.read(q, 65536)), "bytes")
os.close(q)
os.unlink("jobs")

# Broadcast: every subscriber gets every message, in order.
os.mkdir("news")
os.setxattr("news", "user.ipcfs.delivery", b"broadcast")
os.setxattr("news", "user.ipcfs.framing", b"messages")
open("news/feed", "x").close()
subscribers = [os.open("news/feed", os.O_RDONLY) for _ in range(3)]
with open("news/feed", "wb", buffering=0) as feed:
    for word in (b"sunny", b"windy", b"rain"):
        feed.write(word)
for i, fd in enumerate(subscribers):
    got = []
    while message := os.read(fd, 65536):    # b"" at the end: no writer
        got.append(message.decode())
    print("subscriber", i, "got", got)
    os.close(fd)
os.unlink("news/feed")
os.rmdir("news")
