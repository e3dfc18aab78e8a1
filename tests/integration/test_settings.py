"""Per-channel settings and the owner's attributes, as extended
attributes (issue 11, docs/modes.md "Settings"): user.ipcfs.capacity,
user.ipcfs.framing and user.ipcfs.delivery on channels and directories,
with inheritance and the mount options that set the root's; EINVAL and
EBUSY; any other user.* attribute kept within its limits and counted
against max_memory; and the same from the shell's setfattr/getfattr."""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ipcfs_test  # noqa: E402

CAP = "user.ipcfs.capacity"
FRAMING = "user.ipcfs.framing"
DELIVERY = "user.ipcfs.delivery"
NOTSUP = errno.errorcode[errno.EOPNOTSUPP]     # Python names it ENOTSUP
GUARD = 30


figures = ipcfs_test.figures


def stat(mount, key):
    return figures(mount.path)[key]


class Settings(ipcfs_test.MountedTestCase):

    options = ("-o", "capacity=16K")

    def errno_of(self, fn, *args):
        with self.assertRaises(OSError) as cm:
            fn(*args)
        return errno.errorcode[cm.exception.errno]

    def chan(self, name):
        p = self.mnt(name)
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
        self.addCleanup(os.unlink, p)
        return p

    def test_capacity_from_the_mount_and_directories(self):
        self.assertEqual(os.getxattr(self.mnt.path, CAP), b"16384")
        self.assertEqual(os.getxattr(self.chan("c"), CAP), b"16384")
        d = self.mnt("d")
        os.mkdir(d)
        self.addCleanup(os.rmdir, d)
        os.setxattr(d, CAP, b"1M")
        self.assertEqual(os.getxattr(self.chan("d/c"), CAP), b"1048576")
        os.mkdir(self.mnt("d/e"))
        self.addCleanup(os.rmdir, self.mnt("d/e"))
        self.assertEqual(os.getxattr(self.mnt("d/e"), CAP), b"1048576")
        # A directory's later change is for names made after it.
        os.setxattr(d, CAP, b"8K")
        self.assertEqual(os.getxattr(self.mnt("d/c"), CAP), b"1048576")
        self.assertEqual(os.getxattr(self.chan("d/f"), CAP), b"8192")

    def test_capacity_bounds_the_buffer(self):
        p = self.chan("bound")
        os.setxattr(p, CAP, b"8192")
        w = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
        r = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(os.write(w, b"x" * 20000), 8192)
            self.assertEqual(self.errno_of(os.setxattr, p, CAP, b"4096"),
                             "EBUSY")
            # More room: a writer waiting for it goes on.
            os.set_blocking(w, True)
            t = threading.Thread(target=os.write, args=(w, b"y" * 4096),
                                 daemon=True)
            t.start()
            os.setxattr(p, CAP, b"12K")
            t.join(GUARD)
            self.assertFalse(t.is_alive(), "the writer still waits")
            self.assertEqual(len(os.read(r, 65536)), 8192 + 4096)
        finally:
            os.close(w)
            os.close(r)

    def test_block_size_follows_capacity_on_every_inode(self):
        # A writer's open may leave the channel's name on a new inode of
        # the kernel's; a capacity set through the name must still reach
        # what fstat() of the older open says.
        p = self.chan("blk")
        os.setxattr(p, "user.ipcfs.framing", b"messages")
        w = os.open(p, os.O_WRONLY)
        try:
            self.assertEqual(os.fstat(w).st_blksize, 16384)
            os.setxattr(p, CAP, b"64K")
            self.assertEqual(os.stat(p).st_blksize, 65536)
            self.assertEqual(os.fstat(w).st_blksize, 65536)
        finally:
            os.close(w)

    def test_bad_values(self):
        p = self.chan("bad")
        for v in (b"", b"1", b"100M", b"lots", b"64K64"):
            self.assertEqual(self.errno_of(os.setxattr, p, CAP, v),
                             "EINVAL", v)
        for name, v in ((FRAMING, b"lines"), (FRAMING, b"Messages"),
                        (FRAMING, b"queue"), (FRAMING, b""),
                        (FRAMING, b"messages\n\n"), (FRAMING, b" bytes"),
                        (FRAMING, b"messages\0"), (DELIVERY, b"fanout"),
                        (DELIVERY, b"bytes"), (DELIVERY, b"broadcast "),
                        (DELIVERY, b"")):
            self.assertEqual(self.errno_of(os.setxattr, p, name, v),
                             "EINVAL", (name, v))
        self.assertEqual(os.getxattr(p, FRAMING), b"bytes")
        self.assertEqual(os.getxattr(p, DELIVERY), b"queue")
        os.setxattr(p, FRAMING, b"bytes")
        os.setxattr(p, DELIVERY, b"queue")
        self.assertEqual(os.getxattr(p, FRAMING), b"bytes")
        self.assertEqual(os.getxattr(p, DELIVERY), b"queue")
        for name in ("user.ipcfs.region", "user.ipcfs.stats"):
            self.assertEqual(self.errno_of(os.setxattr, p, name, b"x"),
                             "EPERM")
        self.assertEqual(self.errno_of(os.setxattr, p, "user.ipcfs.other",
                                       b"x"), "EINVAL")
        self.assertEqual(self.errno_of(os.removexattr, p, CAP), "EPERM")
        self.assertEqual(self.errno_of(os.setxattr, p, "trusted.x", b"1"),
                         NOTSUP)

    def test_framing_and_delivery(self):
        p = self.chan("modes")
        self.assertEqual((os.getxattr(p, FRAMING), os.getxattr(p, DELIVERY)),
                         (b"bytes", b"queue"))
        os.setxattr(p, FRAMING, b"messages")
        os.setxattr(p, DELIVERY, b"broadcast")
        self.assertEqual((os.getxattr(p, FRAMING), os.getxattr(p, DELIVERY)),
                         (b"messages", b"broadcast"))
        st = figures(p)
        self.assertEqual((st["framing"], st["delivery"], st["max_message"]),
                         ("messages", "broadcast", 16384))
        # One newline may end a value (echo messages | ...).
        os.setxattr(p, FRAMING, b"bytes\n")
        os.setxattr(p, DELIVERY, b"queue\n")
        self.assertEqual((os.getxattr(p, FRAMING), os.getxattr(p, DELIVERY)),
                         (b"bytes", b"queue"))
        st = figures(p)
        self.assertEqual((st["framing"], st["delivery"], st["max_message"]),
                         ("bytes", "queue", 4096))
        os.setxattr(p, FRAMING, b"messages\n")
        self.assertEqual(os.getxattr(p, FRAMING), b"messages")
        # They take effect: one message per read.
        w = os.open(p, os.O_WRONLY)
        r = os.open(p, os.O_RDONLY)
        try:
            os.write(w, b"one")
            os.write(w, b"two")
            self.assertEqual(os.read(r, 100), b"one")
            self.assertEqual(os.read(r, 100), b"two")
        finally:
            os.close(w)
            os.close(r)

    def test_busy(self):
        p = self.chan("busy")
        for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
            fd = os.open(p, flags)
            try:
                for name, v in ((FRAMING, b"messages"),
                                (DELIVERY, b"broadcast")):
                    self.assertEqual(self.errno_of(os.setxattr, p, name, v),
                                     "EBUSY", (flags, name))
                # The value it has already: always fine.
                os.setxattr(p, FRAMING, b"bytes")
                os.setxattr(p, DELIVERY, b"queue\n")
                # A bad value is EINVAL still.
                self.assertEqual(self.errno_of(os.setxattr, p, FRAMING,
                                               b"nonsense"), "EINVAL")
            finally:
                os.close(fd)
        # Closed, but holding data.
        fd = os.open(p, os.O_WRONLY)
        os.write(fd, b"held")
        os.close(fd)
        self.assertEqual(figures(p)["buffered_bytes"], 4)
        for name, v in ((FRAMING, b"messages"), (DELIVERY, b"broadcast")):
            self.assertEqual(self.errno_of(os.setxattr, p, name, v),
                             "EBUSY", name)
        os.setxattr(p, FRAMING, b"bytes")
        fd = os.open(p, os.O_RDONLY)
        self.assertEqual(os.read(fd, 100), b"held")
        os.close(fd)
        # Idle again: both change, and back, and an open one keeps them.
        os.setxattr(p, FRAMING, b"messages")
        os.setxattr(p, DELIVERY, b"broadcast")
        fd = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(self.errno_of(os.setxattr, p, FRAMING,
                                           b"bytes"), "EBUSY")
            self.assertEqual(self.errno_of(os.setxattr, p, DELIVERY,
                                           b"queue"), "EBUSY")
            os.setxattr(p, FRAMING, b"messages")
            os.setxattr(p, DELIVERY, b"broadcast")
        finally:
            os.close(fd)
        self.assertEqual((os.getxattr(p, FRAMING), os.getxattr(p, DELIVERY)),
                         (b"messages", b"broadcast"))
        os.setxattr(p, FRAMING, b"bytes")
        os.setxattr(p, DELIVERY, b"queue")

    def test_modes_from_directories(self):
        d = self.mnt("md")
        os.mkdir(d)
        self.addCleanup(os.rmdir, d)
        old = self.chan("md/old")
        os.mkdir(self.mnt("md/olddir"))
        self.addCleanup(os.rmdir, self.mnt("md/olddir"))
        # A directory's settings, even while a channel in it is open.
        fd = os.open(old, os.O_RDWR)
        try:
            os.setxattr(d, FRAMING, b"messages")
            os.setxattr(d, DELIVERY, b"broadcast\n")
        finally:
            os.close(fd)
        self.assertEqual((os.getxattr(d, FRAMING), os.getxattr(d, DELIVERY)),
                         (b"messages", b"broadcast"))
        for name in (FRAMING, DELIVERY):
            self.assertIn(name, os.listxattr(d))
        # Names made before keep theirs.
        for q in (old, self.mnt("md/olddir")):
            self.assertEqual((os.getxattr(q, FRAMING),
                              os.getxattr(q, DELIVERY)), (b"bytes", b"queue"))
        self.assertEqual(figures(old)["framing"], "bytes")
        # Names made after take them; a new directory passes them on.
        new = self.chan("md/new")
        self.assertEqual((os.getxattr(new, FRAMING),
                          os.getxattr(new, DELIVERY)),
                         (b"messages", b"broadcast"))
        st = figures(new)
        self.assertEqual((st["framing"], st["delivery"]),
                         ("messages", "broadcast"))
        sub = self.mnt("md/sub")
        os.mkdir(sub)
        self.addCleanup(os.rmdir, sub)
        self.assertEqual((os.getxattr(sub, FRAMING),
                          os.getxattr(sub, DELIVERY)),
                         (b"messages", b"broadcast"))
        deep = self.chan("md/sub/deep")
        self.assertEqual((os.getxattr(deep, FRAMING),
                          os.getxattr(deep, DELIVERY)),
                         (b"messages", b"broadcast"))
        self.assertEqual(os.getxattr(self.chan("md/olddir/c"), FRAMING),
                         b"bytes")
        # A later change of the directory is for names made after it.
        os.setxattr(d, FRAMING, b"bytes")
        self.assertEqual(os.getxattr(new, FRAMING), b"messages")
        self.assertEqual(os.getxattr(self.chan("md/later"), FRAMING),
                         b"bytes")
        self.assertEqual(os.getxattr(self.chan("md/later2"), DELIVERY),
                         b"broadcast")
        # The root keeps the mount's.
        self.assertEqual((os.getxattr(self.mnt.path, FRAMING),
                          os.getxattr(self.mnt.path, DELIVERY)),
                         (b"bytes", b"queue"))
        self.assertEqual(os.getxattr(self.chan("rootchan"), FRAMING),
                         b"bytes")

    def test_user_attributes(self):
        p = self.chan("labels")
        base = stat(self.mnt, "xattr_bytes")
        os.setxattr(p, "user.dtype", b"float32")
        os.setxattr(p, "user.shape", b"512,512")
        self.assertEqual(os.getxattr(p, "user.dtype"), b"float32")
        names = os.listxattr(p)
        for n in ("user.dtype", "user.shape", CAP, "user.ipcfs.framing",
                  "user.ipcfs.delivery", "user.ipcfs.region",
                  "user.ipcfs.stats"):
            self.assertIn(n, names)
        self.assertGreater(stat(self.mnt, "xattr_bytes"), base)
        os.removexattr(p, "user.dtype")
        self.assertEqual(self.errno_of(os.getxattr, p, "user.dtype"),
                         "ENODATA")
        self.assertEqual(self.errno_of(os.setxattr, p, "user.shape", b"1",
                                       os.XATTR_CREATE), "EEXIST")
        # 64 KiB of names and values for one name in all.
        os.setxattr(p, "user.a", b"x" * 60000)
        self.assertEqual(self.errno_of(os.setxattr, p, "user.b",
                                       b"x" * 6000), "ENOSPC")
        # They go with the channel, once the kernel forgets it (a
        # FORGET the kernel sends when it drops the inode, which on a
        # busy machine comes a little after the unlink: a hang guard).
        os.unlink(p)
        deadline = time.monotonic() + GUARD
        while (stat(self.mnt, "xattr_bytes") != base and
               time.monotonic() < deadline):
            time.sleep(0.02)
        self.assertEqual(stat(self.mnt, "xattr_bytes"), base)
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))

    def test_shell(self):
        p = self.chan("sh")
        subprocess.run(["setfattr", "-n", "user.dtype", "-v", "uint8", p],
                       check=True, timeout=GUARD)
        subprocess.run(["setfattr", "-n", CAP, "-v", "32K", p], check=True,
                       timeout=GUARD)
        out = subprocess.run(["getfattr", "-n", "user.dtype",
                              "--only-values", p], capture_output=True,
                             text=True, check=True, timeout=GUARD)
        self.assertEqual(out.stdout, "uint8")
        out = subprocess.run(["getfattr", "-n", CAP, "--only-values", p],
                             capture_output=True, text=True, check=True,
                             timeout=GUARD)
        self.assertEqual(out.stdout, "32768")
        # setfattr sends the value as given; with a newline at its end.
        subprocess.run(["setfattr", "-n", FRAMING, "-v", "messages\n", p],
                       check=True, timeout=GUARD)
        out = subprocess.run(["getfattr", "-d", "-m", "-", p],
                             capture_output=True, text=True, check=True,
                             timeout=GUARD)
        self.assertIn('user.ipcfs.framing="messages"\n', out.stdout)
        self.assertIn('user.ipcfs.delivery="queue"\n', out.stdout)
        out = subprocess.run(["setfattr", "-n", DELIVERY, "-v", "radio", p],
                             capture_output=True, text=True, timeout=GUARD)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Invalid argument", out.stderr)


