#!/usr/bin/env bash
# A short stress run (see the top of stress.c): writers, readers and
# mappers over stable and chaos channels, with signals, SIGKILLs, renames
# and unlinks, against the sanitized daemon.  Every record write() took on
# a stable channel must arrive once, intact and in order; the daemon's
# counters and descriptors must come back to where they started, and its
# resident size near it.  Runs once on the default mount and once with
# region=off (stream files without a file position), and with
# region=pagecache as well when the default mode is passthrough (so the
# kernel has both).
#
# STRESS_SECONDS sets the length of each run (6 s by default).
set -u
. "$(dirname "$0")/lib.sh"

STRESS=${STRESS:-$TOP/build/stress}
SECS=${STRESS_SECONDS:-6}
# LeakSanitizer cannot work in a process that is being ptraced (some
# sandboxes trace everything): it turns every clean exit into status 1.
if [ "$(awk '/^TracerPid:/ { print $2 }' /proc/self/status)" != 0 ]; then
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
fi
# A small quarantine, handed back to the system soon, so that the
# sanitized daemon's resident size means something.
export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8:allocator_release_to_os_interval_ms=100"
# Resident growth allowed after the run, in KiB: the sanitizer's
# allocator keeps caches a plain build does not (tools/stress-run is
# stricter).
RSS_SLACK=65536

[ -x "$STRESS" ] || fail "$STRESS is missing (make build/stress)"

# Mount with the given options, run stress, take the mount down and check
# the daemon's log and exit status.  Sets LAST_MODE to the region mode.
run() {
	local rc=0 drc=0 i

	ipcfs_mount "$@"
	LAST_MODE=$("$PY" -c 'import os, sys
print(os.getxattr(sys.argv[1], "user.ipcfs.region").decode())' "$MNT")
	echo "--- stress ${*:-(default options)}:" \
	    "$(tr '\0' ' ' </proc/"$DPID"/cmdline)"
	timeout -k 5 $((SECS + 90)) "$STRESS" -p "$DPID" -t "$SECS" \
	    -R "$RSS_SLACK" "$MNT" || rc=$?
	if [ -n "$(ls -A "$MNT")" ]; then
		echo "FAIL: names left in the mount after stress:" >&2
		ls -la "$MNT" >&2
		rc=1
	fi
	fusermount3 -u "$MNT" || fail "cannot unmount $MNT after stress"
	for i in $(seq 100); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DPID" 2>/dev/null && fail "the daemon still runs 10 s after unmount"
	wait "$DPID" || drc=$?
	DPID=
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
	    "$TMP/daemon.log"; then
		cat "$TMP/daemon.log" >&2
		fail "sanitizer report from the daemon ($*)"
	fi
	[ $drc -eq 0 ] || { cat "$TMP/daemon.log" >&2;
	    fail "the daemon exited with $drc ($*)"; }
	[ $rc -eq 0 ] || fail "stress found violations ($*)"
	rm -rf "$TMP"
	TMP=
	MNT=
}

run
default_mode=$LAST_MODE
run -o region=off
# pagecache needs Linux 6.6 and passthrough 6.9: a kernel that gave
# passthrough by default has both.
[ "$default_mode" = passthrough ] && run -o region=pagecache
echo "PASS: stress"
