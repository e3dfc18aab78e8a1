#!/usr/bin/env bash
# Seeking programs, and the kernel's copy paths, on a channel.
#
# A re-read is a re-read.  With regions on (passthrough, pagecache) a
# channel file has a file position, and ordinary programs use it: bash's
# read builtin reads a block and seeks back to the end of the line it
# used, less reads the first bytes to sniff for binary and seeks back to
# 0, Python's BufferedRandom seeks back over its read-ahead before a
# write.  A stream that hands out each byte only once would lose all they
# seek back over.  So each open that reads keeps what it was given: a read
# at an offset inside that gets the same bytes again, as from a regular
# file, and only a read at the end of it takes new bytes from the stream.
# With region=off there is no file position; the same programs then read
# as from a pipe, and every case must work there too.
#
# The kernel's copies never take stream bytes.  sendfile, splice and
# copy_file_range read a file through the kernel's page cache, ahead of
# what was asked and bounded by the file size; stream bytes taken there
# would be lost.  They read the region (the st_size bytes) instead.
#
# What the tools do (Linux 6.18, GNU coreutils 9.1, Python 3.11):
#   - cp tries FICLONE, then copy_file_range, then read().  To a file on
#     another file system copy_file_range fails with EXDEV in the kernel,
#     before ipcfs sees anything, so cp read()s: it copies the stream.
#     Within the mount, ipcfs has no FUSE copy_file_range, so the kernel
#     splices instead: cp copies the region, into the copy's stream.
#     When the first copy_file_range returns 0 (an empty region) cp takes
#     the file for one that lies about its size, as /proc files do, and
#     read()s the stream after all.
#   - shutil.copyfile uses sendfile: it copies the region.
#   - With region=off the kernel refuses sendfile (EINVAL), and
#     copy_file_range too (EINVAL) unless the file size it has cached
#     leaves nothing to copy (0); a stream write grows that size until the
#     next stat, so either may come, and both are fine as long as no
#     stream byte moves.  cp and shutil then fall back to read() and copy
#     the stream, as from a pipe.
#
# seekio.py does the Python side, and tells bytes of the stream from
# bytes of the region by their patterns.
#
# Every case runs on the default mount (passthrough here), then with
# region=pagecache and region=off, except where it needs a file position
# or a mapping the mode lacks.  Every step that could block runs under
# timeout, so a hang fails its check and the test goes on.
# lib.sh's clean-up is not written for set -e: failures are checked.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
SEEKIO=$(dirname "$0")/seekio.py

# seekio.py, the Python side (see its top), with a time limit.
sio() {
	timeout 10 "$PY" "$SEEKIO" "$@"
}

# Like expect, for a step the kernel may answer in either of two ways:
# stdin holds both transcripts, with a line "or" between them.
expect_either() {
	local what=$1 want got rc=0

	shift
	want=$(cat)
	got=$("$@" 2>&1 </dev/null) || rc=$?
	if [ $rc -eq 0 ] && { [ "$got" = "${want%%$'\n'or$'\n'*}" ] ||
	    [ "$got" = "${want#*$'\n'or$'\n'}" ]; }; then
		ok "$what"
		return 0
	fi
	{
		echo "--- expected either:"
		echo "$want"
		echo "--- got (exit $rc):"
		echo "$got"
	} >&2
	notok "$what"
}

