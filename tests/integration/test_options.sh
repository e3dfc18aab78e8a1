#!/usr/bin/env bash
# The command line: -V, -h, bad options and mountpoints (one line on
# stderr naming the problem, exit 1, nothing mounted), running in the
# background, and what capacity, max_channels, max_memory and allow_other
# do to a mount.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
W=$(mktemp -d /tmp/ipcfs-opts.XXXXXX)
chmod 755 "$W"
BGPID=

# Until ipcfs_mount installs lib.sh's clean-up, clean up this part.
early_cleanup() {
	if grep -qs " $W/" /proc/mounts; then
		grep -s " $W/" /proc/mounts | while read -r _ mp _; do
			fusermount3 -u -z "$mp" 2>/dev/null || umount -l "$mp"
		done
	fi
	[ -n "$BGPID" ] && kill -9 "$BGPID" 2>/dev/null
	rm -rf "$W"
}
trap 'rc=$?; early_cleanup; exit $rc' EXIT
trap 'exit 1' INT TERM

# The pid of the daemon serving mountpoint $1, found by its command line.
daemon_of() {
	local p

	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q " $1 \?$" &&
		    [ "$(readlink "$p/exe")" = "$(readlink -f "$IPCFS")" ] &&
		    echo "${p#/proc/}"
	done
}

# -V and -h.
out=$("$IPCFS" -V 2>&1) || fail "-V exit $?"
fusever=$(pkg-config --modversion fuse3 2>/dev/null)
echo "$out" | grep -q "^ipcfs version [0-9]" || fail "-V: no ipcfs version: $out"
echo "$out" | grep -q "^FUSE library version ${fusever:-3}" ||
    fail "-V: no libfuse version ($fusever): $out"
ok "-V prints ipcfs's and libfuse's versions"
out=$("$IPCFS" -h 2>&1) || fail "-h exit $?"
for w in "usage:" "MOUNTPOINT" "capacity=" "max_channels=" "max_memory=" \
    "max_region=" "region=" "spin=" "framing=" "delivery=" "allow_other" \
    "-f "; do
	case $out in
	*"$w"*) ;;
	*) fail "-h does not mention '$w'" ;;
	esac
done
ok "-h prints the usage and every option"

# Bad options and mountpoints.
mkdir "$W/mp"
touch "$W/file"
# bad WHAT WORD ARGS...: ipcfs ARGS must exit 1 with one line on stderr
# that contains WORD, print nothing else and mount nothing.
bad() {
	local what=$1 word=$2 rc=0 lines

	shift 2
	timeout 10 "$IPCFS" -f "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
	lines=$(wc -l <"$W/err")
	if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || [ -s "$W/out" ] ||
	    ! grep -qi -- "$word" "$W/err" || grep -qs " $W/" /proc/mounts; then
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
		touch "$W/file"
		return 0
	fi
	ok "$what: $(cat "$W/err")"
}
bad "capacity below 4096" capacity -o capacity=1 "$W/mp"
bad "capacity not a number" capacity -o capacity=junk "$W/mp"
bad "capacity over 64 MiB" capacity -o capacity=65M "$W/mp"
bad "max_channels of 0" max_channels -o max_channels=0 "$W/mp"
bad "spin over 10000 us" spin -o spin=10001 "$W/mp"
bad "spin not a number" spin -o spin=fast "$W/mp"
bad "max_memory not a number" max_memory -o max_memory=lots "$W/mp"
bad "framing neither bytes nor messages" "framing: 'lines' is not bytes or messages" \
    -o framing=lines "$W/mp"
bad "delivery neither queue nor broadcast" "delivery: '' is not queue or broadcast" \
    -o delivery= "$W/mp"
bad "an unknown option" bogus -o bogus "$W/mp"
bad "bridge= without nats=" "bridge: needs nats=URL" -o bridge=jobs "$W/mp"
bad "bridge= with a .. in its path" "bridge: '../jobs'" -o bridge=../jobs "$W/mp"
bad "an unknown option among good ones" frobnicate \
    -o capacity=8192,frobnicate "$W/mp"
bad "no mountpoint" mountpoint
bad "a mountpoint that does not exist" "$W/none" "$W/none"
bad "a mountpoint that is a file" "$W/file" "$W/file"

# In the background: exit 0 once mounted, nothing on stderr (the log goes
# to syslog), and the daemon goes when the mount does.
rc=0
timeout 20 "$IPCFS" "$W/mp" >"$W/out" 2>"$W/err" </dev/null || rc=$?
BGPID=$(daemon_of "$W/mp")
[ $rc -eq 0 ] || fail "background start: exit $rc: $(cat "$W/err")"
ipcfs_mounted "$W/mp" || fail "background start: not mounted"
[ -n "$BGPID" ] || fail "background start: no daemon"
[ -s "$W/err" ] &&
    notok "without -f, logs go to syslog, yet stderr has: $(cat "$W/err")"
echo bg >"$W/mp/c" && [ "$(timeout 10 cat "$W/mp/c")" = bg ] ||
    fail "background mount does not carry data"
fusermount3 -u "$W/mp" || fail "fusermount3 -u failed"
for i in $(seq 600); do
	kill -0 "$BGPID" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$BGPID" 2>/dev/null && fail "the background daemon outlived its mount"
