#!/bin/sh
# Tools that read ahead and seek back get every byte of a channel.
# Usage: sh seek.sh [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
set -eu
cd "${1:-/mnt/ipc}"

seq 1 4 > lines
# head reads a block, prints one line and seeks back to the end of it,
# so the next command goes on from there, as on a regular file.
{ head -n 1; head -n 1; cat; } < lines

# bash's read builtin does the same on every line.
printf 'one\ntwo\n' > lines
bash -c 'while read -r w; do echo "read $w"; done' < lines

# One open for reading and writing, as exec 3<> makes it.
printf 'a\nb\n' > lines
exec 3<>lines
read -r x <&3
read -r y <&3
exec 3<&-
echo "$x then $y"
rm lines