class MountOptions(unittest.TestCase):
    """framing= and delivery= set the root's, as capacity= does."""

    def test_root_and_new_names_take_them(self):
        m = ipcfs_test.Mount("-o", "framing=messages,delivery=broadcast,"
                             "capacity=8K")
        self.addCleanup(m.close)
        self.assertEqual((os.getxattr(m.path, FRAMING),
                          os.getxattr(m.path, DELIVERY)),
                         (b"messages", b"broadcast"))
        p = m("c")
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
        st = figures(p)
        self.assertEqual((st["framing"], st["delivery"], st["capacity"],
                          st["max_message"]),
                         ("messages", "broadcast", 8192, 8192))
        os.mkdir(m("d"))
        self.assertEqual(os.getxattr(m("d"), DELIVERY), b"broadcast")
        # And they work: two readers get each message.
        a = os.open(p, os.O_RDONLY)
        b = os.open(p, os.O_RDONLY)
        w = os.open(p, os.O_WRONLY)
        try:
            os.write(w, b"hi")
            os.write(w, b"all")
            for fd in (a, b):
                self.assertEqual(os.read(fd, 100), b"hi")
                self.assertEqual(os.read(fd, 100), b"all")
        finally:
            for fd in (a, b, w):
                os.close(fd)
        # The root's can be changed like a directory's.
        os.setxattr(m.path, FRAMING, b"bytes")
        q = m("q")
        os.close(os.open(q, os.O_CREAT | os.O_RDWR, 0o600))
        self.assertEqual((os.getxattr(q, FRAMING), os.getxattr(q, DELIVERY)),
                         (b"bytes", b"broadcast"))

    def test_one_of_them(self):
        m = ipcfs_test.Mount("-o", "delivery=broadcast")
        self.addCleanup(m.close)
        self.assertEqual((os.getxattr(m.path, FRAMING),
                          os.getxattr(m.path, DELIVERY)),
                         (b"bytes", b"broadcast"))

    def test_bad_values_refuse_to_mount(self):
        if not os.path.exists("/dev/fuse"):
            self.skipTest("no /dev/fuse")
        tmp = tempfile.mkdtemp(prefix="ipcfs-test.")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        mp = os.path.join(tmp, "mnt")
        os.mkdir(mp)
        for opt, word in (("framing=lines", "framing"),
                          ("framing=", "framing"),
                          ("framing=Messages", "framing"),
                          ("delivery=fanout", "delivery"),
                          ("delivery=", "delivery"),
                          ("framing=messages,delivery=queues", "delivery")):
            try:
                out = subprocess.run([ipcfs_test.IPCFS, "-f", "-o", opt, mp],
                                     capture_output=True, text=True,
                                     timeout=GUARD)
            finally:
                if ipcfs_test.mounted(mp):
                    subprocess.call(["fusermount3", "-u", "-z", mp])
                    self.fail(f"-o {opt} mounted")
            self.assertEqual(out.returncode, 1, (opt, out.stderr))
            self.assertEqual(out.stdout, "", opt)
            lines = out.stderr.splitlines()
            self.assertEqual(len(lines), 1, (opt, out.stderr))
            self.assertIn(word, lines[0], opt)
            bad = opt.rsplit("=", 1)[1]
            if bad:
                self.assertIn(bad, lines[0], f"-o {opt}: the bad value")


