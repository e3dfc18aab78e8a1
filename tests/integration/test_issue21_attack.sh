#!/usr/bin/env bash
# A hostile review of issue 21: what its parts let through that they
# should not.  Each check failed when the review found it.
#
# Part 2, a second ipcfs on a live mount.  Which file system users see on
# a directory is the one mounted on top there, not the one whose line
# comes last in /proc/self/mountinfo: the kernel lists mounts in the order
# they were made, and mount --move puts an older mount on top of a newer
# one.  Nor is a mount whose directory another mount hides (one made on a
# parent after it) on that directory any more.
#
#   - ipcfs A on DIR2, a tmpfs on DIR, then mount --move DIR2 DIR: A is on
#     top, its line comes first, the tmpfs's last.  A second ipcfs on DIR
#     must be refused, as on any live ipcfs, and A serve on.
#   - ipcfs A on P/m, then a tmpfs on P and a directory m in it: nothing
#     serves P/m now but the tmpfs.  An ipcfs on P/m must mount.
#
# Part 3, one grammar for every size.  user.ipcfs.capacity took a value
# with a NUL byte in it as the part before the NUL ("64K\0junk" set 64K),
# where framing and delivery refuse a NUL ("bytes\0"), and a mount option
# cannot hold one.  A NUL anywhere must be refused, and the setting stay.
#
# Part 1, opens for writing only are streams in passthrough mode.  Where
# such an open meets a passthrough open on the kernel's inode, ipcfs sends
# it to a new one with ESTALE, but only if it knows the caller's thread id
# (fs_open_kind: tid != 0).  A daemon in a pid namespace of its own (a
# container; one container's mount shared with another) sees 0 for every
# caller outside it, so there such an open kept a file position, and
# exec 7<c; exec 3>c; seq 1 100000 >&3 & echo x >&3 left the echo in state
# D, in fdget_pos, where SIGKILL did not end it.  The open must be a
# stream (lseek fails with ESPIPE, docs/semantics.md, rule 10).
#
# Runs in a mount namespace of its own (mountns.sh), as mount --move
# needs a parent mount that is not shared.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"
. "$(dirname "$0")/mountns.sh"
ns_enter "$@"

KEEP_GOING=1
command -v setfattr >/dev/null ||
    { echo "SKIP: no setfattr (Debian's attr package)"; exit 77; }
ns_init
watchdog 120

# up DIR: mount an ipcfs on DIR in the background; true once it serves.
up() {
	timeout 30 "$IPCFS" "$1" >"$TMP/out" 2>&1 </dev/null &&
	    ns_mounted "$1" || { cat "$TMP/out" >&2; return 1; }
}

# carry DIR: a channel on the mount carries data.
carry() {
	echo "through $1" >"$1/c" &&
	    [ "$(timeout 10 cat "$1/c")" = "through $1" ]
}

# fuse_on_top DIR: the file system users see on DIR is a FUSE one.
fuse_on_top() {
	[ "$(stat -f -c %t "$1")" = 65735546 ]
}

# Part 2: an ipcfs moved on top of a newer mount.
D=$TMP/moved D2=$TMP/from
mkdir "$D" "$D2"
if up "$D2" && mount -t tmpfs ipcfs-test "$D" && mount --move "$D2" "$D"
then
	touch "$D/kept"
	before=$(ns_daemons | wc -l)
	rc=0
	timeout 30 "$IPCFS" "$D" >"$TMP/out" 2>&1 </dev/null || rc=$?
	want="ipcfs: $D: an ipcfs already serves it; run 'fusermount3 -u $D'"
	want="$want first, or mount on another directory"
	if [ $rc -eq 1 ] && [ "$(cat "$TMP/out")" = "$want" ] &&
	    [ "$(ns_daemons | wc -l)" = "$before" ] && [ -e "$D/kept" ]; then
		ok "a second ipcfs on one moved on top of a tmpfs is refused"
	else
		notok "a second ipcfs on one moved on top of a tmpfs: exit" \
		    "$rc, $(oneline "$(cat "$TMP/out")"), the first's" \
		    "channel is $([ -e "$D/kept" ] && echo seen || echo hidden)"
	fi
	carry "$D" && ok "and the first serves on" ||
	    notok "the first ipcfs on $D no longer serves"
