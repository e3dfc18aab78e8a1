#!/usr/bin/env bash
# Framing and delivery from the shell (issue 11, docs/modes.md): a message
# queue and a broadcast channel made with setfattr, used with echo, cat,
# dd and head, watched with getfattr; a directory's settings for the
# channels made in it; the mount options that set the root's.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
ipcfs_mount
watchdog 100

# The figure $2 of channel $1, from getfattr.
fig() {
	getfattr -n user.ipcfs.stats --only-values "$1" |
	    awk -v k="$2" '$1 == k { print $2 }'
}

# The figures of channel $1 named by the other arguments, as getfattr
# shows them: "key value" lines, in its order.
figs() {
	local f=$1

	shift
	getfattr -n user.ipcfs.stats --only-values "$f" |
	    grep -E "^($(echo "$@" | tr ' ' '|')) "
}

# The framing and delivery of each name given, one line each.
modes() {
	local f

	for f in "$@"; do
		echo "$f $(getfattr -n user.ipcfs.framing --only-values "$f")" \
		    "$(getfattr -n user.ipcfs.delivery --only-values "$f")"
	done
}

# Wait until figure $2 of channel $1 is $3 (a hang guard, 20 s).
wait_fig() {
	local i

	for i in $(seq 400); do
		[ "$(fig "$1" "$2")" = "$3" ] && return 0
		sleep 0.05
	done
	fail "$2 of $1 never became $3: $(fig "$1" "$2")"
}

cd "$MNT" || fail "cd $MNT"

# --- A message queue ----------------------------------------------------
touch q
setfattr -n user.ipcfs.framing -v messages q || fail "setfattr framing"
expect "getfattr shows the framing" \
    getfattr -n user.ipcfs.framing --only-values q <<-'EOF'
messages
EOF
echo one > q
echo two > q
printf 'three\n' > q
expect "three messages" \
    figs q framing delivery buffered_messages buffered_bytes \
    messages_written <<-'EOF'
framing messages
delivery queue
buffered_bytes 14
buffered_messages 3
messages_written 3
EOF
# dd reads one block: one message, whatever the block size; a block
# smaller than the message is an error and takes nothing.
out=$(dd if=q bs=1 count=1 status=none 2>&1) && notok "dd bs=1 succeeded: $out"
case $out in
*"Message too long"*) ok "dd bs=1: Message too long" ;;
*) notok "dd bs=1: $out" ;;
esac
expect "dd bs=64K gets one whole message" \
    dd if=q bs=64K count=1 status=none <<-'EOF'
one
EOF
expect "cat gets the rest, then end of file" cat q <<-'EOF'
two
three
EOF
expect "the figures count what moved" \
    figs q buffered_messages bytes_written bytes_read messages_read <<-'EOF'
buffered_messages 0
bytes_written 14
bytes_read 14
messages_read 3
EOF
# A line per message, from a loop, to two readers sharing the queue.
cat q > "$TMP/r1" &
R1=$!
cat q > "$TMP/r2" &
R2=$!
wait_fig q readers 2
{ for i in $(seq 200); do echo "line $i"; done; } > q &
W=$!
wait_exit $R1 30
[ $RC -eq 0 ] || notok "reader 1 exit $RC"
wait_exit $R2 30
[ $RC -eq 0 ] || notok "reader 2 exit $RC"
wait_exit $W 30
[ $RC -eq 0 ] || notok "writer exit $RC"
expect "each line once, whole, to one of the readers" \
    sh -c "cat '$TMP/r1' '$TMP/r2' | sort -V" <<-EOF
$(for i in $(seq 200); do echo "line $i"; done)
EOF
if [ "$(fig q messages_read)" = 203 ]; then
	ok "the two readers took 200 messages"
else
	notok "messages_read is $(fig q messages_read), not 203"
fi
# A message too large for the channel.
out=$(head -c 70000 /dev/zero | dd of=q bs=70000 count=1 iflag=fullblock \
    conv=notrunc status=none 2>&1) && notok "a 70000-byte message went in"
case $out in
*"Message too long"*) ok "a message past max_message: Message too long" ;;
*) notok "a message past max_message: $out" ;;
esac
[ "$(fig q buffered_messages)" = 0 ] || notok "it left a message"
# (Plain stat: "stat -c %o" asks the kernel for no field, and Linux then
# answers from its cache whatever the daemon says: fuse_update_get_attr
# never refreshes for an empty request mask.)
expect "st_blksize is the largest message" \
    sh -c "stat q | grep -o 'IO Block: [0-9]*'" <<-'EOF'
