#!/usr/bin/env bash
# An ordinary user, uid 65534, mounts ipcfs: 'ipcfs ~/ipc' and
# 'fusermount3 -u ~/ipc', and an fstab line with noauto,user through
# mount(8).  The daemon takes the best region mode it may (passthrough
# needs CAP_SYS_ADMIN, so pagecache on Linux 6.6 and later) and says which;
# streams and regions work; allow_other fails with a line that names the
# fix unless /etc/fuse.conf has user_allow_other, and works when it has.
#
# /dev/fuse, /etc/fuse.conf and /etc/fstab are the test's own, bound over
# the real ones in a mount namespace (mountns.sh): none of them changes.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"
. "$(dirname "$0")/mountns.sh"
ns_enter "$@"

KEEP_GOING=1
ns_init
ns_open_fuse
ns_path_ipcfs
# What uid 65534 runs is a copy it can reach, wherever the checkout is.
CHANIO=$(for_all "$CHANIO") || exit 1
watchdog 200

# The user, with a home of its own and the PATH a login gets.
H=$TMP/home
mkdir "$H"
chown 65534:65534 "$H"
as_user() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    env HOME="$H" PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/bin \
	    "$@"
}
cd "$H" || fail "cannot cd to $H"
as_user mkdir "$H/ipc" "$H/fs" || fail "uid 65534 cannot mkdir in its home"
MNT=$H/ipc

# The /etc/fuse.conf fusermount3 reads: without user_allow_other (the
# Debian default), or with it.  Without one, none is needed for "without".
if [ -e /etc/fuse.conf ]; then
	grep -Ev '^[[:space:]]*user_allow_other[[:space:]]*(#.*)?$' \
	    /etc/fuse.conf >"$TMP/fuse.conf.without"
	{ cat "$TMP/fuse.conf.without"; echo user_allow_other; } \
	    >"$TMP/fuse.conf.with"
fi
fuse_conf_bound=0
fuse_conf() {
	if [ ! -e /etc/fuse.conf ]; then
		[ "$1" = without ]
		return
	fi
	[ $fuse_conf_bound = 1 ] && umount /etc/fuse.conf
	ns_bind "$TMP/fuse.conf.$1" /etc/fuse.conf
	fuse_conf_bound=1
}

# The mode the kernel can give a daemon without CAP_SYS_ADMIN.
kver=$(uname -r | sed -E 's/^([0-9]+)\.([0-9]+).*/\1 \2/')
if [ "$(echo "$kver" | awk '{ print ($1 > 6 || ($1 == 6 && $2 >= 6)) }')" = 1 ]
then
	want_mode=pagecache
else
	want_mode=off
fi

# In the background, as a user would type it.
rc=0
as_user sh -c 'ipcfs ~/ipc' >"$TMP/out" 2>&1 </dev/null || rc=$?
if [ $rc -ne 0 ] || [ -s "$TMP/out" ] || ! ns_mounted "$MNT"; then
	fail "uid 65534: ipcfs ~/ipc: exit $rc: $(cat "$TMP/out")"
fi
case ,$(awk -v d="$MNT" '$2 == d { print $4 }' /proc/self/mounts), in
*,user_id=65534,*) ok "uid 65534 mounts with 'ipcfs ~/ipc'" ;;
*) notok "not the user's mount: $(grep " $MNT " /proc/self/mounts)" ;;
esac
pid=$(ns_daemons)
[ "$(stat -c %u "/proc/$pid")" = 65534 ] && ok "the daemon runs as uid 65534" ||
    notok "the daemon runs as uid $(stat -c %u "/proc/$pid")"
as_user sh -c 'echo hello >~/ipc/c && cat ~/ipc/c' >"$TMP/out" 2>&1
[ "$(cat "$TMP/out")" = hello ] && ok "echo and cat through a channel" ||
    notok "echo and cat: $(cat "$TMP/out")"
out=$(stat "$MNT/c" 2>&1) && notok "root got into a user's mount: $out" ||
    ok "without allow_other root is kept out"
rc=0
as_user sh -c 'fusermount3 -u ~/ipc' >"$TMP/out" 2>&1 || rc=$?
if [ $rc -ne 0 ] || ns_mounted "$MNT"; then
	notok "fusermount3 -u ~/ipc: exit $rc: $(cat "$TMP/out")"
elif ! ns_wait_gone $pid; then
	notok "the daemon outlived fusermount3 -u"
else
	ok "fusermount3 -u ~/ipc unmounts, and the daemon leaves"
fi

