#!/usr/bin/env bash
# What else a held write must not freeze.  A blocking write() that does
# not fit waits in the daemon for room (rule 3).  The kernel keeps the
# inode's lock (i_rwsem) for as long as that WRITE request is outstanding,
# and the VFS needs the same lock to unlink, rename, chmod, chown, utimes,
# truncate, setxattr, for the O_TRUNC step of open and for a second write
# through any open; an unlink or rename that waits for it also holds the
# directory's lock, and then listing, creating and renaming in the
# directory wait too.  Most of these waits are uninterruptible (state D):
# not even SIGKILL ends them, and only a reader, the held writer's death
# or the daemon's stop frees them.  An O_RDWR open whose write comes
# before its read deadlocks for good: it is the only reader.  Rules 3 and
# 8 (docs/semantics.md) say a blocked write, and only it, waits, and that
# a signal ends the wait; nothing else on the channel or its directory
# may wait for it.
#
# Each case below makes a fresh directory d (d1, d2, ...) with a channel
# d/w and a spare name d/a, starts a writer with no reader
# (head -c 200000 >d/w) and waits until the daemon holds its write.  Then,
# one at a time, each operation runs in the background and must end within
# a hang guard of $GUARD seconds (5; HELD_GUARD=N for more) with the usual
# result; a write queued behind the held one must wait as an ordinary,
# killable wait (in a FUSE request, state S) and end on SIGKILL.  The
# guard is a loop in this shell rather than timeout(1): timeout's SIGKILL
# cannot end an uninterruptible sleep (timeout then waits with it), and
# the loop can show the stuck process's state and wait channel.  Nothing
# is timed: the guard only keeps a hang from hanging the test.
#
# After each case the held writer is killed first (that frees whatever
# still waits for its lock), then whatever the guard gave up on, and no
# process of this test may stay in state D.  All three region modes run
# (passthrough, pagecache, off, as far as the kernel offers them); every
# check runs even when others fail (KEEP_GOING), and the list of failures
# comes at the end.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
GUARD=${HELD_GUARD:-5}	# seconds an operation gets before it counts as stuck
HOLD=200000		# bytes the held writer writes: over 3 times capacity
N=0			# cases so far: case N works in $MNT/dN
K=0			# operations so far: operation K writes to $TMP/opK

# Two new opens map the region: a store through one is seen through the
# other (in page-cache mode the region was begun on the name's new inode).
COHERENT='import mmap, os, sys
a = os.open(sys.argv[1], os.O_RDWR)
b = os.open(sys.argv[1], os.O_RDONLY)
ma = mmap.mmap(a, 4096)
mb = mmap.mmap(b, 4096, prot=mmap.PROT_READ)
ma[100:105] = b"hello"
print("coherent" if mb[100:105] == b"hello" else "not coherent")'

# A new open's O_NONBLOCK write of one byte: EAGAIN, as the channel is full.
NBWRITE='import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
try:
    os.write(fd, b"x")
    print("write: no error")
except BlockingIOError:
    print("write: EAGAIN")'

# An O_RDWR open writes first, then reads: the write must say EAGAIN (not
# wait for a lock that only this open, as the reader, could free), and the
# reads must then bring every byte of the held writer.
RDWR='import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
try:
    os.write(fd, b"x")
    print("write: no error")
except BlockingIOError:
    print("write: EAGAIN")
os.set_blocking(fd, True)
data = b""
while len(data) < int(sys.argv[2]):
    b = os.read(fd, 65536)
    if not b:
        break
    data += b
print("read:", len(data), "bytes,",
      "all zero" if data.count(0) == len(data) else "not all zero")'

# describe PID: how PID and its children are stuck, on one line.
describe() {
	local out

	out=$(family "$1" | awk '{ printf "%s%s in state %s, wchan %s",
	    (NR > 1 ? "; " : ""), $3, $2, $4 }')
	echo "${out:-it has ended}"
}

# state PID: its state letter (S, D, R...); empty once it has ended.
state() {
	family "$1" | awk -v p="$1" '$1 == p { print $2 }'
}

