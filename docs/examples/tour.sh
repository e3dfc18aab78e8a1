#!/bin/sh
# The ipcfs tour in shell: channels behave like named pipes that buffer.
# Usage: sh tour.sh [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
set -eu
cd "${1:-/mnt/ipc}"

echo hello > greeting   # no reader yet: the line waits in the channel
cat greeting            # prints hello, then ends: no writer is left

cat greeting &          # a reader first: cat waits for a writer...
echo world > greeting   # ...and prints world when one comes
wait

ls                      # a channel is a file like any other
rm greeting
