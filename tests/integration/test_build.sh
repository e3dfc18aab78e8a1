#!/usr/bin/env bash
# A plain make on a machine without the -dev packages must say which
# Debian packages are missing and that make run or make check installs
# them, not fail in the compiler on a missing header (issue 10).  A
# pkg-config of our own stands in for a machine that lacks some: it knows
# only the libraries it is told to.  Nothing is built: the check comes
# first, and the tree is left as it was.  Then, in a copy of the tree: a
# built tree has nothing left to build, a changed header rebuilds what
# includes it (issue 12), and CPPFLAGS, CFLAGS and LDFLAGS go where users
# expect them.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/ipcfs-build.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failed=0

# A pkg-config that knows only the packages named in $KNOWN.
cat >"$TMP/pkg-config" <<'EOS'
#!/bin/sh
for a; do
	case $a in
	-*) ;;
	*) case " $KNOWN " in *" $a "*) ;; *) exit 1 ;; esac ;;
	esac
done
exec pkg-config "$@"
EOS
chmod 755 "$TMP/pkg-config"

# expect_missing KNOWN PACKAGES: make fails and names exactly PACKAGES.
expect_missing() {
	local out rc=0

	out=$(KNOWN=$1 make -C "$TOP" -s PKG_CONFIG="$TMP/pkg-config" all \
	    2>&1) || rc=$?
	if [ $rc -ne 0 ] &&
	    printf '%s\n' "$out" | grep -qx "ipcfs: missing Debian packages: $2" &&
	    printf '%s\n' "$out" | grep -q "'make run' or 'make check' installs" &&
	    ! printf '%s\n' "$out" | grep -q "No such file"; then
		echo "ok - without ${3}: make names $2"
	else
		echo "not ok - without ${3}: make said (exit $rc):"
		printf '%s\n' "$out" | sed 's/^/    /'
		failed=1
	fi
}

expect_missing "fuse3" "libbsd-dev" "libbsd"
expect_missing "libbsd-overlay" "libfuse3-dev" "libfuse3"
expect_missing "" "libfuse3-dev libbsd-dev" "either"
out=$(make -C "$TOP" -s PKG_CONFIG=/nonexistent/pkg-config all 2>&1)
if printf '%s\n' "$out" | grep -qx \
    "ipcfs: missing Debian packages: pkg-config libfuse3-dev libbsd-dev"; then
	echo "ok - without pkg-config: make names it"
else
	echo "not ok - without pkg-config: make said: $out"
	failed=1
fi
# With everything there the check says nothing.
out=$(make -C "$TOP" -s pkgcheck 2>&1)
if [ -z "$out" ]; then
	echo "ok - with the packages: the check is silent"
else
	echo "not ok - with the packages the check said: $out"
	failed=1
fi

# The usual variables, in the usual places, and header dependencies: in a
# copy of the tree, so the one under test is left as it was.
check() {
	if eval "$2"; then
		echo "ok - $1"
	else
		echo "not ok - $1"
		failed=1
	fi
}
tree=$TMP/tree
mkdir "$tree"
(cd "$TOP" && tar cf - --exclude=./build --exclude=./.git --exclude=./ipcfs \
    --exclude=./ipcfs-stat .) | (cd "$tree" && tar xf -) ||
    { echo "not ok - a copy of the tree"; exit 1; }
out=$(make -C "$tree" -s ipcfs build/san/check_ring 2>&1) ||
    { echo "not ok - make in a clone: $out"; exit 1; }
out=$(make -C "$tree" -n ipcfs build/san/check_ring 2>&1)
check "a built tree has nothing to build" \
    "! printf '%s\n' \"\$out\" | grep -q -- ' -o '"
touch "$tree/src/ipcfs.h"
out=$(make -C "$tree" -n ipcfs build/san/check_ring 2>&1)
check "src/ipcfs.h changed: the daemon's objects are rebuilt" \
    "printf '%s\n' \"\$out\" | grep -q -- '-o build/chan.o src/chan.c'"
check "src/ipcfs.h changed: a unit test is rebuilt" \
    "printf '%s\n' \"\$out\" | grep -q -- 'tests/unit/check_ring.c'"
out=$(make -C "$tree" -n -B ipcfs CPPFLAGS=-DCPPMARK CFLAGS=-DCMARK \
    LDFLAGS=-LLDMARK 2>&1)
check "CPPFLAGS and CFLAGS reach the compiler, CFLAGS after ours" \
    "printf '%s\n' \"\$out\" | grep -- '-c -o build/chan.o' |
    grep -q -- '-Wall.*-DCPPMARK.*-DCMARK\\|-Wall.*-DCMARK.*-DCPPMARK'"
check "LDFLAGS before the objects, libraries after them" \
    "printf '%s\n' \"\$out\" | grep -q -- '-LLDMARK.* build/chan.o.* -lfuse3'"

# The bridge to NATS is built only with libnats (issue 13): NATS=no (as
# on a machine without libnats-dev) builds a daemon that needs no libnats
# and refuses -o nats with a clear reason; the usual build links it.
check "the usual build links libnats" "ldd '$TOP/ipcfs' | grep -q libnats"
out=$(make -C "$tree" -s -B NATS=no ipcfs 2>&1) ||
    { echo "not ok - make NATS=no: $out"; exit 1; }
check "NATS=no: the daemon does without libnats" \
    "! ldd '$tree/ipcfs' | grep -q libnats"
check "NATS=no: bridge_none.c stands in for bridge.c" \
    "[ -f '$tree/build/bridge_none.o' ] &&
    ! nm -u '$tree/ipcfs' | grep -q natsConnection_Connect"
mkdir "$TMP/mnt"
out=$("$tree/ipcfs" -f -o nats=nats://127.0.0.1:1 "$TMP/mnt" 2>&1)
rc=$?
grep -qs " $TMP/mnt fuse" /proc/mounts && umount -l "$TMP/mnt"
check "NATS=no: -o nats is refused at start-up, saying why" \
    "[ $rc -ne 0 ] && printf '%s\n' \"\$out\" | grep -q 'built without libnats'"
exit $failed
