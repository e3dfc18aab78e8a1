#!/usr/bin/env bash
# The stream rules of a channel, numbered as in the issue, each checked
# with exact transcripts from build/chanio (see the top of chanio.c) and
# with real cat and echo.  Every rule holds in every region mode, so the
# whole set runs on the default mount and again with region=off (no file
# position) and, where the kernel has it, region=pagecache.
# lib.sh's clean-up is not written for set -e: failures are checked.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

rule1() {
	expect "rule 1: open O_RDONLY waits for no writer" \
	    ci open r "$MNT/r1" rc close r <<-'EOF'
	open r: ok
	close r: ok
	EOF
	expect "rule 1: open O_WRONLY waits for no reader" \
	    ci open w "$MNT/r1" w close w <<-'EOF'
	open w: ok
	close w: ok
	EOF
	expect "rule 1: open O_RDWR waits for nobody" \
	    ci open a "$MNT/r1" rw close a <<-'EOF'
	open a: ok
	close a: ok
	EOF
}

rule2() {
	expect "rule 2: bytes come out in the order they went in" \
	    ci open w "$MNT/r2a" wc open r "$MNT/r2a" rn \
	    write w one write w two write w three read r 100 <<-'EOF'
	open w: ok
	open r: ok
	write w: 3
	write w: 3
	write w: 5
	read r: 11 "onetwothree"
	EOF
	expect "rule 2: 300000 bytes through a 64 KiB channel, in order" \
	    ci open w "$MNT/r2b" wc open r "$MNT/r2b" r \
	    bg W writen w 300000 readn r 300000 join W <<-'EOF'
	open w: ok
	open r: ok
	readn r: 300000 ok
	writen w: 300000
	EOF
	expect "rule 2: each byte goes to exactly one reader" \
	    ci open w "$MNT/r2c" wc open r1 "$MNT/r2c" rn \
	    open r2 "$MNT/r2c" rn write w abcdef read r1 2 read r2 100 \
	    read r1 100 read r2 100 <<-'EOF'
	open w: ok
	open r1: ok
	open r2: ok
	write w: 6
	read r1: 2 "ab"
	read r2: 4 "cdef"
	read r1: EAGAIN
	read r2: EAGAIN
	EOF
	expect "rule 2: waiting readers are served in arrival order" \
	    ci open w "$MNT/r2d" wc open r1 "$MNT/r2d" r \
	    open r2 "$MNT/r2d" r open r3 "$MNT/r2d" r \
	    bg A read r1 100 waitblocked A bg B read r2 100 waitblocked B \
	    bg C read r3 100 waitblocked C \
	    write w first join A blocked B 200 blocked C 0 \
	    write w second join B blocked C 200 \
	    write w third join C <<-'EOF'
	open w: ok
	open r1: ok
	open r2: ok
	open r3: ok
	waitblocked A: yes
	waitblocked B: yes
	waitblocked C: yes
	write w: 5
	read r1: 5 "first"
	blocked B: yes
	blocked C: yes
	write w: 6
	read r2: 6 "second"
	blocked C: yes
	write w: 5
	read r3: 5 "third"
	EOF
}

