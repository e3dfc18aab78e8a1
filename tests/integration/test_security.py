"""Security (issue 4): mode bits for a real second uid, allow_other, and
no data crossing from one channel to another or outliving its channel.

The second uid is uid and gid 65534 with no other groups, made by
setpriv(1).  It runs a small Python agent (AGENT below) that performs a
list of operations and reports each one's result or errno name, so every
check is made by a process that really has that uid, against the kernel's
own permission checks (ipcfs mounts with default_permissions always).
"""

import errno
import json
import mmap
import os
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipcfs_test import Mount, MountedTestCase  # noqa: E402

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
UID = 65534
PAGE = mmap.PAGESIZE
HANG = 30       # seconds; only ever a guard against hanging, never a measure

# Runs as uid 65534: argv[1] is a JSON list of operations, each a list
# [name, args...]; prints a JSON list with one result per operation: "ok",
# a value, or the errno name of the failure.
AGENT = r'''
import ctypes, errno, json, os, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
    ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
PROT = {"r": 1, "w": 2, "rw": 3}
MAP = {"shared": 1, "private": 2}
MAP_FAILED = ctypes.c_void_p(-1).value

def flags(how):
    f = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[how.rstrip("n")]
    return f | (os.O_NONBLOCK if how.endswith("n") else 0)

def do_open(path, how):
    os.close(os.open(path, flags(how)))

def do_read(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.read(fd, 4096).decode("latin-1")
    finally:
        os.close(fd)

def do_write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        return os.write(fd, text.encode())
    finally:
        os.close(fd)

def do_create(path, mode):
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))

# Map a page of path, opened as how, with prot and kind; then optionally
# store text at offset 0 and ask mprotect for more.  Returns what the
# mapping holds at offset 0 (8 bytes), or the errno of the first failure.
def do_mmap(path, how, prot, kind, store=None, upgrade=None):
    fd = os.open(path, flags(how))
    try:
        addr = libc.mmap(None, 4096, PROT[prot], MAP[kind], fd, 0)
        if addr in (None, MAP_FAILED):
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            if upgrade is not None and \
                libc.mprotect(addr, 4096, PROT[upgrade]) != 0:
                raise OSError(ctypes.get_errno(), "mprotect")
            if store is not None:
                ctypes.memmove(addr, store.encode(), len(store))
            return ctypes.string_at(addr, 8).decode("latin-1")
        finally:
            libc.munmap(addr, 4096)
    finally:
        os.close(fd)

OPS = {
    "open": do_open, "read": do_read, "write": do_write,
    "create": do_create, "mmap": do_mmap,
    "unlink": os.unlink, "rename": os.rename, "mkdir": os.mkdir,
    "rmdir": os.rmdir, "chmod": os.chmod, "chown": os.chown,
    "truncate": os.truncate,
    "stat": lambda p: oct(os.stat(p).st_mode),
    "listdir": lambda p: sorted(os.listdir(p)),
}

out = []
for op in json.loads(sys.argv[1]):
    try:
        r = OPS[op[0]](*op[1:])
        out.append("ok" if r is None else r)
    except OSError as e:
        out.append(errno.errorcode.get(e.errno, str(e.errno)))
print(json.dumps(out))
'''


def nobody(*ops):
    """Run ops as uid 65534; a list of results, one per op."""
    p = subprocess.run(NOBODY + ["/usr/bin/python3", "-c", AGENT,
                                 json.dumps(ops)],
                       capture_output=True, text=True, timeout=HANG,
                       cwd="/")
    if p.returncode != 0:
        raise AssertionError("agent failed: " + p.stderr)
    return json.loads(p.stdout)


def region_mode(path):
    return os.getxattr(path, "user.ipcfs.region").decode()


@unittest.skipUnless(os.geteuid() == 0, "setpriv needs root")
class SecondUidCase(MountedTestCase):
    """One mount with allow_other, shared by the mode-bit tests."""

    options = ("-o", "allow_other")
    serial = 0

    def name(self, prefix):
        SecondUidCase.serial += 1
        return self.mnt(f"{prefix}{SecondUidCase.serial}")

    def chan(self, mode, uid=0, gid=0, data=None, size=None, d=None):
        """A channel made by root, then given mode and owner."""
        path = os.path.join(d, "c") if d else self.name("c")
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            if data is not None:
                os.write(fd, data)
            if size is not None:
                os.ftruncate(fd, size)
        finally:
            os.close(fd)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        return path

    def dir(self, mode, uid=0, gid=0):
        path = self.name("d")
        os.mkdir(path)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        return path

    def assertNobody(self, ops, expect):
        got = nobody(*ops)
        self.assertEqual(got, expect, "\n".join(
            f"{op!r}: {g!r}, want {e!r}" for op, g, e in
            zip(ops, got, expect) if g != e))


