#!/usr/bin/env bash
# Mounting the way the system does: mount -t fuse.ipcfs with options and
# with bad ones, fstab lines (mount -T FILE, mount -a, noauto), the lines of
# mount/ipcfs.fstab and the mount of mount/mnt-ipc.mount, and
# systemd-analyze verify on that unit.  Each goes mount(8) -> mount.fuse3
# -> 'ipcfs SOURCE MOUNTPOINT -o OPTIONS', as on a real machine; see
# mountns.sh for the namespace it runs in.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"
. "$(dirname "$0")/mountns.sh"
ns_enter "$@"

KEEP_GOING=1
[ -x /sbin/mount.fuse ] || [ -x /sbin/mount.fuse.ipcfs ] ||
    { echo "SKIP: no /sbin/mount.fuse (Debian's fuse3 package)"; exit 77; }
command -v getfattr >/dev/null ||
    { echo "SKIP: no getfattr (Debian's attr package)"; exit 77; }
ns_init
ns_path_ipcfs
watchdog 200

capacity_of() {
	getfattr --absolute-names --only-values -n user.ipcfs.capacity "$1"
}

# The options of the mount on $1, as /proc/mounts shows them.
mount_opts() {
	awk -v d="$1" '$2 == d { print $4 }' /proc/self/mounts
}

# carry DIR: a channel on the mount carries data.
carry() {
	echo "through $1" >"$1/c" &&
	    [ "$(timeout 10 cat "$1/c")" = "through $1" ]
}

# mount_ok WHAT DIR CMD...: CMD mounts an ipcfs on DIR, returns 0 and says
# nothing.
mount_ok() {
	local what=$1 dir=$2 rc=0

	shift 2
	timeout 30 "$@" >"$TMP/out" 2>&1 </dev/null || rc=$?
	if [ $rc -ne 0 ] || [ -s "$TMP/out" ] || ! ns_mounted "$dir"; then
		echo "--- $*: exit $rc:" >&2
		cat "$TMP/out" >&2
		notok "$what"
		return 1
	fi
	ok "$what"
}

# mount_bad WHAT LINE DIR CMD...: CMD fails, prints exactly LINE, and
# leaves neither a mount on DIR nor a daemon.
mount_bad() {
	local what=$1 want=$2 dir=$3 rc=0 before

	shift 3
	before=$(ns_daemons)
	timeout 30 "$@" >"$TMP/out" 2>&1 </dev/null || rc=$?
	if [ $rc -eq 0 ] || [ "$(cat "$TMP/out")" != "$want" ] ||
	    ns_mounted "$dir" || [ "$(ns_daemons)" != "$before" ]; then
		echo "--- $*: exit $rc, wanted '$want', got:" >&2
		cat "$TMP/out" >&2
		ns_mounted "$dir" && echo "--- and $dir is mounted" >&2
		notok "$what"
		umount -l "$dir" 2>/dev/null
		return 1
	fi
	ok "$what: $want"
}

# unmount_ok WHAT DIR...: umount(8) takes them down and their daemons go.
unmount_ok() {
	local what=$1 pids

	shift
	pids=$(ns_daemons)
	if ! umount "$@" 2>"$TMP/out"; then
		notok "$what: umount: $(cat "$TMP/out")"
	elif ! ns_wait_gone $pids; then
		notok "$what: a daemon outlived its mount"
	else
		ok "$what"
	fi
}

# mount(8) takes a SOURCE that names a file in the current directory for
# that file's path: ./ipcfs, the daemon, is one in the source tree.
cd "$TMP" || fail "cannot cd to $TMP"
M=$TMP/m
mkdir "$M"

# mount -t fuse.ipcfs with an option: the daemon gets it unchanged, after
# what mount(8) and mount.fuse3 add (rw; dev and suid).
if mount_ok "mount -t fuse.ipcfs ipcfs DIR -o capacity=1M" "$M" \
    mount -t fuse.ipcfs ipcfs "$M" -o capacity=1M; then
	[ "$(capacity_of "$M")" = 1048576 ] &&
	    ok "user.ipcfs.capacity of the root is 1048576" ||
	    notok "capacity: $(capacity_of "$M" 2>&1)"
	pid=$(ns_daemons)
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
	[ "$args" = "ipcfs ipcfs $M -o rw,capacity=1M,dev,suid " ] &&
	    ok "mount.fuse3 ran: $args" || notok "the daemon's arguments: $args"
	grep -q "^ipcfs $M fuse.ipcfs " /proc/self/mounts &&
	    ok "/proc/mounts names it ipcfs, of type fuse.ipcfs" ||
	    notok "in /proc/mounts: $(grep " $M " /proc/self/mounts)"
	carry "$M" && ok "a channel carries data" || notok "no data through $M"
	unmount_ok "umount takes it down, and the daemon leaves" "$M"