rule3() {
	expect "rule 3: a write with no reader is accepted and waits" \
	    ci open w "$MNT/r3a" wc write w hello close w <<-'EOF'
	open w: ok
	write w: 5
	close w: ok
	EOF
	expect "rule 3: the next reader gets it, then end of file" \
	    ci open r "$MNT/r3a" r read r 100 read r 100 <<-'EOF'
	open r: ok
	read r: 5 "hello"
	read r: 0 ""
	EOF

	# Atomicity: records that do not divide the capacity leave room
	# for part of the next one, which a torn write would take; pausing
	# readers keep the channel full.  (The
	# kernel lets one write at a time into a FUSE file, so blocking
	# writers are kept apart there too; non-blocking ones show what
	# ipcfs itself does.)
	expect "rule 3: writes of 3000 bytes are never interleaved" \
	    ci records -p 4 -w 4 -r 1 -n 1000 -s 3000 "$MNT/r3b" <<-'EOF'
	records: 1000 of 3000 bytes, 4 writers, 1 readers: ok
	per reader: 1000
	EOF
	expect "rule 3: non-blocking writes of 3000 bytes are whole or EAGAIN" \
	    ci records -N -p 4 -w 4 -r 1 -n 1000 -s 3000 "$MNT/r3c" <<-'EOF'
	records: 1000 of 3000 bytes, 4 non-blocking writers, 1 readers: ok
	per reader: 1000
	EOF
	for mode in "" -N; do
		out=$(ci records $mode -p 4 -w 4 -r 3 -n 1500 -s 4096 "$MNT/r3d" 2>&1) ||
		    fail "rule 3: 4096-byte writes $mode, 3 readers: $out"
		case $out in
		"records: 1500 of 4096 bytes, 4"*" writers, 3 readers: ok"*) ;;
		*) fail "rule 3: 4096-byte writes $mode, 3 readers: $out" ;;
		esac
	done
	ok "rule 3: writes of 4096 bytes are never interleaved"

	expect "rule 3: a full channel: EAGAIN, or a blocking write waits" \
	    ci open w "$MNT/r3d" wnc fill w 4096 fill w 1 write w x \
	    nonblock w 0 bg W writen w 4096 waitblocked W blocked W 200 \
	    open r "$MNT/r3d" r readn r 4095 blocked W 200 readn r 1 \
	    join W readn r 65536 <<-'EOF'
	open w: ok
	fill w: 65536 EAGAIN
	fill w: 0 EAGAIN
	write w: EAGAIN
	nonblock w: ok
	waitblocked W: yes
	blocked W: yes
	open r: ok
	readn r: 4095 ok
	blocked W: yes
	readn r: 1 ok
	writen w: 4096
	readn r: 65536 ok
	EOF
	expect "rule 3: non-blocking: 4096 bytes whole or EAGAIN, more partly" \
	    ci open w "$MNT/r3e" wnc open r "$MNT/r3e" rn fill w 4096 \
	    readn r 1000 writen w 4096 writen w 2000 writen w 4097 \
	    writen w 1 readn r 5000 writen w 4096 writen w 10000 \
	    drain r <<-'EOF'
	open w: ok
	open r: ok
	fill w: 65536 EAGAIN
	readn r: 1000 ok
	writen w: EAGAIN
	writen w: EAGAIN
	writen w: 1000
	writen w: EAGAIN
	readn r: 5000 ok
	writen w: 4096
	writen w: 904
	drain r: 65536 ok EAGAIN
	EOF
	expect "rule 3: a blocking write of N returns N once all is in" \
	    ci open w "$MNT/r3f" wc open r "$MNT/r3f" r \
	    bg W writen w 200000 waitblocked W readn r 100000 \
	    blocked W 100 readn r 100000 join W <<-'EOF'
	open w: ok
	open r: ok
	waitblocked W: yes
	readn r: 100000 ok
	blocked W: yes
	readn r: 100000 ok
	writen w: 200000
	EOF
}