class TestModeBits(SecondUidCase):
    """Read and write, as the mode bits say, for a uid that is not the
    owner's; the owner's and the group's classes come first."""

    def test_default_permissions_is_on(self):
        with open("/proc/mounts") as f:
            line = [ln for ln in f if ln.split()[1] == self.mnt.path][0]
        self.assertIn("default_permissions", line.split()[3].split(","))

    def test_0600_refuses_every_open(self):
        c = self.chan(0o600, data=b"secret")
        self.assertNobody([["open", c, "r"], ["open", c, "w"],
                           ["open", c, "rw"], ["read", c],
                           ["write", c, "x"], ["truncate", c, 0]],
                          ["EACCES"] * 6)

    def test_0644_reads_but_never_writes(self):
        c = self.chan(0o644, data=b"hello")
        self.assertNobody([["read", c], ["open", c, "w"], ["open", c, "rw"],
                           ["write", c, "x"], ["truncate", c, 0]],
                          ["hello", "EACCES", "EACCES", "EACCES", "EACCES"])

    def test_0622_writes_but_never_reads(self):
        c = self.chan(0o622)
        self.assertNobody([["write", c, "from nobody"], ["open", c, "r"],
                           ["open", c, "rw"], ["read", c]],
                          [11, "EACCES", "EACCES", "EACCES"])
        fd = os.open(c, os.O_RDONLY | os.O_NONBLOCK)
        try:
            self.assertEqual(os.read(fd, 100), b"from nobody")
        finally:
            os.close(fd)

    def test_group_class_comes_before_other(self):
        # Group 65534 is nobody's: the group bits (none) apply, not the
        # other bits (read), as for any Unix file.
        c = self.chan(0o604, gid=UID, data=b"x")
        self.assertNobody([["open", c, "r"]], ["EACCES"])
        c = self.chan(0o640, gid=UID, data=b"grp")
        self.assertNobody([["read", c], ["open", c, "w"]],
                          ["grp", "EACCES"])

    def test_owner_class_comes_before_other(self):
        c = self.chan(0o066, uid=UID, data=b"x")
        self.assertNobody([["open", c, "r"], ["open", c, "w"]],
                          ["EACCES", "EACCES"])

    def test_0666_lets_anyone_in(self):
        c = self.chan(0o666, data=b"root")
        self.assertNobody([["read", c], ["write", c, "nobody"]],
                          ["root", 6])

    def test_write_by_another_uid_clears_setid(self):
        # As any Unix file: setuid goes, setgid too where group-execute
        # makes it mean setgid (pjdfstest chmod/12.t).
        for mode, after in ((0o4777, 0o777), (0o2777, 0o777),
                            (0o6777, 0o777), (0o2767, 0o2767)):
            c = self.chan(mode)
            self.assertNobody([["write", c, "x"]], [1])
            self.assertEqual(oct(stat.S_IMODE(os.stat(c).st_mode)),
                             oct(after))

    def test_truncate_and_chown_clear_setid(self):
        c = self.chan(0o6777)
        self.assertNobody([["truncate", c, PAGE]], ["ok"])
        self.assertEqual(stat.S_IMODE(os.stat(c).st_mode), 0o777)
        c = self.chan(0o6777)
        os.chown(c, 1, 1)
        self.assertEqual(stat.S_IMODE(os.stat(c).st_mode), 0o777)

    def test_write_by_root_keeps_setid(self):
        c = self.chan(0o6777)
        fd = os.open(c, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"x")
        os.close(fd)
        self.assertEqual(stat.S_IMODE(os.stat(c).st_mode), 0o6777)

    def test_directory_search_bit(self):
        d = self.dir(0o700)
        c = self.chan(0o666, d=d, data=b"x")
        self.assertNobody([["open", c, "r"], ["stat", c], ["listdir", d]],
                          ["EACCES"] * 3)
        os.chmod(d, 0o711)
        self.assertNobody([["stat", c], ["listdir", d]],
                          [oct(stat.S_IFREG | 0o666), "EACCES"])


