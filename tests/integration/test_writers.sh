#!/usr/bin/env bash
# Several writers on one channel while one of them is blocked.  Rules 3
# and 8 hold for every write, not just the first one to block: a
# non-blocking write still says EAGAIN, and a write waiting behind another
# one still ends with EINTR on a signal and at once on SIGKILL.
#
# The kernel keeps a FUSE inode's lock for as long as the daemon holds a
# write to it, and a second write to the same inode would wait for that
# lock, uninterruptibly, before ipcfs ever saw it.  So the name of a
# channel moves on to a new inode of the kernel's once an inode may be
# written (docs/semantics.md, "Seekability and the inode lock"): each
# writer here opens its own, and ipcfs sees every write.  In page-cache
# mode names move only when a write is held, so there the second writer
# opens after the first one blocked; writers that opened the same inode
# before a hold still share its lock (a documented limit).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1

writers() {
	expect "rule 3 ($MODE): O_NONBLOCK write gives EAGAIN while another waits" \
	    ci -t 5 open r "$MNT/w1" rnc open w1 "$MNT/w1" wn \
	    fill w1 4096 nonblock w1 0 \
	    bg A writen w1 4096 waitblocked A open w2 "$MNT/w1" wn \
	    writen w2 10 write w2 x drain r join A <<-'EOF'
	open r: ok
	open w1: ok
	fill w1: 65536 EAGAIN
	nonblock w1: ok
	waitblocked A: yes
	open w2: ok
	writen w2: EAGAIN
	write w2: EAGAIN
	drain r: 69632 ok EAGAIN
	writen w1: 4096
	EOF
	expect "rule 8 ($MODE): a write waiting behind another gets EINTR" \
	    ci -t 5 open r "$MNT/w2" rnc open w1 "$MNT/w2" wn \
	    fill w1 4096 nonblock w1 0 \
	    bg A writen w1 4096 waitblocked A open w2 "$MNT/w2" w \
	    bg B write w2 x blocked B 300 \
	    kill B USR1 join B drain r join A <<-'EOF'
	open r: ok
	open w1: ok
	fill w1: 65536 EAGAIN
	nonblock w1: ok
	waitblocked A: yes
	open w2: ok
	blocked B: yes
	write w2: EINTR
	drain r: 69632 ok EAGAIN
	writen w1: 4096
	EOF
	expect "rule 8 ($MODE): SIGKILL ends a write waiting behind another" \
	    ci -t 5 open r "$MNT/w3" rnc open w1 "$MNT/w3" wn \
	    fill w1 4096 nonblock w1 0 \
	    bg A writen w1 4096 waitblocked A open w2 "$MNT/w3" w \
	    bg B write w2 x blocked B 300 \
	    kill B KILL join B drain r join A <<-'EOF'
	open r: ok
	open w1: ok
	fill w1: 65536 EAGAIN
	nonblock w1: ok
	waitblocked A: yes
	open w2: ok
	blocked B: yes
	join B: SIGKILL
	drain r: 69632 ok EAGAIN
	writen w1: 4096
	EOF
	[ "$MODE" = pagecache ] || early
	# Queued writers all complete as room appears.
	expect "rule 3 ($MODE): two blocked writers both complete, in turn" \
	    ci open r "$MNT/w4" rc open w1 "$MNT/w4" wn open w2 "$MNT/w4" w \
	    fill w1 4096 nonblock w1 0 bg A writen w1 4096 waitblocked A \
	    bg B writen w2 4096 blocked B 300 readn r 65536 join A join B \
	    <<-'EOF'
	open r: ok
	open w1: ok
	open w2: ok
	fill w1: 65536 EAGAIN
	nonblock w1: ok
	waitblocked A: yes
	blocked B: yes
	readn r: 65536 ok
	writen w1: 4096
	writen w2: 4096
	EOF
}

# The second writer opened the channel before the first one blocked: it
# has an inode of its own where names move as soon as a writer opens.
early() {
	expect "rule 3 ($MODE): O_NONBLOCK write of an earlier open gives EAGAIN" \
	    ci -t 5 open r "$MNT/e1" rnc open w1 "$MNT/e1" wn \
	    open w2 "$MNT/e1" wn fill w1 4096 nonblock w1 0 \
	    bg A writen w1 4096 waitblocked A writen w2 10 write w2 x \
	    drain r join A <<-'EOF'
	open r: ok
	open w1: ok
	open w2: ok
	fill w1: 65536 EAGAIN
	nonblock w1: ok
	waitblocked A: yes
	writen w2: EAGAIN
	write w2: EAGAIN
	drain r: 69632 ok EAGAIN
	writen w1: 4096
	EOF
	expect "rule 8 ($MODE): SIGKILL ends a write of an earlier open" \
	    ci -t 5 open r "$MNT/e2" rnc open w1 "$MNT/e2" wn \
	    open w2 "$MNT/e2" w fill w1 4096 nonblock w1 0 \
	    bg A writen w1 4096 waitblocked A bg B write w2 x blocked B 300 \
	    kill B KILL join B drain r join A <<-'EOF'
	open r: ok
	open w1: ok
	open w2: ok
	fill w1: 65536 EAGAIN
	nonblock w1: ok
	waitblocked A: yes
	blocked B: yes
	join B: SIGKILL
	drain r: 69632 ok EAGAIN
	writen w1: 4096
	EOF
}

ipcfs_mount
watchdog 200
for MODE in passthrough pagecache off; do
	[ "$MODE" = passthrough ] || ipcfs_remount -o region=$MODE
	[ "$(region_mode)" = "$MODE" ] || fail "region mode $MODE not in use"
	writers
done
finish