rule4() {
	expect "rule 4: a read returns what there is, never more than asked" \
	    ci open w "$MNT/r4a" wc open r "$MNT/r4a" rn write w hello \
	    read r 100 write w 'hello world' read r 5 read r 3 read r 100 \
	    read r 100 <<-'EOF'
	open w: ok
	open r: ok
	write w: 5
	read r: 5 "hello"
	write w: 11
	read r: 5 "hello"
	read r: 3 " wo"
	read r: 3 "rld"
	read r: EAGAIN
	EOF
	expect "rule 4: an empty channel: a read waits for data" \
	    ci open w "$MNT/r4b" wc open r "$MNT/r4b" r \
	    bg R read r 100 waitblocked R write w abc join R <<-'EOF'
	open w: ok
	open r: ok
	waitblocked R: yes
	write w: 3
	read r: 3 "abc"
	EOF
	expect "rule 4: end of file once the writers are gone" \
	    ci open r "$MNT/r4c" rc open w "$MNT/r4c" w write w x close w \
	    read r 10 read r 10 read r 10 <<-'EOF'
	open r: ok
	open w: ok
	write w: 1
	close w: ok
	read r: 1 "x"
	read r: 0 ""
	read r: 0 ""
	EOF
	expect "rule 4: no end of file before a writer is seen; then there is" \
	    ci open r "$MNT/r4d" rnc read r 10 nonblock r 0 \
	    bg R read r 10 waitblocked R open w "$MNT/r4d" w close w \
	    join R open w2 "$MNT/r4d" w write w2 again read r 10 <<-'EOF'
	open r: ok
	read r: EAGAIN
	nonblock r: ok
	waitblocked R: yes
	open w: ok
	close w: ok
	read r: 0 ""
	open w2: ok
	write w2: 5
	read r: 5 "again"
	EOF
	# Wait until the daemon has seen the close (the old reader sees end
	# of file), so the new reader opens after it.
	expect "rule 4: a reader opened after the writers left waits" \
	    ci open r0 "$MNT/r4e" rc open w "$MNT/r4e" w close w \
	    poll r0 in 60000 open r "$MNT/r4e" rn read r 10 read r0 10 <<-'EOF'
	open r0: ok
	open w: ok
	close w: ok
	poll r0: IN HUP
	open r: ok
	read r: EAGAIN
	read r0: 0 ""
	EOF

	: >"$MNT/r4f" || fail "rule 4: cannot make a channel"
	cat "$MNT/r4f" >"$TMP/cat1" &
	pid=$!
	blocked_in $pid read
	echo hi >"$MNT/r4f" || fail "rule 4: echo failed"
	wait_exit $pid
	[ $RC -eq 0 ] || fail "rule 4: cat started first: exit $RC"
	[ "$(cat "$TMP/cat1")" = hi ] || fail "rule 4: cat started first: got" \
	    "'$(cat "$TMP/cat1")'"
	ok "rule 4: cat started first waits for echo, prints hi and exits"

	echo hi >"$MNT/r4g" || fail "rule 4: echo failed"
	out=$(timeout 10 cat "$MNT/r4g") || fail "rule 4: echo first: cat failed"
	[ "$out" = hi ] || fail "rule 4: echo first: cat printed '$out'"
	ok "rule 4: echo done first, then cat prints hi and exits"
}

rule5() {
	# Wait for POLLERR, which comes once the daemon has seen the close.
	expect "rule 5: EPIPE once a reader was seen and is gone, no SIGPIPE" \
	    ci open w "$MNT/r5a" wc open r "$MNT/r5a" r write w x close r \
	    poll w none 60000 write w y writen w 10000 <<-'EOF'
	open w: ok
	open r: ok
	write w: 1
	close r: ok
	poll w: ERR
	write w: EPIPE
	writen w: EPIPE
	EOF
	expect "rule 5: a writer that never saw a reader buffers" \
	    ci open w "$MNT/r5a" w write w z open r "$MNT/r5a" rn read r 10 \
	    <<-'EOF'
	open w: ok
	write w: 1
	open r: ok
	read r: 2 "xz"
	EOF
	echo hi >"$MNT/r5b" || fail "rule 5: echo with no reader failed"
	ok "rule 5: echo into a channel nobody reads succeeds"
}

