"""A counting semaphore from a channel: os.write of one byte posts, a
blocking os.read of one byte waits for a post; poll tells if one waits.
Usage: python3 semaphore.py [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
"""
import os
import select
import sys
import threading

os.chdir(sys.argv[1] if len(sys.argv) > 1 else "/mnt/ipc")
sem = os.open("sem", os.O_RDWR | os.O_CREAT, 0o600)


def post():
    os.write(sem, b"x")


def wait():
    fd = os.open("sem", os.O_RDONLY)    # each waiter its own open
    os.read(fd, 1)
    os.close(fd)


got = []
waiters = [threading.Thread(target=lambda i=i: (wait(), got.append(i)))
           for i in range(8)]
for t in waiters:
    t.start()
for _ in range(8):
    post()
for t in waiters:
    t.join()
print("posts taken:", len(got))
p = select.poll()
p.register(sem, select.POLLIN)
print("a post waits:", bool(p.poll(0)))
post()
print("a post waits:", bool(p.poll(0)))
os.close(sem)
os.unlink("sem")
