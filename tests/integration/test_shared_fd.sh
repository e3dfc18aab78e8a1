#!/usr/bin/env bash
# One open file description of a channel shared by two processes, as the
# shell shares it (issue 21):
#
#   exec 3<>chan; cat <&3 & echo hi >&3            idiom 1: a read is held
#   exec 3>chan; seq 1 100000 >&3 & echo x >&3     idiom 2: a write is held
#
# On a FIFO both just work.  On a channel the kernel may make the echo wait,
# uninterruptibly (state D), for a lock that the held call keeps: the
# file-position lock of an open with a position (fdget_pos), or for a
# write the inode lock (fuse_dio_lock).  docs/semantics.md ("One open
# shared by several processes") says which modes avoid which, and why the
# others cannot; this test holds the daemon to it:
#
#   mode          idiom 1                   idiom 2
#   passthrough   echo waits in D: a limit  echo waits in S, then goes in
#   pagecache     echo waits in D: a limit  echo waits in D: a limit
#   off           echo goes through         echo waits in S, then goes in
#
# In passthrough and off modes idiom 2 also runs with SIGKILL for the
# waiting echo, and with a reader that never reads holding the channel
# open first: in passthrough mode the idiom's open then finds a
# passthrough open on the kernel's inode, and must be sent to a new one.
#
# The echo runs only once cat's read or seq's write is held by the daemon
# (cat and seq are started first, and the script waits on a FIFO for the
# word).  Where the echo goes through or waits in S, no process of the
# idiom may be seen in state D until it has, the echo's data must arrive,
# and in idiom 2 SIGKILL must end the waiting echo.  Where it waits in D
# (a documented limit), ending the held call (killing cat; a reader
# draining the channel) must free it.  A limit that no longer holds fails
# the test too: the documentation must then say so.  Every idiom runs under
# timeout -s KILL as a hang guard, and after each no process of this test
# may be left in state D.  Nothing is timed: waits are bounded only so that
# a hang cannot hang the test.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
GUARD=${SHARED_GUARD:-10}	# seconds a step gets before it counts as stuck
LIMIT=60			# timeout -s KILL for each idiom: the hang guard
N=0

# The idioms, as scripts for bash -c.  Nothing is written to standard
# output before the echo: bash's first output stats its standard output,
# as it does in a script, and that is part of what is tested.
IDIOM1='exec 3<>"$1"
cat <&3 >"$2" &
read -r _ <"$3"
echo hi >&3
: >"$4"
wait'
IDIOM2='exec 3>"$1"
seq 1 100000 >&3 &
read -r _ <"$2"
echo x >&3
: >"$3"
wait'

# child_of PID COMM: the pid of PID's child named COMM, once there is one.
child_of() {
	local i c

	for i in $(seq $((GUARD * 20))); do
		c=$(family "$1" | awk -v p="$1" -v c="$2" \
		    '$1 != p && $3 == c { print $1; exit }')
		[ -n "$c" ] && { echo "$c"; return 0; }
		sleep 0.05
	done
	return 1
}

# state_of PID: "state wchan" of PID; empty once it has ended.
state_of() {
	local s w rest

	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0
	rest=${s##*) }
	w=
	{ read -r w <"/proc/$1/wchan"; } 2>/dev/null
	echo "${rest%% *} ${w:-?}"
}

# watch PID DONE WHAT: until the file DONE exists, note in SEEN_D every
# process of PID's family seen in state D.  True if DONE came within the
# guard.  A state is read before DONE is looked at, so a process that is
# already past the call watched (closing a file, say) is never counted.
watch() {
	local pid=$1 done=$2 d i

	for i in $(seq $((GUARD * 20))); do
		d=$(family "$pid" | awk '$2 == "D"')
		[ -e "$done" ] && return 0
		[ -n "$d" ] && SEEN_D="$SEEN_D${SEEN_D:+ | }$(oneline "$d")"
		sleep 0.05
	done
	return 1
}

# until_state PID STATE: true once PID is in STATE (S, D...) and a FUSE
# request or the lock that STATE names holds it: the wait channel is
# request_wait_answer for S, and for D that of the lock.
until_state() {
	local i s

	for i in $(seq $((GUARD * 20))); do
		s=$(state_of "$1")
		case "$2 $s" in
		"S S request_wait_answer"|"D D fdget_pos"|"D D fuse_file_write_iter"*)
			return 0 ;;
		esac
		[ -z "$s" ] && return 1
		sleep 0.05
	done
	return 1
}

