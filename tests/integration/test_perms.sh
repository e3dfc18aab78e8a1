#!/usr/bin/env bash
# Mode bits, enforced by the kernel (default_permissions is always on):
# a user who is not the owner, uid 65534 here, is refused by them, and let
# in once they allow it.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

# Run chanio as uid and gid 65534 with no other groups.
nobody() {
	$NOBODY "$CHANIO" -t 20 "$@"
}

ipcfs_mount -o allow_other
watchdog 60
grep -qs " $MNT fuse.ipcfs .*default_permissions" /proc/mounts ||
    fail "default_permissions is not on"

C=$MNT/c
touch "$C" || fail "touch failed"
chmod 0600 "$C" || fail "chmod failed"
expect "a non-owner is denied by mode 0600" \
    nobody open r "$C" r open w "$C" w open a "$C" rwn <<-'EOF'
open r: EACCES
open w: EACCES
open a: EACCES
EOF
out=$($NOBODY cat "$C" 2>&1) && fail "cat as uid 65534 worked: $out"
case $out in
*"Permission denied"*) ;;
*) fail "cat as uid 65534: $out" ;;
esac
ok "cat as a non-owner: Permission denied"

chmod 0644 "$C" || fail "chmod failed"
expect "mode 0644: a non-owner may read, not write" \
    nobody open r "$C" rn open w "$C" w <<-'EOF'
open r: ok
open w: EACCES
EOF

chmod 0666 "$C" || fail "chmod failed"
expect "mode 0666: a non-owner may read and write" \
    nobody open r "$C" rn open w "$C" w write w hi read r 10 <<-'EOF'
open r: ok
open w: ok
write w: 2
read r: 2 "hi"
EOF
echo "from root" >"$C" || fail "root cannot write"
[ "$($NOBODY timeout 10 cat "$C")" = "from root" ] ||
    fail "uid 65534 did not read what root wrote"
ok "root writes, a non-owner reads"

chmod 0600 "$C" || fail "chmod failed"
chown 65534:65534 "$C" || fail "chown failed"
expect "the owner may use a 0600 channel" \
    nobody open a "$C" rwn write a mine read a 10 <<-'EOF'
open a: ok
write a: 4
read a: 4 "mine"
EOF

# Only the owner changes modes and owners.
touch "$MNT/roots" || fail "touch failed"
chmod 0666 "$MNT/roots" || fail "chmod failed"
$NOBODY chmod 0777 "$MNT/roots" 2>/dev/null && fail "a non-owner could chmod"
$NOBODY chown 65534 "$MNT/roots" 2>/dev/null && fail "a non-owner could chown"
[ "$(stat -c '%a %u' "$MNT/roots")" = "666 0" ] ||
    fail "roots changed: $(stat -c '%a %u' "$MNT/roots")"
ok "a non-owner cannot chmod or chown"

# The root directory is 1777: anyone creates, nobody removes another's.
$NOBODY rm -f "$MNT/roots" 2>/dev/null
[ -e "$MNT/roots" ] || fail "a non-owner removed root's channel in a 1777 directory"
$NOBODY mv "$MNT/roots" "$MNT/mine" 2>/dev/null &&
    fail "a non-owner renamed root's channel in a 1777 directory"
$NOBODY touch "$MNT/theirs" || fail "a non-owner cannot create in the root"
rm "$MNT/theirs" || fail "root cannot remove another's channel"
ok "the sticky root directory protects each user's channels"

# A directory's own bits.
mkdir -m 0755 "$MNT/d" || fail "mkdir failed"
expect "no channels in another's 0755 directory" \
    nobody open c "$MNT/d/x" wc mknod "$MNT/d/y" reg <<-'EOF'
open c: EACCES
mknod: EACCES
EOF
mkdir -m 0700 "$MNT/p" || fail "mkdir failed"
touch "$MNT/p/c" && chmod 0666 "$MNT/p/c" || fail "touch p/c failed"
expect "no way through another's 0700 directory" \
    nobody open r "$MNT/p/c" rn <<-'EOF'
open r: EACCES
EOF
finish