# ends PID SECS: true if background job PID ends within SECS seconds (a
# hang guard, not a measurement); its exit status is then in RC.  Bash
# reports a job killed by a signal on stderr as soon as it notices; here
# that is noise, as the checks say what matters.
ends() {
	local pid=$1

	for _ in $(seq $(($2 * 20))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done 2>/dev/null
	kill -0 "$pid" 2>/dev/null && return 1
	RC=0
	wait "$pid" 2>/dev/null || RC=$?
	return 0
}

# hold: a fresh directory D=$MNT/dN with a spare channel $D/a and the
# channel $D/w, filled by a writer, HOLDER, whose next write the daemon
# holds, as no one reads w.
hold() {
	N=$((N + 1))
	D=$MNT/d$N
	STUCK=
	mkdir "$D" && : >"$D/a" || fail "cannot make $D/a"
	head -c $HOLD /dev/zero >"$D/w" &
	HOLDER=$!
	blocked_in $HOLDER write
}

# guarded WHAT CMD...: run CMD in the background, its output in $OUT, and
# give it $GUARD seconds to end.  True if it did, with its status in RC;
# else the check fails with how it is stuck, and release ends it.
guarded() {
	local what=$1 pid

	shift
	K=$((K + 1))
	OUT=$TMP/op$K
	"$@" >"$OUT" 2>&1 </dev/null &
	pid=$!
	ends $pid "$GUARD" && return 0
	notok "$what ($MODE): still waiting after ${GUARD}s: $(describe $pid)"
	STUCK="$STUCK $pid"
	return 1
}

# try WHAT WANT CMD...: CMD, under the guard, must exit 0 and print WANT
# (stdout and stderr together).
try() {
	local what=$1 want=$2

	shift 2
	guarded "$what" "$@" || return 1
	if [ $RC -ne 0 ] || [ "$(cat "$OUT")" != "$want" ]; then
		notok "$what ($MODE): exit $RC, printed" \
		    "'$(oneline "$(cat "$OUT")")', wanted '$(oneline "$want")'"
		return 1
	fi
	ok "$what ($MODE)"
}

# queued WHAT CMD...: CMD opens w and writes to it, and that write must
# wait behind the held one as any blocked write does (rules 3 and 8): its
# open returned and its write waits in the daemon, asleep in state S (not
# D), and SIGKILL ends it.
queued() {
	local what=$1 pid st

	shift
	K=$((K + 1))
	OUT=$TMP/op$K
	"$@" >"$OUT" 2>&1 </dev/null &
	pid=$!
	if "$CHANIO" waitblocked -t "$GUARD" $pid write 2>/dev/null; then
		ok "$what ($MODE): its write waits in the daemon"
	else
		notok "$what ($MODE): no write waiting in the daemon after" \
		    "${GUARD}s: $(describe $pid)"
	fi
	st=$(state $pid)
	if [ "$st" = S ]; then
		ok "$what ($MODE): waits in state S"
	else
		notok "$what ($MODE): waits in state ${st:-(ended)}, not S:" \
		    "$(describe $pid)"
	fi
	kill -KILL $pid 2>/dev/null
	if ! ends $pid "$GUARD"; then
		notok "$what ($MODE): SIGKILL did not end it in ${GUARD}s:" \
		    "$(describe $pid)"
		STUCK="$STUCK $pid"
	elif [ $RC -eq 137 ]; then
		ok "$what ($MODE): SIGKILL ends it"
	else
		notok "$what ($MODE): exit $RC, not SIGKILL; printed" \
		    "'$(oneline "$(cat "$OUT")")'"
	fi
}

# release: end the case.  Kill the held writer first, as that frees what
# waits for its lock, then what the guard gave up on; then nothing of
# this test may be left in state D.
release() {
	local p d

	{
		[ -n "$HOLDER" ] && kill -KILL $HOLDER
		for p in $HOLDER $STUCK; do
			kill -KILL $(family $p | cut -d' ' -f1)
		done
	} 2>/dev/null
	for p in $HOLDER $STUCK; do
		ends $p 10 || notok "case d$N ($MODE): SIGKILL did not end" \
		    "process $p after the held writer's: $(describe $p)"
	done
	HOLDER=
	STUCK=
	for _ in $(seq 100); do
		d=$(family $$ | awk '$2 == "D"')
		[ -z "$d" ] && return 0
		sleep 0.05
	done
	fail "case d$N ($MODE): left in state D (pid state comm wchan):" \
	    "$(oneline "$d")"
}

# An open made before the name moved on keeps the old inode of the
# kernel's; what changes through the name must show through it too: mode,
# region size and link count, as fstat() reports them.
OLDER='import os, stat, sys
p = sys.argv[1]
fd = os.open(p, os.O_WRONLY)
os.write(fd, b"x")
os.fstat(fd)
os.chmod(p, 0o600)
os.truncate(p, 8192)
st = os.fstat(fd)
print(oct(stat.S_IMODE(st.st_mode)), st.st_size, end=" ")
os.unlink(p)
print(os.fstat(fd).st_nlink)'

# A region is one for every open, whichever inode of the kernel's each
# came through: an open for writing moves the name on (passthrough, off),
# and stores through either mapping show through the other.
ACROSS='import mmap, os, sys
p = sys.argv[1]
a = os.open(p, os.O_RDWR)
os.write(a, b"x")
os.truncate(p, 4096)
b = os.open(p, os.O_RDWR)
ma = mmap.mmap(a, 4096)
mb = mmap.mmap(b, 4096)
ma[0:5] = b"older"
mb[5:10] = b"newer"
print(mb[0:5].decode(), ma[5:10].decode())'

cases() {
	# Attributes changed by name reach an open made before the move.
	N=$((N + 1))
	mkdir "$MNT/d$N" && : >"$MNT/d$N/o" || fail "cannot make d$N/o"
	chmod 644 "$MNT/d$N/o"
	try "an older open sees mode, size and nlink changed by name" \
	    "0o600 8192 0" "$PY" -c "$OLDER" "$MNT/d$N/o"
	if [ "$MODE" != off ]; then
		: >"$MNT/d$N/m" || fail "cannot make d$N/m"
		try "one region through an older and a newer open" \
		    "older newer" "$PY" -c "$ACROSS" "$MNT/d$N/m"
	fi

	# Listing (ls -l: size and name), creating and renaming in d.
	hold
	try "held: ls -l d" "0 a
0 w" sh -c 'ls -l "$1" | awk "NR > 1 { print \$5, \$NF }"' sh "$D"
	try "held: ls d" "a
w" ls "$D"
	try "held: touch d/new" "" touch "$D/new"
	try "held: : > d/new2" "" bash -c ': >"$1"' bash "$D/new2"
	try "held: mv d/a d/b" "" mv "$D/a" "$D/b"
	try "held: ls d after those" "b
new
new2
w" ls "$D"
	release

	# rm w, then the directory must still work (an rm that still waits
	# holds the lock of d, and these would wait with it).
	hold
	try "held: rm w" "" rm "$D/w"
	try "held: touch d/new after rm w" "" touch "$D/new"
	try "held: mv d/a d/b after rm w" "" mv "$D/a" "$D/b"
	try "held: ls d after rm w" "b
new" ls "$D"
	release

	hold
	try "held: mv w x" "" mv "$D/w" "$D/x" &&
	    try "held: ls d after mv w x" "a
x" ls "$D"
	release

	hold
	try "held: chmod 600 w" "" chmod 600 "$D/w" &&
	    try "held: mode after chmod" 600 stat -c %a "$D/w"
	release

	hold
	try "held: chown 65534 w" "" chown 65534 "$D/w" &&
	    try "held: owner after chown" 65534 stat -c %u "$D/w"
	release

	hold
	try "held: touch -d @1234567890 w" "" touch -d @1234567890 "$D/w" &&
	    try "held: mtime after touch" 1234567890 stat -c %Y "$D/w"
	release

	hold
	try "held: truncate -s 4096 w" "" truncate -s 4096 "$D/w" &&
	    try "held: size after truncate" 4096 stat -c %s "$D/w" &&
	    [ "$MODE" != off ] &&
	    try "held: the new region is one for new opens" "coherent" \
	    "$PY" -c "$COHERENT" "$D/w"
	release

	# The daemon refuses setxattr; what counts is that the call returns.
	hold
	if guarded "held: setfattr -n user.x w" setfattr -n user.x -v 1 "$D/w"; then
		if [ $RC -eq 0 ] || grep -q "Operation not supported" "$OUT"; then
			ok "held: setfattr -n user.x w ($MODE)"
		else
			notok "held: setfattr -n user.x w ($MODE): exit $RC," \
			    "printed '$(oneline "$(cat "$OUT")")'"
		fi
	fi
	release

	# The O_TRUNC open must return; its write then waits behind the held one.
	hold
	queued "held: echo x > w" bash -c 'echo x >"$1"' bash "$D/w"
	release

	# A second write, through a new open.
	hold
	try "held: O_NONBLOCK write of a new open" "write: EAGAIN" \
	    "$PY" -c "$NBWRITE" "$D/w"
	release

	hold
	queued "held: blocking write of a new open" \
	    "$CHANIO" -t 60 open w "$D/w" w write w x
	release

	# The deadlock: an O_RDWR open writes before it reads.
	hold
	if try "held: O_RDWR open writes, then reads it all" \
	    "write: EAGAIN
read: $HOLD bytes, all zero" "$PY" -c "$RDWR" "$D/w" "$HOLD"; then
		if ! ends $HOLDER "$GUARD"; then
			notok "held: the held writer ends once read ($MODE):" \
			    "$(describe $HOLDER)"
		elif [ $RC -eq 0 ]; then
			HOLDER=
			ok "held: the held writer ends once read, exit 0 ($MODE)"
		else
			HOLDER=
			notok "held: the held writer ends once read ($MODE): exit $RC"
		fi
	fi
	release
}

ipcfs_mount
watchdog 240
in_every_mode cases
finish