# ends PID: true if PID (a child of this shell) ends within the guard.
# Bash reports a job killed by a signal on stderr as soon as it notices;
# here that is noise, as the checks say what matters.
ends() {
	local i

	for i in $(seq $((GUARD * 20))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done 2>/dev/null
	kill -0 "$1" 2>/dev/null && return 1
	wait "$1" 2>/dev/null
	return 0
}

# settle WHAT PID: end the idiom's timeout PID and all it started; then
# no process of this test may be in state D.
settle() {
	local what=$1 pid=$2 d

	{
		kill -KILL $(family "$pid" | cut -d' ' -f1)
		# Only the timeout is this shell's: it ends at once.
		wait "$pid"
	} 2>/dev/null
	ends "$pid" || notok "$what ($MODE): still there after SIGKILL:" \
	    "$(oneline "$(family "$pid")")"
	for _ in $(seq 100); do
		d=$(family $$ | awk '$2 == "D"')
		[ -z "$d" ] && return 0
		sleep 0.05
	done
	fail "$what ($MODE): left in state D: $(oneline "$d")"
}

# start IDIOM ARGS...: run the idiom under timeout -s KILL; its pid (the
# timeout's) in PID and bash's in SH.
start() {
	local script=$1

	shift
	timeout -s KILL $LIMIT bash -c "$script" bash "$@" \
	    </dev/null >/dev/null 2>"$TMP/idiom.err" &
	PID=$!
	SH=$(child_of $PID bash) || fail "the idiom's bash never started"
}

# idiom1 fixed|limit
idiom1() {
	local what="idiom 1: exec 3<>c; cat <&3 & echo hi >&3" c out go sent
	local cat

	N=$((N + 1))
	c=$MNT/i$N out=$TMP/i$N.out go=$TMP/go$N sent=$TMP/i$N.sent
	mkfifo "$go" || fail "mkfifo"
	SEEN_D=
	start "$IDIOM1" "$c" "$out" "$go" "$sent"
	cat=$(child_of "$SH" cat) || fail "$what: cat never started"
	blocked_in "$cat" read
	echo go >"$go"
	if [ "$1" = fixed ]; then
		if watch $PID "$sent" && [ -z "$SEEN_D" ]; then
			ok "$what ($MODE): the echo goes through"
		else
			notok "$what ($MODE): the echo did not go through:" \
			    "${SEEN_D:-$(state_of "$SH")}"
		fi
		for _ in $(seq $((GUARD * 20))); do
			[ -s "$out" ] && break
			sleep 0.05
		done
		if [ "$(cat "$out")" = hi ]; then
			ok "$what ($MODE): cat gets hi"
		else
			notok "$what ($MODE): cat got '$(oneline "$(cat "$out")")'"
		fi
	else
		if until_state "$SH" D; then
			ok "$what ($MODE): a documented limit: the echo waits" \
			    "in state D ($(state_of "$SH"))"
		else
			notok "$what ($MODE): the documented limit is gone" \
			    "(the echo is $(state_of "$SH"), sent: $([ -e "$sent" ] &&
			    echo yes || echo no)): update docs/semantics.md"
		fi
		kill -KILL "$cat"
		if watch "$SH" "$sent"; then
			ok "$what ($MODE): killing cat frees the echo"
		else
			notok "$what ($MODE): killing cat did not free the" \
			    "echo: $(state_of "$SH")"
		fi
	fi
	settle "$what" $PID
}

# drained WHAT C OUT: a reader drains C until its writers have gone; then
# OUT must hold seq's lines in order and one x among them.
drained() {
	local what=$1 c=$2 out=$3 reader

	timeout -s KILL $LIMIT cat "$c" >"$out" 2>/dev/null &
	reader=$!
	if ! ends $reader; then
		notok "$what ($MODE): the reader never saw end of file"
		return
	fi
	# The x comes between two of seq's writes, which need not end
	# lines, as on a pipe.
	if [ "$(tr -cd x <"$out" | wc -c)" = 1 ] &&
	    sed -z 's/x\n//' "$out" | cmp -s - <(seq 1 100000); then
		ok "$what ($MODE): a reader gets seq's lines and the x"
	else
		notok "$what ($MODE): the reader got $(wc -c <"$out") bytes," \
		    "$(tr -cd x <"$out" | wc -c) of them x"
	fi
}