class SizeGrammar(ipcfs_test.MountedTestCase):
    """One grammar for every size (issue 21, part 3), in user.ipcfs.capacity
    and in mount options alike: digits, then K, M or G in either case, then
    B or iB in either case if you like; a value may end in one newline, as
    framing and delivery may.  A refused setting is said in the daemon's
    log, why, at most once a second however fast a caller tries."""

    GOOD = ((b"64K", 65536), (b"64K\n", 65536), (b"65536\n", 65536),
            (b"1M\n", 1 << 20), (b"64KiB", 65536), (b"128kib", 131072),
            (b"128KIB", 131072), (b"2mb", 2 << 20), (b"4096B", 4096),
            (b"8k", 8192), (b"16Kb", 16384))
    BAD = (b"64K\n\n", b" 64K", b"64 K", b"64Ki", b"64KB\n\n", b"k",
           b"64Q", b"0x100", b"-4K", b"64KiBB")

    def test_xattr(self):
        p = self.mnt("sizes")
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
        for v, want in self.GOOD:
            os.setxattr(p, CAP, v)
            self.assertEqual(figures(p)["capacity"], want, v)
        for v in self.BAD:
            with self.assertRaises(OSError, msg=v) as cm:
                os.setxattr(p, CAP, v)
            self.assertEqual(cm.exception.errno, errno.EINVAL, v)

    def test_mount_options(self):
        for v, want in self.GOOD:
            if b"\n" in v:
                continue
            m = ipcfs_test.Mount("-o", "capacity=" + v.decode())
            try:
                self.assertEqual(os.getxattr(m.path, CAP),
                                 str(want).encode(), v)
            finally:
                m.close()

    def test_refusals_are_logged_once_a_second(self):
        p = self.mnt("refused")
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
        for name, v, why in ((CAP, b"lots", "not a size"),
                             (CAP, b"1G", "out of range"),
                             (FRAMING, b"lines", "not bytes or messages"),
                             (DELIVERY, b"fanout", "not queue or broadcast"),
                             ("user.ipcfs.stats", b"x",
                              "the daemon's, read only"),
                             ("user.ipcfs.nope", b"x", "no such setting")):
            self.until_logged(p, name, v, "%s \"%s\" on refused: %s" % (
                name, v.decode(), why))
        before = self.mnt.daemon_log().count("refused")
        # A caller in a loop: a line a second at most, not one a call.
        for i in range(300):
            try:
                os.setxattr(p, CAP, b"lots%d" % i)
            except OSError:
                pass
        lines = self.mnt.daemon_log().count("refused") - before
        self.assertLessEqual(lines, 3, "300 refusals in a loop made %d log "
                             "lines" % lines)

    def until_logged(self, p, name, v, text):
        """Set name to v on p, refused each time, until text is in the
        daemon's log: the log says one refusal a second, so the first
        tries may fall in the second of an earlier one.  A hang guard of
        3 s."""
        deadline = time.monotonic() + 3
        while True:
            with self.assertRaises(OSError):
                os.setxattr(p, name, v)
            if text in self.mnt.daemon_log():
                return
            if time.monotonic() > deadline:
                self.fail("not in the daemon's log: %s\n%s" % (
                    text, self.mnt.daemon_log()[-2000:]))
            time.sleep(0.05)