# In the foreground, to read its log line; streams and regions.
as_user ipcfs -f "$MNT" 2>"$TMP/daemon.log" </dev/null &
DPID=$!
for i in $(seq 100); do
	ns_mounted "$MNT" && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.1
done
ns_mounted "$MNT" || fail "ipcfs -f as uid 65534: $(cat "$TMP/daemon.log")"
line=$(grep "mounted on $MNT: region mode " "$TMP/daemon.log")
mode=$(as_user "$PY" -c 'import os, sys
print(os.getxattr(sys.argv[1], "user.ipcfs.region").decode())' "$MNT")
case $line in
*"region mode $mode,"*)
	[ "$mode" = "$want_mode" ] &&
	    ok "the log line names the mode it took: $mode" ||
	    notok "region mode $mode, not $want_mode, on $(uname -r)"
	;;
*)
	notok "log line '$line', user.ipcfs.region '$mode'"
	;;
esac
expect "uid 65534: a channel holds 64 KiB, then EAGAIN" \
    as_user "$CHANIO" -t 20 open w "$MNT/full" wnc fill w 4096 <<-'EOF'
open w: ok
fill w: 65536 EAGAIN
EOF
expect "uid 65534: a read waits for a writer; end of file when it leaves" \
    as_user "$CHANIO" -t 20 open w "$MNT/s" wc open r "$MNT/s" r \
    bg R read r 100 waitblocked R write w abc join R close w read r 10 <<-'EOF'
open w: ok
open r: ok
waitblocked R: yes
write w: 3
read r: 3 "abc"
close w: ok
read r: 0 ""
EOF
if [ "$mode" = off ]; then
	notok "no region mode on $(uname -r): regions not tried"
else
	expect "uid 65534: a region, mapped by two processes, is one memory" \
	    as_user "$PY" -c '
import mmap, os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192)
m[0:12] = b"hello region"
peer = """
import mmap, os, sys
m = mmap.mmap(os.open(sys.argv[1], os.O_RDWR), 0)
print("the peer maps", len(m), "bytes and sees", bytes(m[0:12]).decode())
m[4096:4101] = b"reply"
"""
r = subprocess.run([sys.executable, "-c", peer, sys.argv[1]],
                   stdout=subprocess.PIPE, check=True, text=True)
print(r.stdout, end="")
print("the first sees", bytes(m[4096:4101]).decode())' "$MNT/region" <<-'EOF'
the peer maps 8192 bytes and sees hello region
the first sees reply
EOF
fi
rc=0
as_user fusermount3 -u "$MNT" >"$TMP/out" 2>&1 || rc=$?
[ $rc -eq 0 ] || notok "fusermount3 -u: $(cat "$TMP/out")"
wait_exit "$DPID"
[ "$RC" = 0 ] && ok "the foreground daemon exits 0 after fusermount3 -u" ||
    notok "the daemon exited $RC: $(cat "$TMP/daemon.log")"
grep -q "unmounting $MNT" "$TMP/daemon.log" || notok "no unmount log line"
DPID=

# Passthrough, asked for by name, cannot be had: one line says why.
rc=0
as_user ipcfs -o region=passthrough "$MNT" >"$TMP/out" 2>&1 </dev/null || rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$TMP/out")" = 1 ] &&
    grep -q "CAP_SYS_ADMIN" "$TMP/out" && ! ns_mounted "$MNT"; then
	ok "region=passthrough: $(cat "$TMP/out")"
else
	notok "region=passthrough as uid 65534: exit $rc: $(cat "$TMP/out")"
	umount -l "$MNT" 2>/dev/null
fi

# allow_other: refused without user_allow_other, with ipcfs's line, and by
# mount(8) too; let in with it.
fuse_conf without
want="ipcfs: allow_other: only root may use it, unless /etc/fuse.conf has"
want="$want a line user_allow_other"
rc=0
as_user ipcfs -o allow_other "$MNT" >"$TMP/out" 2>&1 </dev/null || rc=$?
if [ $rc -eq 1 ] && [ "$(cat "$TMP/out")" = "$want" ] &&
    ! ns_mounted "$MNT" && [ -z "$(ns_daemons)" ]; then
	ok "allow_other without user_allow_other: $want"
else
	notok "allow_other without user_allow_other: exit $rc: $(cat "$TMP/out")"
	umount -l "$MNT" 2>/dev/null
