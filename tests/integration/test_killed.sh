#!/usr/bin/env bash
# When the daemon is killed (SIGKILL, a crash), the kernel aborts its
# connection: a read and a write that were waiting fail with ECONNABORTED,
# a waiting poll reports POLLERR, and every later call fails with ENOTCONN
# (close succeeds), until the mount is removed.  The documents say so
# (issue 21, part 4): semantics.md's tables for read and write, its section
# on the daemon stopping, ipcfs(1) and ipcfs(7).  A clean stop (SIGTERM)
# answers waiting calls with ENOTCONN: test_faults.py checks that.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
ipcfs_mount
watchdog 100

"$CHANIO" -t 60 open w "$MNT/s" wc open r "$MNT/s" r \
    open f "$MNT/full" wnc fill f 4096 nonblock f 0 \
    open g "$MNT/g" rc open gw "$MNT/g" w \
    bg R read r 100 bg W write f x bg P poll g in 30000 \
    waitblocked R waitblocked W join R join W join P \
    read r 10 write w x write f y poll w out 0 fstat r \
    close r close w close f open n "$MNT/s" r >"$TMP/out" 2>&1 &
pid=$!
for i in $(seq 200); do
	grep -q '^waitblocked W: yes' "$TMP/out" && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
grep -q '^waitblocked W: yes' "$TMP/out" ||
    fail "the read and the write never waited: $(cat "$TMP/out")"
# Let the poll reach the daemon too; it reports POLLERR either way.
sleep 0.2
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
DPID=
wait_exit $pid 30
[ "$RC" = 0 ] || notok "chanio exited $RC"
expect "killed: waiting calls get ECONNABORTED, later ones ENOTCONN" \
    sed '1,/^waitblocked W/d' "$TMP/out" <<-'EOF'
read r: ECONNABORTED
write f: ECONNABORTED
poll g: ERR
read r: ENOTCONN
write w: ENOTCONN
write f: ENOTCONN
poll w: ERR
fstat r: ENOTCONN
close r: ok
close w: ok
close f: ok
open n: ENOTCONN
EOF
out=$(stat "$MNT" 2>&1) && notok "stat of the dead mount worked"
case $out in
*"Transport endpoint is not connected"*) ok "stat of the mount: ENOTCONN" ;;
*) notok "stat of the dead mount: $out" ;;
esac

# What the documents say.
cd "$TOP" || fail "no $TOP"
# table CALL: the rows of semantics.md's table of errors for CALL.
table() {
	awk -v h="**$1**" '$0 == h { on = 1; next }
	    on && /^\*\*/ { exit }
	    on && /^\|/ { print }' docs/semantics.md
}
for call in read write; do
	t=$(table $call)
	a=$(printf '%s\n' "$t" | grep '^| `ECONNABORTED` |')
	n=$(printf '%s\n' "$t" | grep '^| `ENOTCONN` |')
	case $a in
	*killed*) ok "semantics.md, $call: ECONNABORTED when the daemon is killed" ;;
	*) notok "semantics.md's $call table has no ECONNABORTED row for a killed daemon" ;;
	esac
	case $n in
	*later*|*"once the daemon"*) ok "semantics.md, $call: ENOTCONN after" ;;
	*) notok "semantics.md's $call table: ENOTCONN for later calls: '$n'" ;;
	esac
done
awk '/^## When the daemon stops/ { on = 1; next } on && /^## / { exit }
    on { print }' docs/semantics.md | grep -q ECONNABORTED &&
    ok "semantics.md, when the daemon stops: ECONNABORTED" ||
    notok "semantics.md's 'When the daemon stops' names no ECONNABORTED"
for page in docs/ipcfs.1 docs/ipcfs.7; do
	grep -qE '^\.Er ECONNABORTED( |$)' "$page" &&
	    ok "$page names ECONNABORTED" ||
	    notok "$page does not name ECONNABORTED"
done
finish