fi

# The same form typed by hand, and one positional argument too many.
rc=0
timeout 30 "$IPCFS" none "$M" -o capacity=8K >"$TMP/out" 2>&1 </dev/null || rc=$?
if [ $rc -eq 0 ] && grep -q "^none $M fuse.ipcfs " /proc/self/mounts &&
    [ "$(capacity_of "$M")" = 8192 ]; then
	ok "ipcfs SOURCE MOUNTPOINT -o OPTIONS, typed"
	unmount_ok "umount" "$M"
else
	notok "ipcfs none DIR -o capacity=8K: exit $rc: $(cat "$TMP/out")"
	umount -l "$M" 2>/dev/null
fi
mount_bad "three positional arguments" \
    "ipcfs: '$M': one argument too many: [SOURCE] MOUNTPOINT (see --help)" \
    "$M" "$IPCFS" ipcfs "$TMP/a" "$M"

# Bad options: ipcfs's own line, passed through mount.fuse3 and mount(8)
# untouched, and nothing mounted.
mount_bad "a value that is no number" \
    "ipcfs: capacity: 'junk' is not a number" "$M" \
    mount -t fuse.ipcfs ipcfs "$M" -o capacity=junk
mount_bad "a value out of range" \
    "ipcfs: spin: 10001 is out of range (0 to 10000)" "$M" \
    mount -t fuse.ipcfs ipcfs "$M" -o noauto,spin=10001
mount_bad "a region mode that does not exist" \
    "ipcfs: region: 'fast' is not one of auto, passthrough, pagecache, off" \
    "$M" mount -t fuse.ipcfs ipcfs "$M" -o region=fast
mount_bad "an option nobody knows" \
    "ipcfs: fuse: unknown option(s): \`-o frobnicate'" "$M" \
    mount -t fuse.ipcfs ipcfs "$M" -o capacity=8K,frobnicate
mount_bad "a mount point that does not exist" \
    "ipcfs: fuse: bad mount point \`$TMP/none': No such file or directory" \
    "$TMP/none" \
    mount -t fuse.ipcfs ipcfs "$TMP/none"

# The options only mount(8) and mount.fuse3 read never reach the daemon,
# which would refuse them; the others do.
if mount_ok "noauto, nofail, _netdev, users and x-systemd.* are dropped" "$M" \
    mount -t fuse.ipcfs ipcfs "$M" \
    -o noauto,nofail,_netdev,users,x-systemd.requires=a.service$(
    ),x-systemd.device-timeout=5,capacity=16K,ro; then
	[ "$(capacity_of "$M")" = 16384 ] &&
	    case ,$(mount_opts "$M"), in *,ro,*) true ;; *) false ;; esac &&
	    ok "capacity and ro reach the mount beside them" ||
	    notok "options: capacity $(capacity_of "$M"), $(mount_opts "$M")"
	unmount_ok "umount" "$M"
fi

# drop_privileges: mount.fuse3 mounts with the options as given and hands
# the daemon the /dev/fuse descriptor as /dev/fd/N, with no capability
# left.  The kernel checks permissions only if default_permissions is
# among those options: without it ipcfs refuses, and the mount
# mount.fuse3 made is left dead, as for any FUSE file system.
if mount_ok "drop_privileges with default_permissions" "$M" \
    mount -t fuse.ipcfs ipcfs "$M" -o drop_privileges,default_permissions,capacity=8K
then
	pid=$(ns_daemons)
	caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
	mode=$(getfattr --absolute-names --only-values -n user.ipcfs.region "$M")
	[ "$caps" = 0000000000000000 ] && [ "$mode" != passthrough ] &&
	    [ "$(capacity_of "$M")" = 8192 ] && carry "$M" &&
	    ok "the daemon has no capability, region mode $mode, and serves" ||
	    notok "drop_privileges: CapEff $caps, region mode $mode"
	unmount_ok "umount" "$M"
fi
rc=0
timeout 30 mount -t fuse.ipcfs ipcfs "$M" -o drop_privileges,capacity=8K \
    >"$TMP/out" 2>&1 </dev/null || rc=$?
want="mounted by mount.fuse3 (drop_privileges) without default_permissions;"
want="$want unmount it and add default_permissions to the options"
case $rc:$(cat "$TMP/out") in
1:"ipcfs: /dev/fd/"[0-9]*": $want")
	ok "drop_privileges without default_permissions: $(cat "$TMP/out")" ;;