class TestMmapPermissions(SecondUidCase):
    """A shared writable mapping needs write permission, any mapping
    needs read permission, and a private one never reaches the region."""

    def setUp(self):
        if region_mode(self.mnt.path) == "off":
            self.skipTest("region=off: no mappings at all")

    def region(self, path):
        with open(path, "rb") as f:
            m = mmap.mmap(f.fileno(), PAGE, prot=mmap.PROT_READ)
            try:
                return m[:8]
            finally:
                m.close()

    def store(self, path, data):
        fd = os.open(path, os.O_RDWR)
        try:
            m = mmap.mmap(fd, PAGE)
            m[:len(data)] = data
            m.close()
        finally:
            os.close(fd)

    def test_0644_maps_for_reading_only(self):
        c = self.chan(0o644, size=PAGE)
        self.store(c, b"rootdata")
        self.assertNobody(
            [["mmap", c, "r", "r", "shared"],
             ["mmap", c, "r", "rw", "shared"],
             ["mmap", c, "r", "w", "shared"],
             ["mmap", c, "rw", "rw", "shared"],
             ["mmap", c, "r", "r", "shared", None, "rw"]],
            ["rootdata", "EACCES", "EACCES", "EACCES", "EACCES"])
        self.assertEqual(self.region(c), b"rootdata")

    def test_private_mapping_never_reaches_the_region(self):
        c = self.chan(0o644, size=PAGE)
        self.store(c, b"rootdata")
        self.assertNobody([["mmap", c, "r", "rw", "private", "NOBODY!!"]],
                          ["NOBODY!!"])
        self.assertEqual(self.region(c), b"rootdata")

    def test_0622_cannot_map_at_all(self):
        # mmap needs a descriptor open for reading, which 0622 denies.
        c = self.chan(0o622, size=PAGE)
        self.assertNobody([["mmap", c, "w", "w", "shared"],
                           ["mmap", c, "w", "r", "shared"],
                           ["mmap", c, "r", "r", "shared"]],
                          ["EACCES", "EACCES", "EACCES"])

    def test_0600_cannot_map(self):
        c = self.chan(0o600, size=PAGE)
        self.assertNobody([["mmap", c, "r", "r", "shared"]], ["EACCES"])

    def test_0666_shares_the_region(self):
        c = self.chan(0o666, size=PAGE)
        self.assertNobody([["mmap", c, "rw", "rw", "shared", "fromnbdy"]],
                          ["fromnbdy"])
        self.assertEqual(self.region(c), b"fromnbdy")


