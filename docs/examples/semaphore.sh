#!/bin/sh
# A counting semaphore is a channel: one byte written posts, a one-byte
# read waits for a post and takes it.
# Usage: sh semaphore.sh [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
set -eu
cd "${1:-/mnt/ipc}"

: > sem
exec 3<>sem                 # held open: no end of file for the waiters
for w in 1 2 3; do          # three waiters, each takes one post
	(head -c 1 sem > /dev/null && echo "a waiter got a post") &
done
printf xxx >&3              # three posts at once: each wakes one waiter
wait
exec 3>&-
rm sem
