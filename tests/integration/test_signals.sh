#!/usr/bin/env bash
# Signals (rule 8) from the outside: SIGINT to a cat waiting on a channel,
# SIGKILL to processes blocked in read and write, and SIGTERM or SIGINT to
# the daemon while callers are blocked: every one of them is released with
# an error, the mount goes and the daemon exits 0.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

ipcfs_mount
watchdog 120

# Ctrl-C on a waiting cat.  A shell starts background jobs with SIGINT
# ignored; env gives cat the default action back, as a terminal would.
: >"$MNT/c" || fail "cannot make a channel"
env --default-signal=INT cat "$MNT/c" >"$TMP/cat.out" &
pid=$!
blocked_in $pid read
kill -INT $pid
wait_exit $pid
[ $RC -eq 130 ] || fail "rule 8: SIGINT to a waiting cat: exit $RC"
echo after >"$MNT/c" || fail "echo after SIGINT failed"
[ "$(timeout 10 cat "$MNT/c")" = after ] || fail "the channel lost data"
ok "rule 8: SIGINT ends a waiting cat, and the channel goes on"

# SIGKILL to a blocked reader.  A writer that saw it waits for POLLERR,
# which comes once the daemon has closed the killed reader's open.
"$CHANIO" -t 30 open r "$MNT/k1" rc read r 10 >"$TMP/r.out" 2>&1 &
rpid=$!
blocked_in $rpid read
"$CHANIO" -t 30 open w "$MNT/k1" w poll w none 10000 write w x >"$TMP/w.out" 2>&1 &
wpid=$!
for i in $(seq 200); do
	grep -qs "open w: ok" "$TMP/w.out" && break
	sleep 0.05
done
kill -KILL $rpid
wait_exit $rpid
[ $RC -eq 137 ] || fail "rule 8: SIGKILL to a blocked reader: exit $RC"
wait_exit $wpid
[ $RC -eq 0 ] && [ "$(cat "$TMP/w.out")" = "open w: ok
poll w: ERR
write w: EPIPE" ] || fail "after SIGKILL of the reader: $(cat "$TMP/w.out")"
ok "rule 8: SIGKILL ends a blocked reader, and its open is closed"

# SIGKILL to a blocked writer: none of its write goes in.
"$CHANIO" -t 30 open w "$MNT/k2" wnc fill w 4096 nonblock w 0 writen w 4096 \
    >"$TMP/w2.out" 2>&1 &
wpid=$!
blocked_in $wpid write
kill -KILL $wpid
wait_exit $wpid
[ $RC -eq 137 ] || fail "rule 8: SIGKILL to a blocked writer: exit $RC"
expect "rule 8: SIGKILL ends a blocked writer; its write is not in" \
    ci open r "$MNT/k2" rn drain r <<-'EOF'
open r: ok
drain r: 65536 ok eof
EOF

# stop SIG: block callers of every kind, send SIG to the daemon.
stop() {
	local sig=$1 pids p f

	: >"$MNT/cat" || fail "cannot make a channel"
	"$CHANIO" -t 30 open r "$MNT/r" rc read r 10 >"$TMP/r.out" 2>&1 &
	pids="$!:read:r"
	"$CHANIO" -t 30 open w "$MNT/w" wnc fill w 4096 nonblock w 0 writen w 4096 \
	    >"$TMP/w.out" 2>&1 &
	pids="$pids $!:write:w"
	"$CHANIO" -t 30 open r "$MNT/big" rc read r 100000 >"$TMP/big.out" 2>&1 &
	pids="$pids $!:read:big"
	cat "$MNT/cat" >"$TMP/cat.out" 2>&1 &
	pids="$pids $!:read:cat"
	for p in $pids; do
		blocked_in "${p%%:*}" "$(echo "$p" | cut -d: -f2)"
	done
	"$CHANIO" -t 30 open p "$MNT/r" rn poll p in 60000 >"$TMP/p.out" 2>&1 &
	ppid_=$!
	for i in $(seq 200); do
		grep -qs "open p: ok" "$TMP/p.out" && break
		sleep 0.05
	done

	kill -"$sig" "$DPID"
	wait_exit "$DPID" 20
	[ $RC -eq 0 ] || fail "SIG$sig: the daemon exited $RC: $(cat "$TMP/daemon.log")"
	DPID=
	ipcfs_mounted "$MNT" && fail "SIG$sig: still mounted"
	for p in $pids; do
		wait_exit "${p%%:*}"
		f=$TMP/${p##*:}.out
		case ${p##*:} in
		cat)
			[ $RC -ne 0 ] || fail "SIG$sig: cat exit 0: $(cat "$f")" ;;
		r|big)
			[ $RC -eq 0 ] && grep -qE '^read r: E[A-Z]+$' "$f" ||
			    fail "SIG$sig: reader: exit $RC: $(cat "$f")" ;;
		w)
			[ $RC -eq 0 ] && grep -qE '^writen w: E[A-Z]+$' "$f" ||
			    fail "SIG$sig: writer: exit $RC: $(cat "$f")" ;;
		esac
		echo "# SIG$sig: ${p##*:}: $(tail -n 1 "$f")"
	done
	wait_exit $ppid_
	[ $RC -eq 0 ] && grep -qE '^poll p: .*(ERR|HUP)' "$TMP/p.out" ||
	    fail "SIG$sig: poller: exit $RC: $(cat "$TMP/p.out")"
	echo "# SIG$sig: poller: $(tail -n 1 "$TMP/p.out")"
	ok "SIG$sig to the daemon: blocked callers get errors, it unmounts and exits 0"
}

stop TERM
# This shell starts the daemon with SIGINT ignored, as any shell without
# job control starts a background job; libfuse leaves an ignored signal
# alone, so the daemon must take SIGINT back itself.
ipcfs_remount
sigign=$(awk '/^SigIgn:/ { print $2 }' "/proc/$DPID/status")
[ $((0x$sigign & 2)) -eq 0 ] || fail "the daemon ignores SIGINT (SigIgn $sigign)"
stop INT
finish