class TestNamespacePermissions(SecondUidCase):
    """unlink, rename, chmod and chown, for a uid that does not own the
    channel or its directory."""

    def test_no_unlink_or_rename_without_directory_write(self):
        d = self.dir(0o755)
        c = self.chan(0o666, d=d)
        self.assertNobody(
            [["unlink", c], ["rename", c, os.path.join(d, "x")],
             ["rename", c, self.mnt("moved-out")],
             ["create", os.path.join(d, "new"), 0o644],
             ["mkdir", os.path.join(d, "sub")]],
            ["EACCES"] * 5)
        self.assertTrue(os.path.exists(c))
        self.assertEqual(os.listdir(d), ["c"])

    def test_no_rename_into_a_closed_directory(self):
        d = self.dir(0o755)
        mine = self.name("mine")
        nobody(["create", mine, 0o644])
        self.assertNobody([["rename", mine, os.path.join(d, "in")]],
                          ["EACCES"])
        self.assertTrue(os.path.exists(mine))

    def test_directory_write_is_enough_without_sticky(self):
        # The other side of the checks above: with write permission on a
        # directory that is not sticky, anyone may remove or rename.
        d = self.dir(0o777)
        c = self.chan(0o600, d=d)
        self.assertNobody([["rename", c, os.path.join(d, "r")],
                           ["unlink", os.path.join(d, "r")]],
                          ["ok", "ok"])
        self.assertEqual(os.listdir(d), [])

    def test_sticky_root_protects_other_users_channels(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.mnt.path).st_mode),
                         0o1777)
        c = self.chan(0o666, data=b"keep")
        mine = self.name("mine")
        self.assertNobody(
            [["create", mine, 0o644], ["unlink", c],
             ["rename", c, self.mnt("stolen")],
             ["rename", mine, c]],
            ["ok", "EPERM", "EPERM", "EPERM"])
        self.assertTrue(os.path.exists(c))
        self.assertFalse(os.path.exists(self.mnt("stolen")))
        self.assertEqual(os.stat(mine).st_uid, UID)
        # A user's own channel, and the owner's removal of another's.
        self.assertNobody([["rename", mine, mine + "b"],
                           ["unlink", mine + "b"]], ["ok", "ok"])
        os.unlink(c)

    def test_sticky_subdirectory(self):
        d = self.dir(0o1777)
        c = self.chan(0o666, d=d)
        self.assertNobody([["unlink", c],
                           ["rename", c, os.path.join(d, "x")]],
                          ["EPERM", "EPERM"])
        # The directory's owner may.
        os.chown(d, UID, UID)
        self.assertNobody([["rename", c, os.path.join(d, "x")],
                           ["unlink", os.path.join(d, "x")]], ["ok", "ok"])

    def test_only_the_owner_changes_mode(self):
        c = self.chan(0o666)
        mine = self.name("mine")
        self.assertNobody([["chmod", c, 0o777], ["create", mine, 0o600],
                           ["chmod", mine, 0o640]],
                          ["EPERM", "ok", "ok"])
        self.assertEqual(stat.S_IMODE(os.stat(c).st_mode), 0o666)
        self.assertEqual(stat.S_IMODE(os.stat(mine).st_mode), 0o640)
        d = self.dir(0o777)
        self.assertNobody([["chmod", d, 0o700]], ["EPERM"])
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o777)

    def test_no_giving_away_or_taking(self):
        c = self.chan(0o666)
        mine = self.name("mine")
        self.assertNobody([["chown", c, UID, UID], ["create", mine, 0o600],
                           ["chown", mine, 0, 0], ["chown", mine, -1, 0]],
                          ["EPERM", "ok", "EPERM", "EPERM"])
        self.assertEqual(os.stat(c).st_uid, 0)
        self.assertEqual((os.stat(mine).st_uid, os.stat(mine).st_gid),
                         (UID, UID))


@unittest.skipUnless(os.geteuid() == 0, "setpriv needs root")
class TestAllowOther(unittest.TestCase):
    """Without -o allow_other no other uid gets in, not even to stat the
    mount point; with it, the mode bits decide."""

    def test_without_allow_other(self):
        m = Mount()
        try:
            with open("/proc/mounts") as f:
                line = [ln for ln in f if ln.split()[1] == m.path][0]
            self.assertNotIn("allow_other", line.split()[3].split(","))
            os.close(os.open(m("c"), os.O_CREAT | os.O_RDWR, 0o666))
            self.assertEqual(
                nobody(["stat", m.path], ["listdir", m.path],
                       ["open", m("c"), "r"], ["create", m("x"), 0o644]),
                ["EACCES"] * 4)
        finally:
            m.close()

    def test_with_allow_other(self):
        m = Mount("-o", "allow_other")
        try:
            os.close(os.open(m("c"), os.O_CREAT | os.O_RDWR, 0o666))
            # What the other uid may do is the point: not the umask's.
            os.chmod(m("c"), 0o666)
            self.assertEqual(
                nobody(["stat", m.path], ["listdir", m.path],
                       ["open", m("c"), "r"], ["create", m("x"), 0o644]),
                [oct(stat.S_IFDIR | 0o1777), ["c"], "ok", "ok"])
        finally:
            m.close()