# channel NAME [SIZE]: a fresh channel holding 10000 stream bytes, and
# a region of SIZE bytes if given.
channel() {
	sio stream "$MNT/$1" 10000 >/dev/null ||
	    fail "cannot write channel $1"
	[ $# -lt 2 ] || sio region "$MNT/$1" "$2" >/dev/null ||
	    fail "cannot set up the region of $1"
}

# The steps the checks below run, each printing its transcript.
sendfile_then_drain() {
	sio sendfile "$MNT/$1" 4096 && sio drain "$MNT/$1"
}

# copy_file_range into DEST, then what is left in both streams.
cfr_then_drain() {
	sio cfr "$MNT/$1" "$MNT/$2" 4096 && sio drain "$MNT/$1" &&
	    sio drain "$MNT/$2"
}

splice_then_drain() {
	sio splice "$MNT/$1" 5 && sio drain "$MNT/$1"
}

cat_shows() {
	timeout 10 cat "$MNT/$1" >"$TMP/cat.out" && sio show "$TMP/cat.out"
}

copyfile_then_drain() {
	sio copyfile "$MNT/$1" "$TMP/$1.out" && sio drain "$MNT/$1"
}

# cp SRC DEST; then what DEST's stream holds (or DEST itself, off the
# mount), then what is left in SRC's stream.
cp_then_drain() {
	timeout 10 cp "$MNT/$1" "$2" || return
	case $2 in
	"$MNT"/*) sio drain "$2" ;;
	*) sio show "$2" ;;
	esac && sio drain "$MNT/$1"
}

# bash's read builtin reads a block from a seekable file and seeks back.
shell_reads() {
	seq 1 5 >"$MNT/loop" || fail "cannot write a channel"
	expect "$MODE: a while-read loop gets every line" \
	    timeout 10 bash -c 'while read -r l; do echo "L $l"; done <"$1"' \
	    _ "$MNT/loop" <<-'EOF'
	L 1
	L 2
	L 3
	L 4
	L 5
	EOF
	# The open is a writer too, so a read that finds the stream empty
	# waits (until the time limit): line 2 must come from what the
	# first read was given.
	seq 1 5 >"$MNT/rdwr" || fail "cannot write a channel"
	expect "$MODE: two reads through one O_RDWR open get lines 1 and 2" \
	    timeout 10 bash -c 'exec 3<>"$1"; read -r a <&3; echo "a=$a"
	    read -r b <&3; echo "b=$b"; exec 3<&-' _ "$MNT/rdwr" <<-'EOF'
	a=1
	b=2
	EOF
}

# less on a terminal, the pseudo-terminal of script(1).  q is typed only
# once the first screen has ended with less's (END) prompt, or the wait
# for it has given up, so no typeahead can be lost or come too early.
less_shows() {
	local pid

	command -v less >/dev/null 2>&1 || {
		notok "$MODE: less shows the first line: no less" \
		    "(tools/install-deps installs it)"
		return
	}
	printf 'first-line\nsecond-line\n' >"$MNT/less" ||
	    fail "cannot write a channel"
	rm -f "$TMP/less.in" "$TMP/less.out"
	mkfifo "$TMP/less.in" || fail "mkfifo"
	exec 4<>"$TMP/less.in"
	TERM=vt100 LINES=24 COLUMNS=80 LESS='' LESSOPEN='' LESSCLOSE='' \
	    LESSHISTFILE=- timeout -k 2 20 \
	    script -qec "less -- '$MNT/less'" /dev/null \
	    <"$TMP/less.in" >"$TMP/less.out" 2>&1 4>&- &
	pid=$!
	for _ in $(seq 200); do
		grep -q '(END)' "$TMP/less.out" 2>/dev/null && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	printf q >&4
	exec 4>&-
	wait_exit $pid 30
	if [ $RC -eq 0 ] && grep -q first-line "$TMP/less.out"; then
		ok "$MODE: less shows the first line"
	else
		{
			echo "--- less (exit $RC) showed:"
			cat -v "$TMP/less.out"
			echo
		} >&2
		notok "$MODE: less shows the first line"
	fi
}

# Python: BufferedRandom seeks back over its read-ahead before a write
# (it needs a seekable file: not with region=off); text-mode iteration
# reads in blocks.
python_reads() {
	if [ "$MODE" != off ]; then
		printf 'a\nb\nc\n' >"$MNT/rplus" ||
		    fail "cannot write a channel"
		expect "$MODE: r+b: a write keeps the unread read-ahead" \
		    sio rplus "$MNT/rplus" <<-'EOF'
		readline: b'a\n'
		write: 2
		flush: ok
		readline: b'b\n'
		readline: b'c\n'
		read1: b'X\n'
		EOF
	fi
	seq 1 3000 >"$MNT/lines" || fail "cannot write a channel"
	expect "$MODE: text-mode iteration after the writer closed" \
	    sio lines "$MNT/lines" 3000 <<-'EOF'
	lines: 3000, in order
	EOF
	: >>"$MNT/lines2" || fail "cannot make a channel"
	expect "$MODE: text-mode iteration while a writer writes, then closes" \
	    sio lines "$MNT/lines2" 3000 live <<-'EOF'
	lines: 3000, in order
	EOF
}

# sendfile, splice and copy_file_range of a channel whose region is empty:
# nothing to copy, and the 10000 stream bytes stay for the next read.
copy_empty() {
	channel send
	if [ "$MODE" = off ]; then
		expect "$MODE: sendfile is refused, stream intact" \
		    sendfile_then_drain send <<-'EOF'
		sendfile: EINVAL
		drain: 10000 bytes of the stream
		EOF
	else
		expect "$MODE: sendfile of an empty region: 0, stream intact" \
		    sendfile_then_drain send <<-'EOF'
		sendfile: 0, 0 bytes
		drain: 10000 bytes of the stream
		EOF
	fi
	channel splice
	expect "$MODE: splice of an empty region: 0, stream intact" \
	    splice_then_drain splice <<-'EOF'
	splice: 0, 0 bytes
	drain: 10000 bytes of the stream
	EOF
	channel cfr
	expect "$MODE: copy_file_range to another file system: EXDEV" \
	    sio cfr "$MNT/cfr" "$TMP/cfr.out" 4096 <<-'EOF'
	copy_file_range: EXDEV
	EOF
	if [ "$MODE" = off ]; then
		expect_either "$MODE: copy_file_range: 0 or EINVAL, stream ok" \
		    cfr_then_drain cfr cfr.copy <<-'EOF'
		copy_file_range: 0
		drain: 10000 bytes of the stream
		drain: 0 bytes
		or
		copy_file_range: EINVAL
		drain: 10000 bytes of the stream
		drain: 0 bytes
		EOF
	else
		expect "$MODE: copy_file_range, empty region: 0, stream ok" \
		    cfr_then_drain cfr cfr.copy <<-'EOF'
		copy_file_range: 0
		drain: 10000 bytes of the stream
		drain: 0 bytes
		EOF
	fi
}

# The same with an 8192-byte region, filled with its pattern through mmap
# where the mode maps, zeros with region=off: the region comes out, and
# cat still gets the whole stream.
copy_region() {
	local reg

	channel reg 8192
	if [ "$MODE" = off ]; then
		reg="zero bytes"
		expect "$MODE: sendfile with a region is refused" \
		    sio sendfile "$MNT/reg" 4096 <<-'EOF'
		sendfile: EINVAL
		EOF
	else
		reg="bytes of the region"
		expect "$MODE: sendfile gives the first 4096 region bytes" \
		    sio sendfile "$MNT/reg" 4096 <<-'EOF'
		sendfile: 4096, 4096 bytes of the region
		EOF
	fi
	expect "$MODE: splice gives the first 5 region bytes" \
	    sio splice "$MNT/reg" 5 <<-EOF
	splice: 5, 5 $reg
	EOF
	expect "$MODE: after sendfile and splice, cat gets the whole stream" \
	    cat_shows reg <<-'EOF'
	show: 10000 bytes of the stream
	EOF
}

# shutil.copyfile: sendfile, so the region.
copyfile() {
	channel cf
	if [ "$MODE" = off ]; then
		expect "$MODE: shutil.copyfile falls back to read(): stream" \
		    copyfile_then_drain cf <<-'EOF'
		copyfile: 10000 bytes of the stream
		drain: 0 bytes
		EOF
		# With a writer open it would wait for end of file, as
		# on a pipe: nothing more to check here.
		return
	fi
	expect "$MODE: shutil.copyfile of an empty region: an empty file" \
	    copyfile_then_drain cf <<-'EOF'
	copyfile: 0 bytes
	drain: 10000 bytes of the stream
	EOF
	# A writer and a reader keep the channel open throughout (the reader
	# so that rule 5 gives the writer no EPIPE once copyfile's own open
	# has gone).  Were copyfile to read the stream, it would take the
	# writer's bytes, then wait for more for ever.
	sio region "$MNT/cf2" 8192 >/dev/null || fail "cannot set up a region"
	expect "$MODE: shutil.copyfile with a writer open copies the region" \
	    sio copylive "$MNT/cf2" "$TMP/cf2.out" <<-'EOF'
	write: 10000
	copyfile: 8192 bytes of the region
	write after copyfile: 2000
	reader: 12000 bytes of the stream
	EOF
}

# GNU cp; the top of this file says which way it copies where.
cp_copies() {
	channel cp 8192
	expect "$MODE: cp to another file system read()s: the stream" \
	    cp_then_drain cp "$TMP/cp.out" <<-'EOF'
	show: 10000 bytes of the stream
	drain: 0 bytes
	EOF
	channel cp2 8192
	if [ "$MODE" = off ]; then
		expect "$MODE: cp within the mount read()s: the stream" \
		    cp_then_drain cp2 "$MNT/cp2.copy" <<-'EOF'
		drain: 10000 bytes of the stream
		drain: 0 bytes
		EOF
	else
		expect "$MODE: cp within the mount copies the region" \
		    cp_then_drain cp2 "$MNT/cp2.copy" <<-'EOF'
		drain: 8192 bytes of the region
		drain: 10000 bytes of the stream
		EOF
	fi
	channel cp3
	expect "$MODE: cp within the mount, empty region: read()s the stream" \
	    cp_then_drain cp3 "$MNT/cp3.copy" <<-'EOF'
	drain: 10000 bytes of the stream
	drain: 0 bytes
	EOF
}

# tail -f polls fstat() and, on a FUSE mount, reads no further than
# st_size says: it cannot follow a stream (cat does), but once it has read
# the channel's lines it must not call the channel truncated, nor print
# them twice.  -s 0.1 makes it poll often; nothing shows that it has
# polled, so it gets a second of it before it is stopped.
tail_follows() {
	local pid

	printf 't1\nt2\n' >"$MNT/tail" || fail "cannot write a channel"
	timeout -k 2 20 tail -f -s 0.1 "$MNT/tail" >"$TMP/tail.out" \
	    2>"$TMP/tail.err" &
	pid=$!
	for _ in $(seq 200); do
		grep -q t2 "$TMP/tail.out" 2>/dev/null && break
		sleep 0.05
	done
	printf 't3\n' >>"$MNT/tail" || fail "cannot write a channel"
	sleep 1
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	if [ "$(cat "$TMP/tail.out")" = "$(printf 't1\nt2')" ] &&
	    [ ! -s "$TMP/tail.err" ]; then
		ok "$MODE: tail -f prints the lines, reports no truncation"
	else
		{
			echo "--- tail -f printed:"
			cat "$TMP/tail.out"
			echo "--- and said:"
			cat "$TMP/tail.err"
		} >&2
		notok "$MODE: tail -f prints the lines, reports no truncation"
	fi
	rm -f "$MNT/tail"
}

cases() {
	shell_reads
	less_shows
	python_reads
	copy_empty
	copy_region
	copyfile
	cp_copies
	tail_follows
}

ipcfs_mount
watchdog 280
in_every_mode cases
finish
