"""The semaphore recipe (docs/semantics.md, "A counting semaphore"), under
load: 16 waiters, each with its own open taking 50 posts one byte at a
time, and 4 posters making 800 posts between them.  Every post wakes
exactly one waiter: every waiter gets its 50, and none is left over.
Nothing is timed; the joins are bounded only as hang guards."""

import os
import select
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

WAITERS, EACH, POSTERS = 16, 50, 4
GUARD = 120


class Semaphore(ipcfs_test.MountedTestCase):

    def run_semaphore(self, name, flags=0):
        p = self.mnt(name)
        sem = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
        got = [0] * WAITERS
        bad = []

        def waiter(i):
            fd = os.open(p, os.O_RDONLY | flags)
            try:
                while got[i] < EACH:
                    if flags & os.O_NONBLOCK:
                        select.select([fd], [], [], GUARD)
                        try:
                            b = os.read(fd, 1)
                        except BlockingIOError:
                            continue
                    else:
                        b = os.read(fd, 1)
                    if b != b"x":
                        bad.append(b)
                        return
                    got[i] += 1
            finally:
                os.close(fd)

        def poster():
            for _ in range(WAITERS * EACH // POSTERS):
                os.write(sem, b"x")

        threads = [threading.Thread(target=waiter, args=(i,), daemon=True)
                   for i in range(WAITERS)]
        threads += [threading.Thread(target=poster, daemon=True)
                    for _ in range(POSTERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(GUARD)
        self.assertFalse(any(t.is_alive() for t in threads),
                         f"still waiting: {got}")
        self.assertEqual(bad, [])
        self.assertEqual(got, [EACH] * WAITERS)
        # Nothing left over: no post waits.
        poller = select.poll()
        poller.register(sem, select.POLLIN)
        self.assertEqual(poller.poll(0), [])
        os.close(sem)
        os.unlink(p)

    def test_blocking_waiters(self):
        self.run_semaphore("sem")

    def test_polling_waiters(self):
        """Waiters that poll, then read without blocking: a post may be
        taken by another first, which is EAGAIN, never a lost post."""
        self.run_semaphore("sem2", os.O_NONBLOCK)


class SemaphoreOff(Semaphore):

    options = ("-o", "region=off")


if __name__ == "__main__":
    unittest.main(verbosity=2)