else
	notok "cannot set up an ipcfs moved on top of a tmpfs"
fi

# Part 2: an ipcfs whose directory a later mount hides.
P=$TMP/parent
mkdir -p "$P/m"
if up "$P/m" && mount -t tmpfs ipcfs-test "$P" && mkdir "$P/m"; then
	rc=0
	timeout 30 "$IPCFS" "$P/m" >"$TMP/out" 2>&1 </dev/null || rc=$?
	if [ $rc -eq 0 ] && fuse_on_top "$P/m"; then
		ok "an ipcfs on a directory whose old ipcfs a tmpfs hides"
	else
		notok "an ipcfs on a directory whose old ipcfs a tmpfs hides:" \
		    "exit $rc, $(oneline "$(cat "$TMP/out")")"
	fi
	[ $rc -eq 0 ] && carry "$P/m" && ok "and it serves" ||
	    notok "no ipcfs serves $P/m"
	# The tmpfs goes with what is mounted in it; then the old ipcfs
	# shows again, and goes too.
	umount -l "$P"
	ns_mounted "$P/m" && umount -l "$P/m"
else
	notok "cannot set up an ipcfs hidden by a tmpfs on its parent"
fi

# Part 3: a NUL byte in a capacity.
M=$TMP/mnt
mkdir "$M"
if up "$M"; then
	: >"$M/x"
	setfattr -n user.ipcfs.capacity -v 8K "$M/x"
	# 64K\0junk, 64K\0, 6\04K
	for v in 0x36344b006a756e6b 0x36344b00 0x3600344b; do
		if setfattr -n user.ipcfs.capacity -v "$v" "$M/x" 2>/dev/null
		then
			notok "capacity $v (a NUL in it) is taken as" \
			    "$(getfattr --absolute-names --only-values \
			    -n user.ipcfs.capacity "$M/x")"
			setfattr -n user.ipcfs.capacity -v 8K "$M/x"
		else
			ok "capacity $v (a NUL in it) is refused"
		fi
	done
	[ "$(getfattr --absolute-names --only-values \
	    -n user.ipcfs.capacity "$M/x")" = 8192 ] &&
	    ok "and the capacity stays 8K" ||
	    notok "the capacity did not stay 8K"
	carry "$M" && ok "the daemon still answers" ||
	    notok "the daemon no longer answers"
else
	notok "cannot mount an ipcfs on $M"
fi

# Part 1: a daemon that cannot see its callers' pids.
N=$TMP/pidns
mkdir "$N"
unshare -p -f "$IPCFS" -f "$N" 2>>"$TMP/pidns.log" </dev/null &
for _ in $(seq 100); do
	ns_mounted "$N" && break
	sleep 0.1
done
if ! ns_mounted "$N"; then
	notok "cannot mount an ipcfs in a pid namespace of its own:" \
	    "$(oneline "$(cat "$TMP/pidns.log")")"
elif [ "$(getfattr --absolute-names --only-values -n user.ipcfs.region \
    "$N")" != passthrough ]; then
	ok "# skip: the region mode is not passthrough"
else
	: >"$N/c"
	got=$("$PY" -c '
import errno, os, sys
r = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
w = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
try:
    os.lseek(w, 0, os.SEEK_CUR)
    print("a position")
except OSError as e:
    print("a stream" if e.errno == errno.ESPIPE else e.strerror)
os.write(w, b"x")
print(os.read(r, 1).decode())
' "$N/c" 2>&1)
	[ "$got" = "a stream
x" ] && ok "a daemon in its own pid namespace: a writer's open beside" \
	    "a reader's is a stream" ||
	    notok "a daemon in its own pid namespace: a writer's open" \
	    "beside a reader's has $(oneline "$got")"
	carry "$N" && ok "the daemon still answers" ||
	    notok "the daemon in its own pid namespace no longer answers"
fi
umount -l "$N" 2>/dev/null

finish
