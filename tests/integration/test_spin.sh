#!/usr/bin/env bash
# -o spin: the daemon polls /dev/fuse for the next request before it
# sleeps.  Its counters (user.ipcfs.stats) say how many requests polling
# found and how many had to wake it; spin=0 never polls; and SIGTERM or
# SIGINT stop a daemon that is polling under load as promptly as an idle
# one.  Nothing here is timed: only counted.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

# N getxattr calls on one channel, one request each, never cached, paced:
# each is sent about a millisecond after the last was answered, so it is
# never already queued when the daemon looks for it, and finds the daemon
# polling or asleep.
traffic() {
	: >"$MNT/c" || return 1
	"$PY" -c 'import os, sys, time
for i in range(int(sys.argv[2])):
    os.getxattr(sys.argv[1], "user.ipcfs.region")
    time.sleep(0.001)' "$MNT/c" "$1"
}

# The three request counters now, in c_requests_queued and so on.
snap() {
	local k

	for k in requests_queued requests_polled requests_woke; do
		eval "c_$k=\$(stat_of $k)"
		eval "[ -n \"\$c_$k\" ]" ||
		    fail "user.ipcfs.stats lacks $k"
	done
}

# A 10 ms window finds a request that comes a millisecond later.  Half of
# them is the bar: a busy machine may stall the client now and then, and
# without polling none would be found.
ipcfs_mount -o spin=10000
watchdog 120
snap
p0=$c_requests_polled w0=$c_requests_woke
traffic 300 || fail "spin=10000: getxattr failed"
snap
p=$((c_requests_polled - p0)) w=$((c_requests_woke - w0))
if [ "$(nproc)" -lt 2 ]; then
	ok "spin=10000: one CPU here, so no polling to check ($p polled)"
else
	[ $p -ge 150 ] || fail "spin=10000: polling found $p of 300" \
	    "requests, $w woke the daemon"
	ok "spin=10000: polling found $p of 300 requests, $w woke the daemon"
fi

# spin=0 never polls: every request that is not queued wakes the daemon.
ipcfs_remount -o spin=0
traffic 300 || fail "spin=0: getxattr failed"
snap
[ "$c_requests_polled" -eq 0 ] ||
    fail "spin=0: polling found $c_requests_polled requests"
[ "$c_requests_woke" -ge 150 ] ||
    fail "spin=0: only $c_requests_woke of 300 requests woke the daemon"
ok "spin=0: never polls; $c_requests_woke of 300 requests woke the daemon"

# The default window, 50 us, shrinks to nothing for requests a millisecond
# apart: polling that finds nothing stops within a few requests.
ipcfs_remount
traffic 300 || fail "default spin: getxattr failed"
snap
[ "$c_requests_polled" -le 10 ] && [ "$c_requests_woke" -ge 150 ] ||
    fail "default spin: $c_requests_polled of 300 requests polled for," \
    "$c_requests_woke woke the daemon"
ok "default spin: polling stops for requests 1 ms apart" \
    "($c_requests_woke of 300 woke the daemon)"

# On one CPU polling would only keep the caller off it: a daemon that may
# run on one CPU alone does not poll, whatever spin says, and says so.
# The daemon inherits this shell's CPU mask while it is pinned.
mask=$(taskset -p $$ | awk '{ print $NF }')
taskset -p 1 $$ >/dev/null || fail "cannot pin the test to CPU 0"
ipcfs_remount -o spin=10000
taskset -p "$mask" $$ >/dev/null || fail "cannot unpin the test"
traffic 300 || fail "one CPU: getxattr failed"
snap
[ "$c_requests_polled" -eq 0 ] ||
    fail "one CPU: polling found $c_requests_polled requests"
grep -q "spin 0 us (one CPU" "$TMP/daemon.log" ||
    fail "one CPU: the log does not say so: $(cat "$TMP/daemon.log")"
ok "on one CPU the daemon does not poll, and logs it"

# SIGTERM, SIGINT and SIGHUP come while the daemon polls, between two
# requests of a steady stream: each must still end it, unmounted, exit 0.
for sig in TERM INT HUP; do
	ipcfs_remount -o spin=10000
	# In a directory of the mount, so the loop ends with the mount.
	mkdir "$MNT/d" && : >"$MNT/d/s" || fail "SIG$sig: cannot make a channel"
	(
		while :; do
			{ : >"$MNT/d/s"; } 2>/dev/null || exit 0
		done
	) &
	loadpid=$!
	traffic 100 || fail "SIG$sig: no traffic"
	kill -"$sig" "$DPID"
	wait_exit "$DPID" 20
	[ $RC -eq 0 ] ||
	    fail "SIG$sig while polling: exit $RC: $(cat "$TMP/daemon.log")"
	DPID=
	ipcfs_mounted "$MNT" && fail "SIG$sig while polling: still mounted"
	wait_exit $loadpid
	ok "SIG$sig while the daemon polls under load: it exits 0, unmounted"
done
finish