class Isolation:
    """A channel's stream and region are its own: never visible through
    another channel, never left for whoever next takes its name."""

    mode = None

    @classmethod
    def setUpClass(cls):
        try:
            cls.mnt = Mount("-o", "region=" + cls.mode)
        except AssertionError as e:
            raise unittest.SkipTest(f"region={cls.mode} unavailable: {e}")

    @classmethod
    def tearDownClass(cls):
        cls.mnt.close()

    def open(self, name, flags=os.O_RDWR | os.O_NONBLOCK):
        fd = os.open(self.mnt(name), flags | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        return fd

    def fill(self, fd, size, byte):
        os.ftruncate(fd, size)
        m = mmap.mmap(fd, size)
        m[:] = bytes([byte]) * size
        m.close()

    def region(self, fd, size=None):
        size = size or os.fstat(fd).st_size
        m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        try:
            return m[:]
        finally:
            m.close()

    def assertEmptyStream(self, fd):
        with self.assertRaises(OSError) as cm:
            os.read(fd, 100)
        self.assertEqual(cm.exception.errno, errno.EAGAIN)

    def test_mode(self):
        self.assertEqual(region_mode(self.mnt.path), self.mode)

    def test_stream_stays_in_its_channel(self):
        a, b = self.open("sa"), self.open("sb")
        os.write(a, b"secret of a")
        self.assertEmptyStream(b)
        os.write(b, b"b")
        self.assertEqual(os.read(b, 100), b"b")
        self.assertEqual(os.read(a, 100), b"secret of a")

    def test_region_stays_in_its_channel(self):
        a, b = self.open("ra"), self.open("rb")
        self.fill(a, 4 * PAGE, 0xAA)
        self.assertEqual(os.fstat(b).st_size, 0)
        os.ftruncate(b, 4 * PAGE)
        self.assertEqual(self.region(b), bytes(4 * PAGE))
        self.assertEqual(self.region(a), b"\xaa" * 4 * PAGE)

    def test_new_channel_region_is_zero(self):
        # Regions freed by other channels must not come back with their
        # bytes: make and drop a few, then size a new one.
        for i in range(4):
            fd = os.open(self.mnt(f"old{i}"), os.O_CREAT | os.O_RDWR, 0o600)
            self.fill(fd, 16 * PAGE, 0x5A)
            os.close(fd)
            os.unlink(self.mnt(f"old{i}"))
        fd = self.open("fresh")
        os.ftruncate(fd, 64 * PAGE)
        self.assertEqual(self.region(fd), bytes(64 * PAGE))

    def test_nothing_survives_unlink_and_recreate(self):
        path = self.mnt("reused")
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NONBLOCK, 0o600)
        os.write(fd, b"old stream bytes")
        self.fill(fd, 2 * PAGE, 0x77)
        os.close(fd)
        os.unlink(path)
        fd = self.open("reused")
        self.assertEqual(os.fstat(fd).st_size, 0)
        self.assertEmptyStream(fd)
        os.ftruncate(fd, 2 * PAGE)
        self.assertEqual(self.region(fd), bytes(2 * PAGE))

    def test_holder_of_unlinked_channel_keeps_its_own(self):
        path = self.mnt("held")
        old = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NONBLOCK, 0o600)
        self.addCleanup(os.close, old)
        os.write(old, b"old")
        self.fill(old, PAGE, 0x11)
        os.unlink(path)
        new = self.open("held")
        self.assertEmptyStream(new)
        os.write(new, b"new")
        self.assertEqual(os.fstat(new).st_size, 0)
        self.assertEqual(os.read(old, 100), b"old")
        self.assertEqual(os.read(new, 100), b"new")
        self.assertEqual(self.region(old), b"\x11" * PAGE)

    def test_grown_region_is_zero(self):
        fd = self.open("grow")
        self.fill(fd, 4 * PAGE, 0xEE)
        for cut in (100, PAGE, PAGE + 1, 0):
            os.ftruncate(fd, cut)
            os.ftruncate(fd, 4 * PAGE)
            got = self.region(fd)
            self.assertEqual(got[:cut], b"\xee" * cut)
            self.assertEqual(got[cut:], bytes(4 * PAGE - cut),
                             f"bytes past {cut} came back")
            self.fill(fd, 4 * PAGE, 0xEE)

    def test_stream_bytes_never_reach_a_region(self):
        fd = self.open("mix")
        os.ftruncate(fd, PAGE)
        os.write(fd, b"stream" * 100)
        self.assertEqual(self.region(fd), bytes(PAGE))


class TestIsolationPassthrough(Isolation, unittest.TestCase):
    mode = "passthrough"


class TestIsolationPagecache(Isolation, unittest.TestCase):
    mode = "pagecache"


if __name__ == "__main__":
    unittest.main(verbosity=2)