BGPID=
ok "without -f: mounts, returns 0, and leaves with the mount"

# -d: in the foreground, with libfuse's request trace and ipcfs's own
# debug lines on stderr.
"$IPCFS" -d "$W/mp" >"$W/out" 2>"$W/err" </dev/null &
BGPID=$!
for i in $(seq 100); do
	ipcfs_mounted "$W/mp" && break
	sleep 0.1
done
ipcfs_mounted "$W/mp" || fail "-d: not mounted: $(cat "$W/err")"
touch "$W/mp/d" || fail "-d: touch failed"
fusermount3 -u "$W/mp" || fail "-d: fusermount3 -u failed"
rc=0
wait "$BGPID" || rc=$?
BGPID=
[ $rc -eq 0 ] || fail "-d: the daemon exited $rc"
grep -q "unique: " "$W/err" || fail "-d: no request trace on stderr"
grep -q "fs_init: protocol" "$W/err" || fail "-d: no ipcfs debug line"
ok "-d runs in the foreground with debug output"

early_cleanup
trap - EXIT

# A default mount: 64 KiB channels, logs on stderr with -f, and only the
# mounting user (root) gets in.
ipcfs_mount
watchdog 120
grep -q "mounted on $MNT" "$TMP/daemon.log" ||
    fail "-f: no log line on stderr: $(cat "$TMP/daemon.log")"
ok "-f logs to stderr"
expect "the default capacity is 64 KiB" \
    ci open w "$MNT/c" wnc fill w 4096 fill w 1 <<-'EOF'
open w: ok
fill w: 65536 EAGAIN
fill w: 0 EAGAIN
EOF
touch "$MNT/o" || fail "touch failed"
chmod 0666 "$MNT/o" || fail "chmod failed"
out=$($NOBODY stat -c %F "$MNT/o" 2>&1) && fail "uid 65534 got in without allow_other: $out"
ok "without allow_other another user is kept out: $out"

ipcfs_remount -o capacity=8192
expect "capacity=8192 gives 8 KiB channels" \
    ci open w "$MNT/c" wnc fill w 4096 fill w 1 open v "$MNT/d" wnc \
    fill v 1 writen v 1 open r "$MNT/c" rn readn r 8192 writen w 8193 <<-'EOF'
open w: ok
fill w: 8192 EAGAIN
fill w: 0 EAGAIN
open v: ok
fill v: 8192 EAGAIN
writen v: EAGAIN
open r: ok
readn r: 8192 ok
writen w: 8192
EOF

ipcfs_remount -o max_channels=3
expect "max_channels=3: ENOSPC on the fourth" \
    ci open a "$MNT/a" wc open b "$MNT/b" wc mknod "$MNT/c" reg \
    open d "$MNT/d" wc mknod "$MNT/e" reg <<-'EOF'
open a: ok
open b: ok
mknod: ok
open d: ENOSPC
mknod: ENOSPC
EOF
out=$(mkdir "$MNT/dir" 2>&1) && fail "mkdir past max_channels worked"
case $out in
*"No space left"*) ok "mkdir past max_channels: ENOSPC" ;;
*) fail "mkdir past max_channels: $out" ;;
esac
rm "$MNT/a" || fail "rm failed"
# The daemon frees the name's node when the kernel forgets it, which the
# kernel does on its own time: wait for it, bounded.
for i in $(seq 100); do
	touch "$MNT/a2" 2>/dev/null && break
	sleep 0.1
done
[ -e "$MNT/a2" ] || fail "max_channels: no room again after rm"
ok "max_channels: a removed channel makes room again"

ipcfs_remount -o max_memory=16K,allow_other
expect "max_memory=16K bounds all channels together" \
    ci open a "$MNT/a" rwnc open b "$MNT/b" rwnc fill a 4096 fill b 1 \
    nonblock b 0 write b x <<-'EOF'
open a: ok
open b: ok
fill a: 16384 EAGAIN
fill b: 0 EAGAIN
nonblock b: ok
write b: ENOSPC
EOF
# A channel's buffer is freed once it is empty and closed; the daemon
# takes requests in order, so the close is done before the next write.
expect "max_memory: memory freed by one channel serves another" \
    ci open a "$MNT/a" rwn open b "$MNT/b" rwn drain a close a \
    fill b 4096 <<-'EOF'
open a: ok
open b: ok
drain a: 16384 ok EAGAIN
close a: ok
fill b: 16384 EAGAIN
EOF
expect "max_memory: a poller for room wakes when another channel frees it" \
    ci -t 10 open x "$MNT/b" rwn open p "$MNT/p" rwnc \
    bg P poll p out 60000 blocked P 300 drain x close x join P \
    fill p 4096 <<-'EOF'
open x: ok
open p: ok
blocked P: yes
drain x: 16384 ok EAGAIN
close x: ok
poll p: OUT
fill p: 16384 EAGAIN
EOF
touch "$MNT/o" && chmod 0666 "$MNT/o" || fail "touch failed"
expect "with allow_other another user gets in" \
    $NOBODY "$CHANIO" open r "$MNT/o" rn read r 10 <<-'EOF'
open r: ok
read r: EAGAIN
EOF

finish
