# Shared by the shell tests, on top of lib.sh (source lib.sh first).
#
#   ci ARGS...                  run build/chanio with a 20 s time limit
#   expect WHAT CMD... <<EOF    run CMD; its output (stdout and stderr)
#                               must be the text on stdin and its exit
#                               status 0, else the test fails (or, with
#                               KEEP_GOING=1, goes on and fails at the end:
#                               call finish last)
#   ok WHAT                     note a check that passed
#   notok WHAT                  a check failed: fail now, or with
#                               KEEP_GOING=1 note it and go on
#   finish                      fail if a KEEP_GOING check failed
#   wait_exit PID [SECS]        wait for background job PID to end (10 s
#                               at most, else fail); its status in RC
#   blocked_in PID read|write|any   wait until PID sleeps in a FUSE request
#   region_mode                 print the mount's region mode
#   ipcfs_remount [-o opts]     take the mount down, checking the daemon's
#                               log, and mount a fresh one
#   watchdog SECS               if the test still runs after SECS, kill its
#                               daemon so that nothing blocked on the
#                               mount can hang the test for ever
#   family PID...               each of these processes and their
#                               descendants: "pid state comm wchan"
#   oneline TEXT                TEXT with its lines joined by " | "
#
# Nothing here measures time: waits are bounded only as hang guards.

NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
KEEP_GOING=${KEEP_GOING:-0}
FAILED=
export LC_ALL=C

# LeakSanitizer cannot work in a process that is being ptraced (some
# sandboxes trace every process): it reports a fatal error at exit and
# turns every clean exit into status 1.  Leave leak checks out there.
if [ "$(awk '/^TracerPid:/ { print $2 }' /proc/self/status)" != 0 ]; then
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
fi

ci() {
	"$CHANIO" -t 20 "$@"
}

ok() {
	echo "ok - $*"
}

expect() {
	local what=$1 want got rc=0

	shift
	want=$(cat)
	got=$("$@" 2>&1 </dev/null) || rc=$?
	if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
		{
			echo "--- expected:"
			echo "$want"
			echo "--- got (exit $rc):"
			echo "$got"
		} >&2
		notok "$what"
		return 0
	fi
	ok "$what"
}

notok() {
	[ "$KEEP_GOING" = 1 ] || fail "$*"
	echo "not ok - $*"
	FAILED="$FAILED
	$*"
}

finish() {
	[ -z "$FAILED" ] || fail "these checks failed:$FAILED"
}

wait_exit() {
	local pid=$1 secs=${2:-10} i

	for i in $(seq $((secs * 20))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && fail "process $pid still runs after ${secs}s"
	RC=0
	wait "$pid" || RC=$?
}

blocked_in() {
	"$CHANIO" waitblocked -t 10 "$1" "$2" ||
	    fail "process $1 never blocked in $2"
}

region_mode() {
	"$PY" -c 'import os, sys
print(os.getxattr(sys.argv[1], "user.ipcfs.region").decode())' "$MNT"
}

# The daemon's counter $1, from the user.ipcfs.stats attribute; empty if
# there is no such counter.
stat_of() {
	"$PY" -c 'import os, sys
s = os.getxattr(sys.argv[1], "user.ipcfs.stats").decode()
print(dict(l.split() for l in s.splitlines()).get(sys.argv[2], ""))' \
	    "$MNT" "$1"
}

ipcfs_remount() {
	# Its last command fails when the daemon is gone already.
	ipcfs_unmount || true
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
	    "$TMP/daemon.log"; then
		cat "$TMP/daemon.log" >&2
		fail "sanitizer report from the daemon"
	fi
	rm -rf "$TMP"
	TMP=
	MNT=
	ipcfs_mount "$@"
}

# in_every_mode FN: run FN on the mount in the region mode it has, then
# remounted in each other mode the kernel offers (page-cache mmap beside
# passthrough on Linux 6.9 and later, and off), with MODE saying which.
# The mount's options other than region= are not kept.
in_every_mode() {
	local first

	first=$(region_mode) || fail "no region mode attribute"
	MODE=$first
	echo "# region mode $MODE"
	"$1"
	if [ "$first" = passthrough ]; then
		ipcfs_remount -o region=pagecache
		MODE=pagecache
		echo "# region mode $MODE"
		"$1"
	fi
	if [ "$first" != off ]; then
		ipcfs_remount -o region=off
		MODE=off
		echo "# region mode $MODE"
		"$1"
	fi
}

watchdog() {
	local secs=$1 me=$$

	(
		for i in $(seq $((secs * 10))); do
			sleep 0.1
			kill -0 "$me" 2>/dev/null || exit 0
		done
		echo "FAIL: still running after ${secs}s; killing the daemon" >&2
		pkill -KILL -P "$me" -x ipcfs
	) &
	disown
}

# family PID...: each of these processes and their descendants, one line
# each: "pid state comm wchan".  Read from /proc without forking, so that
# it cannot itself wait on the mount.
family() {
	local f s rest pid ppid st comm w p more
	local -A parent=() state=() name=() keep=()

	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue
		pid=${s%% *}
		comm=${s#*(}
		comm=${comm%)*}
		rest=${s##*) }
		st=${rest%% *}
		rest=${rest#* }
		ppid=${rest%% *}
		parent[$pid]=$ppid
		state[$pid]=$st
		name[$pid]=$comm
	done
	for p in "$@"; do
		[ -n "${state[$p]:-}" ] && keep[$p]=1
	done
	# Add children until nothing changes (the list is short).
	more=1
	while [ $more = 1 ]; do
		more=0
		for pid in "${!parent[@]}"; do
			if [ -z "${keep[$pid]:-}" ] &&
			    [ -n "${keep[${parent[$pid]}]:-}" ]; then
				keep[$pid]=1
				more=1
			fi
		done
	done
	for pid in "${!keep[@]}"; do
		w=
		{ read -r w <"/proc/$pid/wchan"; } 2>/dev/null
		echo "$pid ${state[$pid]} ${name[$pid]} ${w:-?}"
	done
}

# oneline TEXT: TEXT with its lines joined by " | ".
oneline() {
	local s=$1

	echo "${s//$'\n'/ | }"
}
