#!/usr/bin/env bash
# The namespace: how channels are made (and what may not be made), unlink
# and rename with opens in flight, directories, attributes, ownership,
# stat and statfs, name length and O_TRUNC.  Real coreutils where they say
# it plainly, build/chanio where an errno name is wanted.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

# Another uid makes files here, so the mount must let it in.
ipcfs_mount -o allow_other
watchdog 100
cd "$MNT" || fail "cannot cd to the mount"

# statfs counts channels.  First, while no unlinked node can be freed
# behind the test's back.
files=$(stat -f -c %c "$MNT")
free1=$(stat -f -c %d "$MNT")
touch "$MNT/first" "$MNT/second" || fail "touch failed"
free2=$(stat -f -c %d "$MNT")
[ "$files" -gt 0 ] && [ "$free2" -eq $((free1 - 2)) ] ||
    fail "statfs: $files inodes; free $free1, then $free2 after two channels"
ok "statfs counts channels: $files inodes, $free2 free"

# Run a command that must fail with EPERM, as the shell tools report it.
eperm() {
	local what=$1 err

	shift
	if err=$("$@" 2>&1); then
		fail "$what succeeded"
	fi
	case $err in
	*"Operation not permitted"*) ok "$what: EPERM" ;;
	*) fail "$what: $err" ;;
	esac
}

# Making channels.
expect "O_CREAT makes a channel" ci open c "$MNT/c1" wc <<-'EOF'
open c: ok
EOF
touch "$MNT/c2" || fail "touch failed"
: >"$MNT/c3" || fail "> file failed"
expect "mknod of a regular file makes a channel" \
    ci mknod "$MNT/c4" reg <<-'EOF'
mknod: ok
EOF
for c in c1 c2 c3 c4; do
	[ "$(stat -c %F "$MNT/$c")" = "regular empty file" ] ||
	    fail "$c: $(stat -c %F "$MNT/$c")"
	echo "via $c" >"$MNT/$c" || fail "$c: echo failed"
	[ "$(timeout 10 cat "$MNT/$c")" = "via $c" ] || fail "$c: cat"
done
ok "channels made by O_CREAT, touch, > and mknod are regular and carry data"

# Nothing but channels and directories.
eperm "mknod NAME p" mknod "$MNT/p" p
eperm "mkfifo" mkfifo "$MNT/f"
eperm "ln -s" ln -s c1 "$MNT/s"
eperm "ln (hard link)" ln "$MNT/c1" "$MNT/h"
expect "FIFO, devices, sockets and links: EPERM" \
    ci mknod "$MNT/x1" fifo mknod "$MNT/x2" chr mknod "$MNT/x3" blk \
    mknod "$MNT/x4" sock symlink c1 "$MNT/x5" link "$MNT/c1" "$MNT/x6" \
    bind "$MNT/x7" <<-'EOF'
mknod: EPERM
mknod: EPERM
mknod: EPERM
mknod: EPERM
symlink: EPERM
link: EPERM
bind: EPERM
EOF
for x in p f s h x1 x2 x3 x4 x5 x6 x7; do
	[ -e "$MNT/$x" ] || [ -L "$MNT/$x" ] && fail "$x exists after EPERM"
done
ok "nothing is left by the refused creations"

# unlink: the name goes, opens go on; the name can be a new channel.  The
# mode fstat shows is the one umask 022 gives chanio's 0666.
umask 022
expect "unlink removes the name; existing opens keep working" \
    ci open w "$MNT/u" wc open r "$MNT/u" rn unlink "$MNT/u" \
    write w still read r 10 fstat r open n "$MNT/u" rn \
    open w2 "$MNT/u" wc write w2 new read r 10 <<-'EOF'
open w: ok
open r: ok
unlink: ok
write w: 5
read r: 5 "still"
fstat r: reg 0644 nlink 0 size 0
open n: ENOENT
open w2: ok
write w2: 3
read r: EAGAIN
EOF
[ -e "$MNT/u" ] || fail "the new u is missing"
[ "$(timeout 10 cat "$MNT/u")" = new ] || fail "the new u lost its data"
ok "a new channel under an unlinked name is separate"