@unittest.skipUnless(os.geteuid() == 0, "setpriv needs root")
class RefusalsPerUid(ipcfs_test.MountedTestCase):
    """Refusals are logged once a second for each uid (issue 21 review):
    one user setting bad values in a loop neither floods the log nor
    hides another user's refusal, made in the same second, and its next
    line counts what it tried meanwhile."""

    options = ("-o", "allow_other")

    def test_flood_hides_no_one_else(self):
        p = self.mnt("shared")
        os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(p, 0o666)
        flood = ("import os, sys, time\n"
                 "end = time.monotonic() + 3\n"
                 "while time.monotonic() < end:\n"
                 "    try:\n"
                 "        os.setxattr(sys.argv[1], %r, b'junk')\n"
                 "    except OSError:\n"
                 "        pass\n" % CAP)
        proc = subprocess.Popen(["setpriv", "--reuid=65534",
                                 "--regid=65534", "--clear-groups",
                                 sys.executable, "-c", flood, p])
        try:
            deadline = time.monotonic() + 5
            while "uid 65534: " not in self.mnt.daemon_log():
                self.assertLess(time.monotonic(), deadline,
                                "no refusal of uid 65534 logged")
                time.sleep(0.05)
            # Within the flood's second: root's own refusal is said.
            with self.assertRaises(OSError):
                os.setxattr(p, CAP, b"rootsbad")
            self.assertIn('uid 0: setxattr %s "rootsbad"' % CAP,
                          self.mnt.daemon_log())
        finally:
            proc.wait(timeout=30)
        log = self.mnt.daemon_log()
        lines = log.count("uid 65534: ")
        self.assertLessEqual(lines, 5, "a 3 s flood made %d lines" % lines)
        self.assertRegex(log, r"and \d+ more of uid 65534's refused since "
                         r"its last line")


class MemoryBound(unittest.TestCase):

    def test_attributes_count_against_max_memory(self):
        m = ipcfs_test.Mount("-o", "max_memory=64K,capacity=16K")
        self.addCleanup(m.close)
        done = 0
        with self.assertRaises(OSError) as cm:
            for i in range(100):
                p = m(f"c{i}")
                os.close(os.open(p, os.O_CREAT | os.O_RDWR, 0o600))
                os.setxattr(p, "user.v", b"x" * 8000)
                done += 1
        self.assertEqual(cm.exception.errno, errno.ENOSPC)
        self.assertEqual(done, 8)


if __name__ == "__main__":
    unittest.main(verbosity=2)