rule6() {
	expect "rule 6: O_RDWR is a writer: no end of file while it is open" \
	    ci open a "$MNT/r6a" rwnc open r "$MNT/r6a" rn write a x \
	    read a 10 read a 10 write a y read r 10 read r 10 close a \
	    poll r in 60000 read r 10 <<-'EOF'
	open a: ok
	open r: ok
	write a: 1
	read a: 1 "x"
	read a: EAGAIN
	write a: 1
	read r: 1 "y"
	read r: EAGAIN
	close a: ok
	poll r: IN HUP
	read r: 0 ""
	EOF
	expect "rule 6: O_RDWR is a reader: no EPIPE while it is open" \
	    ci open w "$MNT/r6b" wc open r "$MNT/r6b" r \
	    open a "$MNT/r6b" rw close r write w x close a \
	    poll w none 60000 write w y <<-'EOF'
	open w: ok
	open r: ok
	open a: ok
	close r: ok
	write w: 1
	close a: ok
	poll w: ERR
	write w: EPIPE
	EOF
	expect "rule 6: a blocked O_RDWR read is woken by a write elsewhere" \
	    ci open a "$MNT/r6c" rwc open w "$MNT/r6c" w \
	    bg R read a 10 waitblocked R write w hi join R <<-'EOF'
	open a: ok
	open w: ok
	waitblocked R: yes
	write w: 2
	read a: 2 "hi"
	EOF
	# With regions on, files are seekable, and the kernel's file
	# position lock makes a write through the same open file description
	# wait behind a blocked read (docs/regions.md); region=off has no
	# file position and no such lock.
	if [ "$MODE" = off ]; then
		expect "rule 6: one O_RDWR description: a write wakes its read" \
		    ci -t 10 open a "$MNT/r6d" rwc bg R read a 10 waitblocked R \
		    write a hi join R <<-'EOF'
		open a: ok
		waitblocked R: yes
		write a: 2
		read a: 2 "hi"
		EOF
	fi
}

rule7() {
	expect "rule 7: closing the last writer gives blocked readers EOF" \
	    ci open w1 "$MNT/r7a" wc open w2 "$MNT/r7a" w \
	    open r1 "$MNT/r7a" r open r2 "$MNT/r7a" r \
	    bg A read r1 10 bg B read r2 10 waitblocked A waitblocked B \
	    close w1 blocked A 300 blocked B 0 close w2 join A join B <<-'EOF'
	open w1: ok
	open w2: ok
	open r1: ok
	open r2: ok
	waitblocked A: yes
	waitblocked B: yes
	close w1: ok
	blocked A: yes
	blocked B: yes
	close w2: ok
	read r1: 0 ""
	read r2: 0 ""
	EOF
	# The kernel lets one write at a time into a FUSE file (the inode
	# lock), so B may wait in the kernel behind A rather than in ipcfs;
	# either way both must end with EPIPE.  test_writers.sh has more.
	expect "rule 7: closing the last reader gives blocked writers EPIPE" \
	    ci open r1 "$MNT/r7b" rc open r2 "$MNT/r7b" r \
	    open w1 "$MNT/r7b" wn open w2 "$MNT/r7b" w fill w1 4096 \
	    nonblock w1 0 bg A writen w1 4096 waitblocked A \
	    bg B writen w2 100 blocked B 300 close r1 blocked A 300 \
	    blocked B 0 close r2 join A join B <<-'EOF'
	open r1: ok
	open r2: ok
	open w1: ok
	open w2: ok
	fill w1: 65536 EAGAIN
	nonblock w1: ok
	waitblocked A: yes
	blocked B: yes
	close r1: ok
	blocked A: yes
	blocked B: yes
	close r2: ok
	writen w1: EPIPE
	writen w2: EPIPE
	EOF
}

rule8() {
	expect "rule 8: a signal ends a blocked read with EINTR" \
	    ci open r "$MNT/r8a" rc open w "$MNT/r8a" w \
	    bg R read r 10 waitblocked R kill R USR1 join R \
	    write w after read r 10 <<-'EOF'
	open r: ok
	open w: ok
	waitblocked R: yes
	read r: EINTR
	write w: 5
	read r: 5 "after"
	EOF
	expect "rule 8: SIGALRM in the reader itself gives EINTR" \
	    ci open r "$MNT/r8b" rc open w "$MNT/r8b" w alarm 500 read r 10 \
	    <<-'EOF'
	open r: ok
	open w: ok
	read r: EINTR
	EOF
	expect "rule 8: a signal ends a blocked write with EINTR" \
	    ci open r "$MNT/r8c" rnc open w "$MNT/r8c" wn fill w 4096 \
	    nonblock w 0 bg W writen w 4096 waitblocked W kill W USR1 join W \
	    drain r <<-'EOF'
	open r: ok
	open w: ok
	fill w: 65536 EAGAIN
	nonblock w: ok
	waitblocked W: yes
	writen w: EINTR
	drain r: 65536 ok EAGAIN
	EOF
	expect "rule 8: a signal gives a partly done write its count" \
	    ci open r "$MNT/r8d" rnc open w "$MNT/r8d" w \
	    bg W writen w 100000 waitblocked W kill W USR1 join W \
	    drain r <<-'EOF'
	open r: ok
	open w: ok
	waitblocked W: yes
	writen w: 65536
	drain r: 65536 ok EAGAIN
	EOF
	expect "rule 8: SIGKILL ends a blocked read, and loses no data" \
	    ci open r "$MNT/r8e" rc open w "$MNT/r8e" w \
	    bg R read r 10 waitblocked R kill R KILL join R \
	    write w x read r 10 <<-'EOF'
	open r: ok
	open w: ok
	waitblocked R: yes
	join R: SIGKILL
	write w: 1
	read r: 1 "x"
	EOF
	expect "rule 8: SIGKILL ends a blocked write" \
	    ci open r "$MNT/r8f" rnc open w "$MNT/r8f" wn fill w 4096 \
	    nonblock w 0 bg W writen w 4096 waitblocked W kill W KILL join W \
	    drain r <<-'EOF'
	open r: ok
	open w: ok
	fill w: 65536 EAGAIN
	nonblock w: ok
	waitblocked W: yes
	join W: SIGKILL
	drain r: 65536 ok EAGAIN
	EOF
}

