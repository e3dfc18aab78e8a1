#!/bin/sh
# Owners and modes are the cluster's, and each host's kernel checks them.
# Usage: sh bridge-owners.sh A B, as root (it acts as uids 1000 and 1001
# with setpriv).  A and B: ipcfs mounts with -o nats=URL,allow_other; on
# two machines, they would both be /mnt/ipc.
set -eu
A=$1 B=$2
alice() { setpriv --reuid=1000 --regid=1000 --clear-groups "$@"; }
mallory() { setpriv --reuid=1001 --regid=1001 --clear-groups "$@"; }

# Alice bridges a private directory on A, with a private channel in it.
alice mkdir -m 700 "$A/alice"
alice setfattr -n user.ipcfs.bridge -v nats "$A/alice"
alice sh -c "umask 077; touch '$A/alice/secret'"

# On B, Mallory makes a directory of that name: she cannot bridge it.
mallory mkdir "$B/alice"
mallory setfattr -n user.ipcfs.bridge -v nats "$B/alice" 2>/dev/null ||
	echo "mallory: cannot bridge alice"
mallory rmdir "$B/alice"

# Alice can: hers on B takes the cluster's owner and mode.
alice mkdir "$B/alice"
alice setfattr -n user.ipcfs.bridge -v nats "$B/alice"
until [ -e "$B/alice/secret" ]; do sleep 0.1; done
cd "$B"
stat -c '%u %a %n' alice alice/secret
mallory ls alice 2>/dev/null || echo "mallory: cannot list alice"

# A chmod on A reaches B, where the kernel checks it.
alice chmod 755 "$A/alice"
until [ "$(stat -c %a alice)" = 755 ]; do sleep 0.1; done
mallory ls alice
mallory sh -c ': <alice/secret' 2>/dev/null ||
	echo "mallory: cannot open alice/secret"

alice rm "$A/alice/secret"
while [ -e alice/secret ]; do sleep 0.1; done
alice rmdir "$A/alice" alice
echo done
