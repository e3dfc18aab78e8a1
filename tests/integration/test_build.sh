#!/usr/bin/env bash
# A plain make on a machine without the -dev packages must say which
# Debian packages are missing and that make run or make check installs
# them, not fail in the compiler on a missing header (issue 10).  A
# pkg-config of our own stands in for a machine that lacks some: it knows
# only the libraries it is told to.  Nothing is built: the check comes
# first, and the tree is left as it was.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/ipcfs-build.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failed=0

# A pkg-config that knows only the packages named in $KNOWN.
cat >"$TMP/pkg-config" <<'EOS'
#!/bin/sh
for a; do
	case $a in
	-*) ;;
	*) case " $KNOWN " in *" $a "*) ;; *) exit 1 ;; esac ;;
	esac
done
exec pkg-config "$@"
EOS
chmod 755 "$TMP/pkg-config"

# expect_missing KNOWN PACKAGES: make fails and names exactly PACKAGES.
expect_missing() {
	local out rc=0

	out=$(KNOWN=$1 make -C "$TOP" -s PKG_CONFIG="$TMP/pkg-config" all \
	    2>&1) || rc=$?
	if [ $rc -ne 0 ] &&
	    printf '%s\n' "$out" | grep -qx "ipcfs: missing Debian packages: $2" &&
	    printf '%s\n' "$out" | grep -q "'make run' or 'make check' installs" &&
	    ! printf '%s\n' "$out" | grep -q "No such file"; then
		echo "ok - without ${3}: make names $2"
	else
		echo "not ok - without ${3}: make said (exit $rc):"
		printf '%s\n' "$out" | sed 's/^/    /'
		failed=1
	fi
}

expect_missing "fuse3" "libbsd-dev" "libbsd"
expect_missing "libbsd-overlay" "libfuse3-dev" "libfuse3"
expect_missing "" "libfuse3-dev libbsd-dev" "either"
out=$(make -C "$TOP" -s PKG_CONFIG=/nonexistent/pkg-config all 2>&1)
if printf '%s\n' "$out" | grep -qx \
    "ipcfs: missing Debian packages: pkg-config libfuse3-dev libbsd-dev"; then
	echo "ok - without pkg-config: make names it"
else
	echo "not ok - without pkg-config: make said: $out"
	failed=1
fi
# With everything there the check says nothing.
out=$(make -C "$TOP" -s pkgcheck 2>&1)
if [ -z "$out" ]; then
	echo "ok - with the packages: the check is silent"
else
	echo "not ok - with the packages the check said: $out"
	failed=1
fi
exit $failed