IO Block: 65536
EOF
setfattr -n user.ipcfs.framing -v bytes q || notok "back to bytes"
expect "a byte stream again" \
    sh -c "stat q | grep -o 'IO Block: [0-9]*'" <<-'EOF'
IO Block: 4096
EOF

# --- A broadcast channel ------------------------------------------------
touch b
setfattr -n user.ipcfs.delivery -v broadcast b || fail "setfattr delivery"
cat b > "$TMP/b1" &
B1=$!
cat b > "$TMP/b2" &
B2=$!
head -n 3 b > "$TMP/b3" &
B3=$!
wait_fig b readers 3
seq 10000 > b
wait_exit $B1 30
[ $RC -eq 0 ] || notok "cat 1 exit $RC"
wait_exit $B2 30
[ $RC -eq 0 ] || notok "cat 2 exit $RC"
wait_exit $B3 30
[ $RC -eq 0 ] || notok "head exit $RC"
seq 10000 > "$TMP/want"
cmp -s "$TMP/b1" "$TMP/want" || notok "cat 1 did not get every line"
cmp -s "$TMP/b2" "$TMP/want" || notok "cat 2 did not get every line"
ok "two cats each get all of seq 10000"
expect "head gets the first lines and leaves" cat "$TMP/b3" <<-'EOF'
1
2
3
EOF
expect "nothing is left, nobody has it open" \
    figs b delivery readers writers buffered_bytes <<-'EOF'
delivery broadcast
readers 0
writers 0
buffered_bytes 0
EOF
# setfattr on an open channel: busy.
sleep 30 < b &
S=$!
wait_fig b readers 1
out=$(setfattr -n user.ipcfs.delivery -v queue b 2>&1) &&
    notok "delivery changed on an open channel"
case $out in
*"busy"*) ok "changing an open channel: busy" ;;
*) notok "changing an open channel: $out" ;;
esac
setfattr -n user.ipcfs.delivery -v broadcast b ||
    notok "setting the value it has failed"
kill $S
wait $S 2>/dev/null
out=$(setfattr -n user.ipcfs.framing -v lines b 2>&1) &&
    notok "framing=lines accepted"
case $out in
*"Invalid argument"*) ok "a bad value: Invalid argument" ;;
*) notok "a bad value: $out" ;;
esac

# --- A directory's settings ---------------------------------------------
mkdir d
touch d/before
setfattr -n user.ipcfs.framing -v messages d
setfattr -n user.ipcfs.delivery -v broadcast d
mkdir d/sub
touch d/after d/sub/deep
expect "channels and directories made later take them" \
    modes d d/before d/after d/sub d/sub/deep <<-'EOF'
d messages broadcast
d/before bytes queue
d/after messages broadcast
d/sub messages broadcast
d/sub/deep messages broadcast
EOF
getfattr -d -m - d/after > "$TMP/dump" 2>&1
grep -q '^user.ipcfs.framing="messages"$' "$TMP/dump" &&
    grep -q '^user.ipcfs.delivery="broadcast"$' "$TMP/dump" &&
    grep -q '^user.ipcfs.capacity="65536"$' "$TMP/dump" ||
    notok "getfattr -d does not list them: $(cat "$TMP/dump")"
ok "getfattr -d -m - lists them"

# --- The mount options --------------------------------------------------
cd /
ipcfs_remount -o framing=messages,delivery=broadcast,capacity=8K
cd "$MNT" || fail "cd $MNT"
expect "the mount options set the root's" modes . <<-'EOF'
. messages broadcast
EOF
touch c
expect "and a new channel's" \
    figs c framing delivery capacity max_message <<-'EOF'
framing messages
delivery broadcast
capacity 8192
max_message 8192
EOF
cat c > "$TMP/c1" &
C1=$!
cat c > "$TMP/c2" &
C2=$!
wait_fig c readers 2
{ echo hello; echo world; } > c
wait_exit $C1 30
wait_exit $C2 30
expect "both subscribers get both messages" cat "$TMP/c1" "$TMP/c2" <<-'EOF'
hello
world
hello
world
EOF
cd /
finish