*)
	notok "drop_privileges without default_permissions: exit $rc:" \
	    "$(cat "$TMP/out")" ;;
esac
umount -l "$M" 2>/dev/null

# An fstab file: mount -a mounts what is not noauto, once; mount DIR
# mounts a noauto line with its options; a bad option in a line fails
# with ipcfs's message.
A=$TMP/a B=$TMP/b C=$TMP/c D=$TMP/d
mkdir "$A" "$B" "$C" "$D"
cat >"$TMP/fstab" <<EOF
# as in mount/ipcfs.fstab
ipcfs	$A	fuse.ipcfs	defaults,capacity=2M	0 0
none	$B	fuse.ipcfs	capacity=16K,max_channels=2	0 0
ipcfs	$C	fuse.ipcfs	noauto,capacity=8K	0 0
ipcfs	$D	fuse.ipcfs	noauto,capacity=lots	0 0
EOF
rc=0
timeout 60 mount -a -T "$TMP/fstab" >"$TMP/out" 2>&1 || rc=$?
if [ $rc -ne 0 ] || [ -s "$TMP/out" ]; then
	notok "mount -a -T FILE: exit $rc: $(cat "$TMP/out")"
elif ! ns_mounted "$A" || ! ns_mounted "$B"; then
	notok "mount -a -T FILE did not mount $A and $B"
elif ns_mounted "$C" || ns_mounted "$D"; then
	notok "mount -a -T FILE mounted a noauto line"
else
	ok "mount -a -T FILE mounts the lines without noauto, and only those"
fi
[ "$(capacity_of "$A")" = 2097152 ] && [ "$(capacity_of "$B")" = 16384 ] &&
    ok "each line's capacity reached its daemon" ||
    notok "capacities $(capacity_of "$A") and $(capacity_of "$B")"
if touch "$B/1" "$B/2" && ! touch "$B/3" 2>/dev/null; then
	ok "and so did the second option of a line (max_channels=2)"
else
	notok "max_channels=2 from fstab not in force"
fi
grep -q "^none $B fuse.ipcfs " /proc/self/mounts &&
    ok "SOURCE names the mount: none" ||
    notok "in /proc/mounts: $(grep " $B " /proc/self/mounts)"
# Mounted already: mount -a knows each line by its source and mount point.
before=$(ns_daemons | wc -l)
timeout 60 mount -a -T "$TMP/fstab" >"$TMP/out" 2>&1
after=$(ns_daemons | wc -l)
n=$(awk -v a="$A" -v b="$B" '$2 == a || $2 == b' /proc/self/mounts | wc -l)
[ "$n" = 2 ] && [ "$before" = "$after" ] &&
    ok "mount -a again mounts nothing twice" ||
    notok "mount -a again: $n mounts, $before then $after daemons"
if mount_ok "mount -T FILE DIR mounts a noauto line" "$C" \
    mount -T "$TMP/fstab" "$C"; then
	[ "$(capacity_of "$C")" = 8192 ] && carry "$C" &&
	    ok "with its capacity, and it carries data" ||
	    notok "noauto line: capacity $(capacity_of "$C")"
fi
mount_bad "a bad option in an fstab line" \
    "ipcfs: capacity: 'lots' is not a number" "$D" mount -T "$TMP/fstab" "$D"
unmount_ok "umount of the fstab mounts" "$A" "$B" "$C"

# The lines shipped in mount/ipcfs.fstab, on mount points of the test's.
E=$TMP/e
mkdir "$E"
sed -n 's|^\(ipcfs[[:space:]]\{1,\}\)/mnt/ipc\([[:space:]]\)|\1'"$E"'\2|p' \
    "$TOP/mount/ipcfs.fstab" >"$TMP/fstab.shipped"
[ "$(wc -l <"$TMP/fstab.shipped")" = 1 ] ||
    notok "mount/ipcfs.fstab: no single /mnt/ipc line"
if mount_ok "the /mnt/ipc line of mount/ipcfs.fstab mounts" "$E" \
    mount -a -T "$TMP/fstab.shipped"; then
	case ,$(mount_opts "$E"), in
	*,allow_other,*) ok "allow_other reached the mount" ;;
	*) notok "no allow_other: $(mount_opts "$E")" ;;
	esac
	[ "$(capacity_of "$E")" = 1048576 ] && ok "capacity=1M too" ||
	    notok "capacity $(capacity_of "$E")"
	touch "$E/shared" && chmod 666 "$E/shared" &&
	    $NOBODY sh -c "echo hi >$E/shared" &&
	    [ "$(timeout 10 cat "$E/shared")" = hi ] &&
	    ok "another user writes to a channel root reads" ||
	    notok "uid 65534 and root do not share a channel"
	unmount_ok "umount" "$E"