fi
if fuse_conf with; then
	rc=0
	as_user ipcfs -o allow_other "$MNT" >"$TMP/out" 2>&1 </dev/null || rc=$?
	if [ $rc -ne 0 ] || ! ns_mounted "$MNT"; then
		notok "allow_other with user_allow_other: exit $rc: $(cat "$TMP/out")"
	else
		touch "$MNT/r" && chmod 644 "$MNT/r" &&
		    echo "from root" >"$MNT/r" &&
		    [ "$(as_user timeout 10 cat "$MNT/r")" = "from root" ] &&
		    ok "with user_allow_other, allow_other lets root in" ||
		    notok "allow_other: root and the user share no channel"
		pid=$(ns_daemons)
		as_user fusermount3 -u "$MNT" && ns_wait_gone $pid ||
		    notok "fusermount3 -u after allow_other"
	fi
	fuse_conf without
else
	echo "note: no /etc/fuse.conf to bind over; allow_other with" \
	    "user_allow_other not tried"
fi

# Root mounts for a user: mount.fuse3 -o setuid=USER runs the daemon as
# USER, which mounts as in the background case above.
S=$TMP/su
mkdir -m 755 "$S"
chown 65534:65534 "$S"
rc=0
timeout 30 mount -t fuse.ipcfs ipcfs "$S" -o setuid=nobody,capacity=8K \
    >"$TMP/out" 2>&1 </dev/null || rc=$?
pid=$(ns_daemons)
if [ $rc -ne 0 ] || ! ns_mounted "$S" || [ -z "$pid" ]; then
	notok "mount -o setuid=nobody: exit $rc: $(cat "$TMP/out")"
else
	[ "$(stat -c %u "/proc/$pid")" = 65534 ] &&
	    [ "$(as_user getfattr --absolute-names --only-values \
	    -n user.ipcfs.capacity "$S")" = 8192 ] &&
	    ok "mount -o setuid=nobody: the daemon runs as uid 65534" ||
	    notok "setuid=nobody: daemon uid $(stat -c %u "/proc/$pid")"
	umount "$S" && ns_wait_gone $pid && ok "and root unmounts it" ||
	    notok "umount after setuid=nobody"
fi

# An fstab line with noauto,user, the one mount/ipcfs.fstab shows: mount -a
# leaves it, the user mounts and unmounts it with mount(8) and umount(8).
# /run/mount, where mount(8) notes who mounted what, is the test's too.
F=$H/fs
sed -n 's|^#\(ipcfs[[:space:]]\{1,\}\)/home/alice/ipc\([[:space:]]\)|\1'"$F"'\2|p' \
    "$TOP/mount/ipcfs.fstab" >"$TMP/fstab"
if [ "$(wc -l <"$TMP/fstab")" != 1 ]; then
	notok "mount/ipcfs.fstab: no single commented /home/alice/ipc line"
elif [ ! -e /etc/fstab ]; then
	echo "note: no /etc/fstab to bind over; the user line not tried"
else
	[ -d /run/mount ] &&
	    mount -t tmpfs -o mode=755 ipcfs-test-utab /run/mount
	ns_bind "$TMP/fstab" /etc/fstab
	rc=0
	timeout 30 mount -a >"$TMP/out" 2>&1 || rc=$?
	[ $rc -eq 0 ] && ! ns_mounted "$F" && ok "mount -a skips the noauto line" ||
	    notok "mount -a: exit $rc: $(cat "$TMP/out")"
	rc=0
	as_user timeout 30 mount "$F" >"$TMP/out" 2>&1 </dev/null || rc=$?
	opts=,$(awk -v d="$F" '$2 == d { print $4 }' /proc/self/mounts),
	if [ $rc -ne 0 ] || ! ns_mounted "$F"; then
		notok "uid 65534: mount ~/fs: exit $rc: $(cat "$TMP/out")"
	else
		case $opts in
		*,nosuid,nodev,noexec,*user_id=65534,*)
			ok "uid 65534 mounts the user line: $opts" ;;
		*)
			notok "the user line mounted with $opts" ;;
		esac
		as_user sh -c 'echo fstab >~/fs/c && cat ~/fs/c' >"$TMP/out" 2>&1
		[ "$(cat "$TMP/out")" = fstab ] && ok "and it carries data" ||
		    notok "no data through ~/fs: $(cat "$TMP/out")"
		pid=$(ns_daemons)
		rc=0
		as_user timeout 30 umount "$F" >"$TMP/out" 2>&1 || rc=$?
		[ $rc -eq 0 ] && ! ns_mounted "$F" && ns_wait_gone $pid &&
		    ok "uid 65534 unmounts it with umount" ||
		    notok "umount ~/fs: exit $rc: $(cat "$TMP/out")"
	fi
fi

finish
