# Shared by the shell integration tests: mount a real ipcfs in a temporary
# directory and always take it down again, even when the test fails.
#
#   . "$(dirname "$0")/lib.sh"
#   ipcfs_mount [-o opts]        sets MNT, TMP, DPID; installs the trap
#   fail "what went wrong"       exit 1 with a message
#   for_all PROG                 copy PROG into $TMP/bin for every uid to
#                                run; prints the copy's path
#
# The daemon is the sanitized build unless IPCFS says otherwise; its log
# is checked for sanitizer reports when the test ends.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IPCFS=${IPCFS:-$TOP/build/san/ipcfs}
CHANIO=${CHANIO:-$TOP/build/chanio}
PY=${PY:-/usr/bin/python3}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
MNT=
TMP=
DPID=

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ipcfs_mounted() {
	grep -qs " $1 fuse.ipcfs " /proc/mounts
}

ipcfs_unmount() {
	local i
	[ -n "$MNT" ] || return 0
	if ipcfs_mounted "$MNT"; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
	if [ -n "$DPID" ]; then
		for i in $(seq 50); do
			kill -0 "$DPID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	DPID=
}

ipcfs_cleanup() {
	local rc=$?
	cd /
	# Children of the test that still run would hold the mount; the
	# daemon itself is stopped by the unmount, so it can shut down cleanly
	# and its leak check runs.
	local p
	for p in $(pgrep -P $$ 2>/dev/null); do
		[ "$p" = "$DPID" ] || kill -9 "$p" 2>/dev/null
	done
	ipcfs_unmount
	if [ -n "$TMP" ] && [ -f "$TMP/daemon.log" ] &&
	    grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/daemon.log"; then
		echo "FAIL: sanitizer report from the daemon:" >&2
		cat "$TMP/daemon.log" >&2
		rc=1
	fi
	[ -n "$TMP" ] && rm -rf "$TMP"
	exit $rc
}

# A test that runs a program as another uid runs a copy of it: the
# checkout may be one that uid cannot enter (a home directory of mode 0700,
# as Debian 12 makes them) or its programs mode 0700 (built under umask
# 077).  setpriv(1) running the program itself would still reach it, with
# the capabilities it keeps until execve; env, sh and mount.fuse3 would not.
for_all() {
	local dst=$TMP/bin/$(basename "$1")

	mkdir -p -m 755 "$TMP/bin" && cp "$1" "$dst" && chmod 755 "$dst" ||
	    fail "cannot copy $1 to $TMP/bin"
	echo "$dst"
}

# Mount a fresh ipcfs with the given arguments on $TMP/mnt.
ipcfs_mount() {
	local i
	[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
	TMP=$(mktemp -d /tmp/ipcfs-test.XXXXXX)
	chmod 755 "$TMP"
	MNT=$TMP/mnt
	mkdir "$MNT"
	trap ipcfs_cleanup EXIT
	trap 'exit 1' INT TERM
	"$IPCFS" -f "$@" "$MNT" 2>"$TMP/daemon.log" &
	DPID=$!
	for i in $(seq 100); do
		ipcfs_mounted "$MNT" && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TMP/daemon.log" >&2
	fail "ipcfs did not mount"
}