rule9() {
	expect "rule 9: POLLIN with data, POLLOUT when 4096 bytes fit" \
	    ci open r "$MNT/r9a" rnc open w "$MNT/r9a" wn \
	    poll r in 0 select r r 0 epoll r in 0 \
	    poll w out 0 select w w 0 epoll w out 0 \
	    writen w 1 poll r in 0 select r r 0 epoll r in 0 readn r 1 \
	    poll r in 0 fill w 4096 poll w out 0 select w w 0 epoll w out 0 \
	    readn r 4095 poll w out 0 readn r 1 \
	    poll w out 0 select w w 0 epoll w out 0 poll r inout 0 \
	    <<-'EOF'
	open r: ok
	open w: ok
	poll r: timeout
	select r: timeout
	epoll r: timeout
	poll w: OUT
	select w: w
	epoll w: OUT
	writen w: 1
	poll r: IN
	select r: r
	epoll r: IN
	readn r: 1 ok
	poll r: timeout
	fill w: 65536 EAGAIN
	poll w: timeout
	select w: timeout
	epoll w: timeout
	readn r: 4095 ok
	poll w: timeout
	readn r: 1 ok
	poll w: OUT
	select w: w
	epoll w: OUT
	poll r: IN
	EOF
	expect "rule 9: POLLHUP under the end-of-file rule" \
	    ci open r "$MNT/r9b" rnc poll r in 0 open w "$MNT/r9b" w \
	    poll r in 0 write w x close w read r 10 poll r in 60000 \
	    select r r 0 epoll r in 0 read r 10 <<-'EOF'
	open r: ok
	poll r: timeout
	open w: ok
	poll r: timeout
	write w: 1
	close w: ok
	read r: 1 "x"
	poll r: IN HUP
	select r: r
	epoll r: IN HUP
	read r: 0 ""
	EOF
	expect "rule 9: POLLERR under the EPIPE rule" \
	    ci open w "$MNT/r9c" wnc poll w out 0 open r "$MNT/r9c" r \
	    close r poll w none 60000 poll w out 0 select w w 0 \
	    epoll w out 0 <<-'EOF'
	open w: ok
	poll w: OUT
	open r: ok
	close r: ok
	poll w: ERR
	poll w: OUT ERR
	select w: w
	epoll w: OUT ERR
	EOF
	# Poll time-outs outlast chanio's own limit: a wake-up that never
	# comes fails the check rather than ending with the time-out's
	# final look.
	expect "rule 9: waiting poll, select and epoll are woken" \
	    ci open r "$MNT/r9d" rnc open w "$MNT/r9d" wn \
	    bg P poll r in 60000 bg S select r r 60000 bg E epoll r in 60000 \
	    blocked P 300 blocked S 0 blocked E 0 writen w 1 \
	    join P join S join E readn r 1 fill w 4096 \
	    bg P poll w out 60000 bg S select w w 60000 \
	    bg E epoll w out 60000 blocked P 300 blocked S 0 blocked E 0 \
	    readn r 4096 join P join S join E drain r \
	    bg P poll r in 60000 blocked P 300 close w join P <<-'EOF'
	open r: ok
	open w: ok
	blocked P: yes
	blocked S: yes
	blocked E: yes
	writen w: 1
	poll r: IN
	select r: r
	epoll r: IN
	readn r: 1 ok
	fill w: 65536 EAGAIN
	blocked P: yes
	blocked S: yes
	blocked E: yes
	readn r: 4096 ok
	poll w: OUT
	select w: w
	epoll w: OUT
	drain r: 61440 ok EAGAIN
	blocked P: yes
	close w: ok
	poll r: IN HUP
	EOF
	expect "rule 9: a waiting poll is woken by the EPIPE rule" \
	    ci open w "$MNT/r9e" wnc open r "$MNT/r9e" r fill w 4096 \
	    bg P poll w out 60000 blocked P 300 close r join P <<-'EOF'
	open w: ok
	open r: ok
	fill w: 65536 EAGAIN
	blocked P: yes
	close r: ok
	poll w: OUT ERR
	EOF
	expect "rule 9: no spinning on an idle channel" \
	    ci open r "$MNT/r9f" rnc open w "$MNT/r9f" wn \
	    idle r in 1000 "$DPID" fill w 4096 idle w out 1000 "$DPID" \
	    <<-'EOF'
	open r: ok
	open w: ok
	idle r: ok
	fill w: 65536 EAGAIN
	idle w: ok
	EOF
}

