#!/usr/bin/env bash
# stress-ng's file-operation stressors, code nobody here wrote, run on a
# mount with --verify: rename, dir, dentry, touch, utime, chmod, chown,
# access and filename, one instance each, all at once for a few seconds.
# Each must finish with bogo operations done and no failure, the mount must
# be left empty, and the daemon must come back to holding nothing.
#
# All nine work on ipcfs: none of them needs a file type ipcfs refuses.
# Left out for that reason: link and symlink (hard and symbolic links are
# EPERM here; stress-ng skips them as "link calls not allowed"), mknod and
# fifo (they make FIFOs and device nodes, EPERM by design).  Also left
# out: getdent, which walks /proc, /sys and /tmp, not the mount, and xattr,
# as the mount has only its two read-only ipcfs attributes.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

command -v stress-ng >/dev/null 2>&1 || {
	echo "SKIP: stress-ng is not installed (tools/install-deps adds it)"
	exit 77
}

STRESSORS="rename dir dentry touch utime chmod chown access filename"

ipcfs_mount
nodes0=$(stat_of nodes)
fds0=$(stat_of fds)

args=
for s in $STRESSORS; do
	args="$args --$s 1"
done
cd "$TMP" || fail "no $TMP"
# The time limit is a hang guard only; the run itself asks for 4 s.
# shellcheck disable=SC2086
if ! timeout -k 5 50 stress-ng $args --timeout 4s --verify \
    --temp-path "$MNT" --metrics-brief >"$TMP/stress-ng.log" 2>&1; then
	cat "$TMP/stress-ng.log" >&2
	fail "stress-ng failed"
fi
cat "$TMP/stress-ng.log"

# stress-ng says "fail:" for a verification error, and exits 0 for a
# stressor that skipped itself: ask each for the work it did.
if grep -E 'stress-ng: (fail|error):|skipping stressor|aborted early' \
    "$TMP/stress-ng.log" >&2; then
	fail "stress-ng reported a failure or a skipped stressor"
fi
for s in $STRESSORS; do
	ops=$(awk -v s="$s" '$2 == "metrc:" && $4 == s { print $5; exit }' \
	    "$TMP/stress-ng.log")
	case $ops in
	'' | *[!0-9]*) fail "no metrics for stressor $s" ;;
	esac
	[ "$ops" -gt 0 ] || fail "stressor $s did no operations"
	echo "ok - $s: $ops bogo ops"
done

left=$(ls -A "$MNT")
[ -z "$left" ] || fail "stress-ng left names behind: $left"

# Every node stress-ng made is freed once the kernel forgets it, which
# it does on its own schedule: wait for that, within a hang guard.
for _ in $(seq 100); do
	[ "$(stat_of nodes)" -le "$nodes0" ] &&
	    [ "$(stat_of fds)" -le "$fds0" ] &&
	    [ "$(stat_of held_requests)" -eq 0 ] && break
	sleep 0.1
done
[ "$(stat_of nodes)" -le "$nodes0" ] ||
    fail "nodes: $(stat_of nodes), $nodes0 before the run"
[ "$(stat_of fds)" -le "$fds0" ] ||
    fail "daemon descriptors: $(stat_of fds), $fds0 before the run"
[ "$(stat_of held_requests)" -eq 0 ] || fail "requests still held"
kill -0 "$DPID" 2>/dev/null || fail "the daemon died"
echo "ok - the daemon is back to $nodes0 nodes and $fds0 descriptors"