# rename: replaces the target in one step; the replaced channel lives on
# for its opens.
ino=$(stat -c %i "$MNT/c1")
expect "rename replaces an existing channel; its opens keep it" \
    ci open wa "$MNT/ra" wc write wa fromA open wb "$MNT/rb" wc \
    write wb fromB open rb "$MNT/rb" rn rename "$MNT/ra" "$MNT/rb" \
    open r2 "$MNT/rb" rn read r2 100 read rb 100 open x "$MNT/ra" r \
    <<-'EOF'
open wa: ok
write wa: 5
open wb: ok
write wb: 5
open rb: ok
rename: ok
open r2: ok
read r2: 5 "fromA"
read rb: 5 "fromB"
open x: ENOENT
EOF
mv "$MNT/c1" "$MNT/c1.moved" || fail "mv failed"
[ "$(stat -c %i "$MNT/c1.moved")" = "$ino" ] || fail "mv changed the inode"
[ -e "$MNT/c1" ] && fail "c1 is still there after mv"
ok "rename keeps the channel's inode"

# Atomic replacement: while one loop renames fresh channels over "t",
# "t" must never be missing for another.
: >"$MNT/t" || fail "cannot make t"
(
	for i in $(seq 200); do
		: >"$MNT/t.new" && mv -f "$MNT/t.new" "$MNT/t" || exit 1
	done
) &
mover=$!
misses=0
while kill -0 $mover 2>/dev/null; do
	[ -e "$MNT/t" ] || misses=$((misses + 1))
done
wait_exit $mover
[ $RC -eq 0 ] || fail "rename loop failed"
[ $misses -eq 0 ] || fail "t was missing $misses times during renames"
ok "rename over an existing channel is atomic"

# Directories.
mkdir -p "$MNT/d/e" || fail "mkdir -p failed"
touch "$MNT/d/y" "$MNT/d/x" || fail "touch in a directory failed"
[ "$(ls -a "$MNT/d" | tr '\n' ' ')" = ". .. e x y " ] ||
    fail "readdir: $(ls -a "$MNT/d" | tr '\n' ' ')"
[ "$(stat -c '%F %h' "$MNT/d")" = "directory 3" ] ||
    fail "d: $(stat -c '%F %h' "$MNT/d")"
echo deep >"$MNT/d/e/chan" || fail "echo into d/e/chan"
[ "$(timeout 10 cat "$MNT/d/e/chan")" = deep ] || fail "cat d/e/chan"
eperm "ln -s in a directory" ln -s x "$MNT/d/s"
expect "rmdir of a full directory, unlink of a directory" \
    ci mknod "$MNT/d/e" reg unlink "$MNT/d" rename "$MNT/d/x" "$MNT/d/e" \
    <<-'EOF'
mknod: EEXIST
unlink: EISDIR
rename: EISDIR
EOF
rmdir "$MNT/d" 2>/dev/null && fail "rmdir of a non-empty directory worked"
rm "$MNT/d/x" "$MNT/d/y" "$MNT/d/e/chan" || fail "rm in d failed"
rmdir "$MNT/d/e" "$MNT/d" || fail "rmdir failed"
[ -e "$MNT/d" ] && fail "d is still there"
ok "mkdir, readdir, rmdir"

# Attributes persist.
chmod 0640 "$MNT/c2" || fail "chmod failed"
chown 65534:65534 "$MNT/c2" || fail "chown failed"
touch -m -d "2001-02-03 04:05:06 UTC" "$MNT/c2" || fail "touch -m -d failed"
touch -a -d "2002-03-04 05:06:07 UTC" "$MNT/c2" || fail "touch -a -d failed"
[ "$(stat -c '%a %u %g %Y %X' "$MNT/c2")" = "640 65534 65534 981173106 1015218367" ] ||
    fail "attributes: $(stat -c '%a %u %g %Y %X' "$MNT/c2")"
ls -l "$MNT" >/dev/null
[ "$(stat -c '%a %u %g %Y %X' "$MNT/c2")" = "640 65534 65534 981173106 1015218367" ] ||
    fail "attributes changed by a listing: $(stat -c '%a %u %g %Y %X' "$MNT/c2")"