rule10() {
	if [ "$MODE" != off ]; then
		# Seekable, but offsets are ignored: the stream goes on.  (In
		# passthrough mode an open for writing only has no position:
		# the writer here reads too.)
		expect "rule 10: offsets change nothing (seekable with regions)" \
		    ci open w "$MNT/r10" rwc open r "$MNT/r10" rn \
		    pwrite w abc 1000 lseek r 12345 pread r 2 5000 read r 10 \
		    write w def lseek w 0 write w ghi lseek r 0 read r 10 \
		    <<-'EOF'
		open w: ok
		open r: ok
		pwrite w: 3
		lseek r: 12345
		pread r: 2 "ab"
		read r: 1 "c"
		write w: 3
		lseek w: 0
		write w: 3
		lseek r: 0
		read r: 6 "defghi"
		EOF
	fi
	if [ "$MODE" = passthrough ]; then
		expect "rule 10: an open for writing only has no position" \
		    ci open w "$MNT/r10w" wc open r "$MNT/r10w" rn \
		    pwrite w abc 0 lseek w 5 write w abc read r 10 pos w <<-'EOF'
		open w: ok
		open r: ok
		pwrite w: ESPIPE
		lseek w: ESPIPE
		write w: 3
		read r: 3 "abc"
		pos w: 0
		EOF
	elif [ "$MODE" = off ]; then
		expect "rule 10: no file position: ESPIPE for seeks and p-calls" \
		    ci open w "$MNT/r10" wc open r "$MNT/r10" rn \
		    pwrite w abc 0 pread r 2 0 lseek r 0 lseek w 5 \
		    write w abc read r 10 pos w pos r <<-'EOF'
		open w: ok
		open r: ok
		pwrite w: ESPIPE
		pread r: ESPIPE
		lseek r: ESPIPE
		lseek w: ESPIPE
		write w: 3
		read r: 3 "abc"
		pos w: 0
		pos r: 0
		EOF
	fi
	expect "rule 10: a long stream is not bounded by a file offset" \
	    ci open w "$MNT/r10b" wc open r "$MNT/r10b" r \
	    bg W writen w 3000000 readn r 3000000 join W <<-'EOF'
	open w: ok
	open r: ok
	readn r: 3000000 ok
	writen w: 3000000
	EOF
}

rules() {
	rule1
	rule2
	rule3
	rule4
	rule5
	rule6
	rule7
	rule8
	rule9
	rule10
}

ipcfs_mount
watchdog 250
in_every_mode rules
finish
