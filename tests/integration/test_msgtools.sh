#!/usr/bin/env bash
# Everyday tools on a message channel do what docs/modes.md's table
# ("Reading messages with everyday tools") says (issue 21, part 4): each
# reads a message whole if its buffer holds it, and otherwise fails with
# EMSGSIZE and leaves the message queued.
#
# - bash's read: where the channel can seek (a region mode), bash 5.2 reads
#   4096 bytes and seeks back to the end of the line, so messages up to
#   4096 bytes work, a line at a time; with region=off it reads one byte
#   at a time, so only 1-byte messages do.
# - head -c N reads at most N bytes and 8 KiB; head reads 8 KiB; less reads
#   8 KiB (after a 256-byte look whose failure it ignores) and shows
#   "read error" past that.
#
# The table's rows must give these sizes.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
export LESS= LESSOPEN= LESSCLOSE= TERM=dumb
for t in bash head less; do
	command -v $t >/dev/null || fail "$t is missing (tools/install-deps)"
done

# put N: one message of N bytes, N-1 x and a newline, on $C.
put() {
	"$PY" -c 'import os, sys
n = int(sys.argv[2])
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
os.write(fd, b"x" * (n - 1) + b"\n")' "$C" "$1" || fail "put $1"
}

# left: the size of each message still queued on $C, and take them.
left() {
	"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
out = []
try:
    while True:
        b = os.read(fd, 1 << 24)
        if not b:
            break
        out.append(str(len(b)))
except BlockingIOError:
    pass
print(" ".join(out) or "none")' "$C"
}

# try WHAT N WANT CMD...: put a message of N bytes, run CMD on it; WANT is
# "ok", and CMD must exit 0 with N bytes on stdout (or for bash's read,
# the line's length) and take the message; or WANT is the text CMD must
# print on stderr, or on stdout for less, and the message must stay.
try() {
	local what=$1 n=$2 want=$3 rc=0 out err q
	shift 3
	put "$n"
	timeout 10 "$@" <"$C" >"$TMP/out" 2>"$TMP/err" || rc=$?
	out=$(cat "$TMP/out")
	err=$(cat "$TMP/err")
	q=$(left)
	if [ "$want" = ok ]; then
		case $out in
		"$((n - 1))") ;;
		*) out=$(wc -c <"$TMP/out") ;;
		esac
		if [ $rc -eq 0 ] && [ -z "$err" ] && [ "$q" = none ] &&
		    { [ "$out" = "$n" ] || [ "$out" = "$((n - 1))" ]; }; then
			ok "$what: a message of $n bytes"
		else
			notok "$what, $n bytes: exit $rc, got $out, '$err'," \
			    "left: $q"
		fi
	else
		case "$out $err" in
		*"$want"*)
			[ "$q" = "$n" ] &&
			    ok "$what: a message of $n bytes: $want; it stays" ||
			    notok "$what, $n bytes: left $q, not $n"
			;;
		*)
			notok "$what, $n bytes: exit $rc, '$err', left: $q" ;;
		esac
	fi
}

BASHREAD=(bash -c 'read -r line && echo "${#line}"')
TOOBIG="Message too long"

ipcfs_mount
watchdog 200
C=$MNT/m
touch "$C" && setfattr -n user.ipcfs.framing -v messages "$C" ||
    fail "cannot make a message channel"
mode=$(region_mode)
if [ "$mode" = off ]; then
	echo "note: no region mode on $(uname -r): bash's read on a" \
	    "channel that can seek not tried"
else
	try "bash read ($mode)" 11 ok "${BASHREAD[@]}"
	try "bash read ($mode)" 4096 ok "${BASHREAD[@]}"
	try "bash read ($mode)" 4097 "$TOOBIG" "${BASHREAD[@]}"
	"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
os.write(fd, b"one\ntwo\n")
os.write(fd, b"three\n")' "$C"
	expect "bash read ($mode): a line at a time, across messages" \
	    bash -c 'exec <"$1"; read -r a; read -r b; read -r c
echo "$a $b $c"' - "$C" <<-'EOF'
	one two three
	EOF
	[ "$(left)" = none ] || notok "bash read left messages behind"
fi
try "head -c 10" 10 ok head -c 10
try "head -c 10" 11 "$TOOBIG" head -c 10
try "head -c 100000" 8192 ok head -c 100000
try "head -c 100000" 8193 "$TOOBIG" head -c 100000
try "head" 8192 ok head -n 1
try "head" 8193 "$TOOBIG" head -n 1
try "less" 257 ok less
try "less" 8192 ok less
try "less" 8193 "read error" less

ipcfs_remount -o region=off
C=$MNT/m
touch "$C" && setfattr -n user.ipcfs.framing -v messages "$C" ||
    fail "cannot make a message channel"
try "bash read (region=off)" 1 ok "${BASHREAD[@]}"
try "bash read (region=off)" 2 "$TOOBIG" "${BASHREAD[@]}"
try "head -c 10 (region=off)" 10 ok head -c 10
try "less (region=off)" 8192 ok less
try "less (region=off)" 8193 "read error" less

# What the table says.
row() {
	awk -v p="| $1" 'index($0, p) == 1' "$TOP/docs/modes.md"
}
r=$(row 'bash `read`')
case $r in
*4096*"one byte"*"EMSGSIZE"*) ok "modes.md: bash read: 4096 bytes, one byte with region=off" ;;
*) notok "modes.md's row for bash read gives neither 4096 bytes nor one byte: $r" ;;
esac
r=$(row '`head -c N`')
case $r in
*"8 KiB"*"EMSGSIZE"*"read error"*) ok "modes.md: head and less: 8 KiB" ;;
*) notok "modes.md has no row for head -c N, head and less with 8 KiB: $r" ;;
esac

finish
