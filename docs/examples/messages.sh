#!/bin/sh
# A message queue and a broadcast channel in the shell.
# Usage: sh messages.sh [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
set -eu
cd "${1:-/mnt/ipc}"

# A message queue: each write is one message, each read takes one whole.
touch jobs
setfattr -n user.ipcfs.framing -v messages jobs
exec 3<>jobs                    # open it to read and write, and keep it
printf 'resize a.png' >&3       # one printf, one write(), one message
printf 'resize b.png' >&3
dd bs=64K count=1 status=none <&3; echo     # one read(): one message
dd bs=64K count=1 status=none <&3; echo
exec 3>&-
getfattr -n user.ipcfs.stats --only-values jobs | grep '^messages'
rm jobs

# A broadcast: every reader gets every line.  Set on a directory, the
# setting is the default of the channels made in it.
mkdir news
setfattr -n user.ipcfs.delivery -v broadcast news
touch news/feed
exec 4<news/feed 5<news/feed    # two readers, open before the writer
echo sunny > news/feed
echo windy > news/feed
sed 's/^/reader 4: /' <&4       # each gets both lines, then end of file
sed 's/^/reader 5: /' <&5
exec 4<&- 5<&-
rm news/feed
rmdir news
