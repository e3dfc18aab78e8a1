#!/usr/bin/env bash
# make check passes in any checkout a user may have (issue 21, part 5).
# Debian 12 makes new home directories 0700, so ~/ipcfs is a checkout that
# no other uid may enter, and a clone built under umask 077 has programs
# of mode 0700.  A test that runs something as another uid must copy it to
# where that uid can reach it, never run it from the checkout.
#
# This test makes such a checkout: a copy of this tree (less .git, objects
# and fuzzers) under a directory of mode 0700, made under umask 077, and
# runs there every test that acts as another uid (one that mentions
# setpriv, $NOBODY, setresuid or setuid=).  Each must pass there as it does
# here.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root, to act as another uid"
	exit 77
fi
[ -x "$IPCFS" ] && [ -x "$CHANIO" ] ||
    fail "build $IPCFS and $CHANIO first (make check does)"

KEEP_GOING=1
TMP=$(mktemp -d /tmp/ipcfs-checkout.XXXXXX)
trap 'cd /; rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM
umask 077
HOME_DIR=$TMP/home
COPY=$HOME_DIR/ipcfs
mkdir -m 700 "$HOME_DIR" "$COPY"
# As a clone and build under umask 077 would leave it: every file and
# directory its owner's alone.
tar -C "$TOP" -cf - --exclude=./.git --exclude=./build/fuzz \
    --exclude='*.o' --exclude='*.d' . |
    tar -C "$COPY" -xf - --no-same-permissions --no-same-owner ||
    fail "cannot copy $TOP to $COPY"
[ "$(stat -c %a "$COPY/build/chanio")" = 700 ] ||
    fail "the copy's chanio is mode $(stat -c %a "$COPY/build/chanio")"
if $NOBODY sh -c "ls '$COPY'" >/dev/null 2>&1; then
	fail "uid 65534 can enter $COPY: the test proves nothing"
fi

me=$(basename "$0")
tests=$(cd "$TOP/tests/integration" &&
    grep -lE 'setpriv|\$NOBODY|setresuid|setuid=' test_*.sh test_*.py |
    grep -vx "$me")
[ -n "$tests" ] || fail "no test acts as another uid: the pattern is wrong"
for t in $tests; do
	case $t in
	*.sh) cmd=(bash "tests/integration/$t") ;;
	*.py) cmd=(/usr/bin/python3 "tests/integration/$t") ;;
	esac
	rc=0
	(cd "$COPY" && env -u IPCFS -u CHANIO -u IPCFS_MOUNTNS \
	    timeout -k 5 200 "${cmd[@]}") >"$TMP/$t.log" 2>&1 </dev/null ||
	    rc=$?
	case $rc in
	0)
		ok "from a 0700 checkout built under umask 077: $t" ;;
	77)
		ok "from a 0700 checkout: $t skips: $(tail -n 1 "$TMP/$t.log")" ;;
	*)
		sed 's/^/    /' "$TMP/$t.log" | tail -n 30 >&2
		notok "from a 0700 checkout built under umask 077: $t (exit $rc)"
		;;
	esac
done
finish
