#!/usr/bin/env bash
# libfuse 3.18 and later can serve requests over io_uring (-o io_uring, or
# FUSE_URING_ENABLE in the environment), from threads of its own that go
# past ipcfs's wire shim and loop.  ipcfs refuses both at start-up: one
# line on stderr naming what was asked, exit 1, nothing mounted
# (docs/options.md, docs/libfuse.md).  With an older libfuse there is no
# such transport to refuse, and the test reports itself skipped.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
ver=$("$IPCFS" -V 2>/dev/null | sed -n 's/^FUSE library version //p')
major=${ver%%.*}
minor=${ver#*.}
minor=${minor%%.*}
case $major.$minor in
*[!0-9.]* | . | *.)
	fail "cannot tell ipcfs's libfuse version from -V: '$ver'" ;;
esac
if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 18 ]; }; then
	echo "SKIP: ipcfs runs with libfuse $ver, which has no io_uring transport"
	exit 77
fi
echo "ipcfs runs with libfuse $ver"

KEEP_GOING=1
W=$(mktemp -d /tmp/ipcfs-uring.XXXXXX)
chmod 755 "$W"
mkdir "$W/mp"
early_cleanup() {
	grep -s " $W/" /proc/mounts | while read -r _ mp _; do
		fusermount3 -u -z "$mp" 2>/dev/null || umount -l "$mp"
	done
	rm -rf "$W"
}
trap 'rc=$?; early_cleanup; exit $rc' EXIT
trap 'exit 1' INT TERM

# refused WHAT WORD ENV ARGS...: ipcfs ARGS, with the environment setting
# ENV (or none if empty), exits 1 with one line on stderr that contains
# WORD and says io_uring is not supported, prints nothing else and mounts
# nothing.
refused() {
	local what=$1 word=$2 env=$3 rc=0 lines

	shift 3
	if [ -n "$env" ]; then
		env "$env" timeout 10 "$IPCFS" -f "$@" "$W/mp" \
		    >"$W/out" 2>"$W/err" </dev/null || rc=$?
	else
		env -u FUSE_URING_ENABLE timeout 10 "$IPCFS" -f "$@" "$W/mp" \
		    >"$W/out" 2>"$W/err" </dev/null || rc=$?
	fi
	lines=$(wc -l <"$W/err")
	if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || [ -s "$W/out" ] ||
	    ! grep -qF -- "$word" "$W/err" ||
	    ! grep -q "io_uring is not supported" "$W/err" ||
	    grep -qs " $W/" /proc/mounts; then
		{
			echo "--- exit $rc, stderr ($lines lines):"
			cat "$W/err"
			echo "--- stdout:"
			cat "$W/out"
		} >&2
		grep -s " $W/" /proc/mounts >&2
		notok "$what"
		early_cleanup
		mkdir -p "$W/mp"
		return 0
	fi
	ok "$what: $(cat "$W/err")"
}

refused "-o io_uring" "-o io_uring" "" -o io_uring
refused "io_uring among other options" "-o io_uring" "" \
    -o capacity=8K,io_uring,region=off
refused "-oio_uring, as one word" "-o io_uring" "" -oio_uring
refused "FUSE_URING_ENABLE=1" FUSE_URING_ENABLE FUSE_URING_ENABLE=1
refused "FUSE_URING_ENABLE=2 (libfuse reads it with atoi)" \
    FUSE_URING_ENABLE FUSE_URING_ENABLE=2
refused "-o io_uring with FUSE_URING_ENABLE=0" "-o io_uring" \
    FUSE_URING_ENABLE=0 -o io_uring
finish
early_cleanup
trap - EXIT

# What does not turn io_uring on is not refused: FUSE_URING_ENABLE=0 and a
# queue depth alone mount, channels work, and the wire shim is in place: a
# channel without a region is a stream (kfeat.c's FOPEN_STREAM).
export FUSE_URING_ENABLE=0
ipcfs_mount -o io_uring_q_depth=4,region=off
ok "FUSE_URING_ENABLE=0 and -o io_uring_q_depth=4 mount"
expect "a channel carries data and is a stream" \
    ci open a "$MNT/c" rwc write a 'hi\n' read a 64 lseek a 0 close a <<'EOF'
open a: ok
write a: 3
read a: 3 "hi\n"
lseek a: ESPIPE
close a: ok
EOF
finish