fi
# The commented line for ordinary users is tried by test_user.sh.
grep -q '^#ipcfs[[:space:]].*[[:space:]]fuse\.ipcfs[[:space:]]\{1,\}noauto,user,' \
    "$TOP/mount/ipcfs.fstab" && ok "mount/ipcfs.fstab has a noauto,user line" ||
    notok "mount/ipcfs.fstab has no commented noauto,user line"

# mount/mnt-ipc.mount.  systemd-analyze verify (systemd 252) checks the
# unit's settings, that its name matches Where=, and that the pages of
# Documentation= exist, by running man: the man pages are looked up in
# docs/ through MANPATH, so the check does not depend on an installed
# ipcfs.  It does not look for the mount helper or the daemon: the
# mounts in this test are what shows those work.
UNIT=$TOP/mount/mnt-ipc.mount
if ! command -v systemd-analyze >/dev/null; then
	notok "no systemd-analyze to verify $UNIT"
else
	man=--man=no
	pages=$(sed -n 's/^Documentation=//p' "$UNIT" | tr ' ' '\n' |
	    sed -n 's/^man:\(.*\)(\([0-9]\))$/\1.\2/p')
	mkdir -p "$TMP/man"
	for p in $pages; do
		mkdir -p "$TMP/man/man${p##*.}"
		ln -s "$TOP/docs/$p" "$TMP/man/man${p##*.}/$p"
	done
	missing=$(for p in $pages; do [ -f "$TOP/docs/$p" ] || echo "$p"; done)
	if [ -z "$pages" ]; then
		notok "$UNIT: no man: page in Documentation="
	elif [ -z "$missing" ]; then
		man=--man=yes
	else
		echo "note: docs/ lacks" $missing "of Documentation=; verifying" \
		    "without man"
	fi
	if out=$(MANPATH=$TMP/man systemd-analyze verify $man "$UNIT" 2>&1) &&
	    [ -z "$out" ]; then
		ok "systemd-analyze verify $man mount/mnt-ipc.mount"
	else
		notok "systemd-analyze verify $man: $out"
	fi
fi

# What systemd does with the unit, which it cannot do here (it is not
# PID 1): 'mount What Where -t Type -o Options' to start, umount to stop.
setting() {
	sed -n "s/^$1=//p" "$UNIT"
}
U=$TMP/unit
mkdir "$U"
[ "$(setting Where)" = /mnt/ipc ] || notok "Where= is not /mnt/ipc"
if mount_ok "the unit's mount, as systemd starts it" "$U" \
    mount "$(setting What)" "$U" -t "$(setting Type)" -o "$(setting Options)"
then
	grep -q "^$(setting What) $U $(setting Type) " /proc/self/mounts &&
	    carry "$U" && ok "named $(setting What), of type $(setting Type)" ||
	    notok "the unit's mount: $(grep " $U " /proc/self/mounts)"
	unmount_ok "the unit's mount, as systemd stops it" "$U"
fi

# A second ipcfs on a live one is refused, in one line that names the
# mount and the way out, and the first goes on serving: stacked, it would
# hide the channels from every program that opens a name from then on.
S=$TMP/stack
mkdir "$S"
if mount_ok "an ipcfs on DIR" "$S" ipcfs "$S"; then
	touch "$S/kept"
	before=$(ns_daemons | wc -l)
	rc=0
	timeout 30 ipcfs -o capacity=8K "$S" >"$TMP/out" 2>&1 </dev/null ||
	    rc=$?
	want="ipcfs: $S: an ipcfs already serves it; run 'fusermount3 -u $S'"
	want="$want first, or mount on another directory"
	n=$(awk -v d="$S" '$2 == d' /proc/self/mounts | wc -l)
	if [ $rc -eq 1 ] && [ "$(cat "$TMP/out")" = "$want" ] &&
	    [ "$n" = 1 ] && [ "$(ns_daemons | wc -l)" = "$before" ] &&
	    [ -e "$S/kept" ] && [ "$(capacity_of "$S")" = 65536 ]; then
		ok "a second ipcfs on a live one: $want"
	else
		notok "a second ipcfs on a live one: exit $rc, $n mounts," \
		    "$(cat "$TMP/out")"
	fi
	carry "$S" && ok "and the first serves on" ||
	    notok "the first ipcfs on $S no longer serves"
	unmount_ok "umount" "$S"
fi

finish