# idiom2 fixed|limit [kill|reader]: with kill, SIGKILL ends the waiting
# echo instead of a reader draining the channel; with reader, a reader
# that never reads has the channel open before the idiom opens it.
idiom2() {
	local what="idiom 2: exec 3>c; seq 1 100000 >&3 & echo x >&3" c out
	local go sent seq

	N=$((N + 1))
	c=$MNT/i$N out=$TMP/i$N.out go=$TMP/go$N sent=$TMP/i$N.sent
	mkfifo "$go" || fail "mkfifo"
	SEEN_D=
	if [ "${2:-}" = reader ]; then
		what="$what, c open for reading"
		: >"$c" && exec 7<"$c" || fail "cannot open $c"
	fi
	start "$IDIOM2" "$c" "$go" "$sent"
	seq=$(child_of "$SH" seq) || fail "$what: seq never started"
	blocked_in "$seq" write
	echo go >"$go"
	if [ "$1" = fixed ]; then
		# The echo's write reached the daemon, which holds it: the
		# echo sleeps in state S, and nothing of the idiom in D.
		if "$CHANIO" waitblocked -t "$GUARD" "$SH" write \
		    >/dev/null 2>&1 && until_state "$SH" S; then
			ok "$what ($MODE): the echo waits in state S"
		else
			notok "$what ($MODE): the echo is not waiting in S:" \
			    "$(state_of "$SH")"
		fi
		SEEN_D=$(family $PID | awk '$2 == "D"')
		[ -z "$SEEN_D" ] ||
		    notok "$what ($MODE): in state D: $(oneline "$SEEN_D")"
		if [ "${2:-}" = kill ]; then
			kill -KILL "$SH"
			if ends_not_child "$SH"; then
				ok "$what ($MODE): SIGKILL ends the waiting echo"
			else
				notok "$what ($MODE): SIGKILL did not end the" \
				    "echo: $(state_of "$SH")"
			fi
		else
			drained "$what" "$c" "$out"
			[ -e "$sent" ] &&
			    ok "$what ($MODE): the echo returned once drained" ||
			    notok "$what ($MODE): the echo never returned"
		fi
	else
		if until_state "$SH" D; then
			ok "$what ($MODE): a documented limit: the echo waits" \
			    "in state D ($(state_of "$SH"))"
		else
			notok "$what ($MODE): the documented limit is gone" \
			    "(the echo is $(state_of "$SH")): update" \
			    "docs/semantics.md"
		fi
		drained "$what" "$c" "$out"
		[ -e "$sent" ] &&
		    ok "$what ($MODE): a reader draining frees the echo" ||
		    notok "$what ($MODE): draining did not free the echo"
	fi
	settle "$what" $PID
	exec 7<&-
}

# ends_not_child PID: true if PID, not a child of this shell, ends within
# the guard (its parent, the idiom's timeout, then ends too: as ends()).
ends_not_child() {
	local i

	for i in $(seq $((GUARD * 20))); do
		case $(state_of "$1") in
		''|Z*) return 0 ;;
		esac
		sleep 0.05
	done 2>/dev/null
	return 1
}

cases() {
	# The first close on a mount asks the daemon to flush (it says it
	# need not, and the kernel stops asking): a close in state D, for a
	# moment, that is not what is watched here.
	: >"$MNT/warm" || fail "cannot make a channel"
	case $MODE in
	passthrough)	idiom1 limit; idiom2 fixed; idiom2 fixed kill
			idiom2 fixed reader ;;
	pagecache)	idiom1 limit; idiom2 limit ;;
	*)		idiom1 fixed; idiom2 fixed; idiom2 fixed kill
			idiom2 fixed reader ;;
	esac
}

ipcfs_mount
watchdog 280
in_every_mode cases
finish
