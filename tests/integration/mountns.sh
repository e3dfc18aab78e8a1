# shellcheck shell=bash
# Shared by test_mount.sh and test_user.sh, which mount ipcfs the way the
# system does.  They change things only the whole machine has (what
# /usr/local/sbin holds, /etc/fstab, /etc/fuse.conf, the mode of
# /dev/fuse), so they run in a mount namespace of their own, where each
# change is something bound over the real file: the real ones are never
# written, other tests running meanwhile see none of it, and a test killed
# by SIGKILL leaves nothing behind.
#
#   ns_enter "$@"           first: re-run the test in a private mount
#                           namespace (exit 77 unless root and unshare -m)
#   ns_init                 make TMP (mode 755), $TMP/san for sanitizer
#                           logs, and install the clean-up trap
#   ns_bind SRC TARGET      bind SRC over TARGET, for this namespace only
#   ns_path_ipcfs           a copy of $IPCFS, one every uid may run
#                           (for_all in lib.sh), as ipcfs in a directory
#                           bound over /usr/local/sbin: mount(8) clears
#                           PATH, so mount.fuse3's shell looks in the
#                           default PATH, /usr/local/sbin first
#   ns_open_fuse            /dev/fuse as Debian's udev rule makes it, mode
#                           0666, if the real one is not
#   ns_daemons              pids of the ipcfs daemons in this namespace
#   ns_mounted DIR          true if an ipcfs is mounted on DIR
#   ns_wait_gone PID...     wait (10 s at most) until they have exited
#
# Sanitizer reports of every daemon, even those gone to the background,
# go to files in $TMP/san; the clean-up fails the test if there are any,
# and if a process of this namespace is left in D state.

ns_enter() {
	[ "${IPCFS_MOUNTNS:-}" = 1 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: needs root, for a mount namespace of its own"
		exit 77
	fi
	if ! unshare -m --propagation private true 2>/dev/null; then
		echo "SKIP: unshare -m does not work here"
		exit 77
	fi
	IPCFS_MOUNTNS=1 exec unshare -m --propagation private -- \
	    bash "$0" "$@"
}

ns_init() {
	[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
	NS=$(readlink /proc/self/ns/mnt)
	TMP=$(mktemp -d /tmp/ipcfs-ns.XXXXXX)
	chmod 755 "$TMP"
	mkdir -m 1777 "$TMP/san"
	export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$TMP/san/asan"
	export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$TMP/san/ubsan"
	trap ns_cleanup EXIT
	trap 'exit 1' INT TERM
}

ns_bind() {
	# What stands for a system file is readable by all, as that file is,
	# whatever the umask.
	[ ! -f "$1" ] || chmod 644 "$1"
	mount --bind "$1" "$2" || fail "cannot bind $1 over $2"
}

ns_path_ipcfs() {
	mkdir -m 755 "$TMP/sbin"
	ln -s "$(for_all "$IPCFS")" "$TMP/sbin/ipcfs" ||
	    fail "cannot make $TMP/sbin/ipcfs"
	ns_bind "$TMP/sbin" /usr/local/sbin
	[ "$(env -u PATH /bin/sh -c 'command -v ipcfs')" = \
	    /usr/local/sbin/ipcfs ] ||
	    fail "the shell's default PATH does not find /usr/local/sbin/ipcfs"
}

ns_open_fuse() {
	[ "$(stat -c %a /dev/fuse)" = 666 ] && return 0
	mkdir -m 755 "$TMP/dev"
	mount -t tmpfs -o mode=755 ipcfs-test-dev "$TMP/dev" ||
	    fail "cannot mount a tmpfs on $TMP/dev"
	mknod -m 666 "$TMP/dev/fuse" c "$((0x$(stat -c %t /dev/fuse)))" \
	    "$((0x$(stat -c %T /dev/fuse)))" || fail "cannot mknod"
	ns_bind "$TMP/dev/fuse" /dev/fuse
}

# Processes of this mount namespace, other than zombies: pid and command.
ns_procs() {
	local p st

	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$NS" ] || continue
		st=$(sed 's/.*) //' "$p/stat" 2>/dev/null) || continue
		case $st in
		Z*|X*|"") continue ;;
		esac
		echo "${p#/proc/} ${st%% *} $(cat "$p/comm" 2>/dev/null)"
	done
}

ns_daemons() {
	ns_procs | awk '$3 == "ipcfs" { print $1 }'
}

ns_mounted() {
	awk -v d="$1" '$2 == d && $3 == "fuse.ipcfs" { f = 1 } END { exit !f }' \
	    /proc/self/mounts
}

ns_wait_gone() {
	local p i

	for p in "$@"; do
		for i in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$p" 2>/dev/null && return 1
	done
	return 0
}

ns_cleanup() {
	local rc=$? p mp left stuck daemons

	cd /
	# Children of the test that still run would hold the mounts; a
	# daemon is left to see its unmount and shut down cleanly.
	daemons=" $(ns_daemons | tr '\n' ' ') "
	for p in $(pgrep -P $$ 2>/dev/null); do
		case $daemons in
		*" $p "*) ;;
		*) kill -9 "$p" 2>/dev/null ;;
		esac
	done
	# Every mount below TMP, deepest first; lazily, so nothing blocks.
	awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts |
	    sort -r | while read -r mp; do
		umount -l "$mp" 2>/dev/null
	done
	# Unmounted, a daemon exits by itself, running its leak check.
	left=$(ns_daemons)
	if [ -n "$left" ] && ! ns_wait_gone $left; then
		echo "FAIL: daemons still running after their unmount:" $left >&2
		kill -9 $(ns_daemons) 2>/dev/null
		rc=1
	fi
	stuck=$(ns_procs | awk '$2 == "D"')
	if [ -n "$stuck" ]; then
		echo "FAIL: processes left in D state: $stuck" >&2
		rc=1
	fi
	if [ -n "$(ls -A "$TMP/san" 2>/dev/null)" ]; then
		echo "FAIL: sanitizer reports:" >&2
		cat "$TMP"/san/* >&2
		rc=1
	fi
	rm -rf "$TMP"
	exit $rc
}
