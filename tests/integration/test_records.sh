#!/usr/bin/env bash
# 8 writers and 4 readers, each its own process with its own open, move
# 10,000 records of 4,096 bytes through one channel.  Each record carries
# its writer, sequence number and a checksum; every one must arrive
# exactly once and intact, each writer's in order (see "records" in
# chanio.c).  Then the channel must be empty and idle.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

ipcfs_mount
watchdog 200

out=$("$CHANIO" records -t 150 -w 8 -r 4 -n 10000 -s 4096 "$MNT/rec" 2>&1) ||
    fail "records: $out"
echo "$out"
case $out in
"records: 10000 of 4096 bytes, 8 writers, 4 readers: ok"*) ;;
*) fail "records: $out" ;;
esac
ok "10,000 records of 4,096 bytes, 8 writers, 4 readers: each once, intact"

expect "nothing is left in the channel" \
    ci open r "$MNT/rec" rn read r 10 poll r in 0 <<-'EOF'
open r: ok
read r: EAGAIN
poll r: timeout
EOF

# Smaller records and a capacity they do not divide, so a torn write
# would show; more readers than writers.
out=$("$CHANIO" records -t 150 -w 3 -r 6 -n 6000 -s 1000 "$MNT/rec2" 2>&1) ||
    fail "records: $out"
echo "$out"
ok "6,000 records of 1,000 bytes, 3 writers, 6 readers: each once, intact"
finish