chmod 4755 "$MNT/c3" || fail "chmod 4755"
[ "$(stat -c %a "$MNT/c3")" = 4755 ] || fail "setuid bit: $(stat -c %a "$MNT/c3")"
ok "chmod, chown and utimens persist"

# Ownership and umask.
umask 022
touch "$MNT/o1" || fail "touch o1"
[ "$(stat -c '%u %g %a' "$MNT/o1")" = "0 0 644" ] ||
    fail "root's channel: $(stat -c '%u %g %a' "$MNT/o1")"
$NOBODY sh -c "umask 027; : >'$MNT/o2'; mkdir '$MNT/o3'" ||
    fail "uid 65534 cannot create in the 1777 root"
[ "$(stat -c '%u %g %a' "$MNT/o2")" = "65534 65534 640" ] ||
    fail "o2: $(stat -c '%u %g %a' "$MNT/o2")"
[ "$(stat -c '%u %g %a' "$MNT/o3")" = "65534 65534 750" ] ||
    fail "o3: $(stat -c '%u %g %a' "$MNT/o3")"
# setpriv runs chanio itself: a shell as uid 65534 could not reach it in
# a tree only its owner may enter (a clone made under umask 077).
(umask 077; $NOBODY "$CHANIO" open c "$MNT/o4" wc) >/dev/null ||
    fail "uid 65534: open O_CREAT"
[ "$(stat -c '%u %g %a' "$MNT/o4")" = "65534 65534 600" ] ||
    fail "o4: $(stat -c '%u %g %a' "$MNT/o4")"
ok "the owner is the creating uid and gid, with its umask"

# stat and statfs.
[ "$(stat -c '%F %s %h %a' "$MNT/o1")" = "regular empty file 0 1 644" ] ||
    fail "stat of a channel: $(stat -c '%F %s %h %a' "$MNT/o1")"
[ "$(stat -c '%F %a %u' "$MNT")" = "directory 1777 0" ] ||
    fail "stat of the root: $(stat -c '%F %a %u' "$MNT")"
[ "$(stat -f -c '%l %S %t' "$MNT")" = "255 4096 65735546" ] ||
    fail "statfs: $(stat -f -c '%l %S %t' "$MNT")"
[ "$(stat -f -c %c "$MNT")" -ge "$(stat -f -c %d "$MNT")" ] ||
    fail "statfs: more free inodes than inodes"
[ "$(stat -f -c %b "$MNT")" -gt 0 ] || fail "statfs: no blocks"
ok "stat and statfs give sensible values"

# Name length.
n255=$(printf 'n%.0s' $(seq 255))
n256=${n255}x
touch "$MNT/$n255" || fail "a 255-byte name was refused"
expect "a 256-byte name: ENAMETOOLONG" \
    ci open c "$MNT/$n256" wc mknod "$MNT/$n256" reg \
    rename "$MNT/$n255" "$MNT/$n256" <<-'EOF'
open c: ENAMETOOLONG
mknod: ENAMETOOLONG
rename: ENAMETOOLONG
EOF
mkdir "$MNT/$n256" 2>/dev/null && fail "mkdir of a 256-byte name worked"
[ -e "$MNT/$n255" ] || fail "the 255-byte name went"
ok "255-byte names work"

# O_TRUNC is accepted and ignored.
echo a >"$MNT/tr" || fail "echo a"
echo b >"$MNT/tr" || fail "echo b"
[ "$(timeout 10 cat "$MNT/tr")" = "$(printf 'a\nb')" ] ||
    fail "O_TRUNC: got '$(timeout 10 cat "$MNT/tr")'"
expect "O_TRUNC on an open of a channel with data loses nothing" \
    ci open w "$MNT/tr2" wc write w keep open t "$MNT/tr2" wt \
    open r "$MNT/tr2" rn read r 10 <<-'EOF'
open w: ok
write w: 4
open t: ok
open r: ok
read r: 4 "keep"
EOF
ok "O_TRUNC is accepted and ignored"

cd / || exit 1
finish
