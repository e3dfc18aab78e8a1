#!/bin/sh
# Two hosts share a directory through NATS JetStream.
# Usage: sh bridge.sh A B  (A and B: ipcfs mounts run with -o nats=URL;
# on two machines, they would both be /mnt/ipc)
set -eu
A=$1 B=$2

# Bridge a directory on each host: the same path is the same directory.
mkdir "$A/jobs" "$B/jobs"
setfattr -n user.ipcfs.bridge -v nats "$A/jobs"
setfattr -n user.ipcfs.bridge -v nats "$B/jobs"

# A channel made on A shows on B, within a second.
touch "$A/jobs/todo"
until [ -e "$B/jobs/todo" ]; do sleep 0.1; done
ls "$B/jobs"

# A reader on B, a writer on A: B gets every line, then end of file
# once the writer is gone.
exec 3<"$B/jobs/todo"
printf 'resize a.png\nresize b.png\n' >"$A/jobs/todo"
cat <&3
exec 3<&-

# Removing it on one host removes it on the others.
rm "$A/jobs/todo"
while [ -e "$B/jobs/todo" ]; do sleep 0.1; done
rmdir "$A/jobs" "$B/jobs"
echo done
