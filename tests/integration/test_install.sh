#!/usr/bin/env bash
# make uninstall takes away the directories make install made and leaves
# those that were there before (issue 21, part 6): after install and
# uninstall into a /usr/local like Debian's, share/doc, share/man/man1
# and share/man/man7 stayed behind, empty.
#
# - Under a DESTDIR holding what Debian's /usr/local has (bin, lib, sbin,
#   share/man) and an empty share/man/man7 as well: install twice, then
#   uninstall; the tree is exactly as it was, empty man7 and all.
# - With PREFIX alone, into a directory that did not exist: uninstall
#   removes every directory install made, except the one where another
#   page was put meanwhile, and its parents; the directory above PREFIX,
#   there before, stays.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
W=$(mktemp -d /tmp/ipcfs-install.XXXXXX)
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM
cd "$TOP" || fail "no $TOP"
# Whatever make runs this test, the make below is a make of its own.
unset MAKEFLAGS MFLAGS MAKELEVEL

# tree DIR: every directory and file under DIR, with its type.
tree() {
	(cd "$1" && find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort -k 2)
}

# mk WHAT ARGS...: run make ARGS, or note that it failed.
mk() {
	local what=$1

	shift
	if ! make -s "$@" >"$W/make.log" 2>&1; then
		cat "$W/make.log" >&2
		notok "make $what failed"
		return 1
	fi
}

D=$W/dest
mkdir -p "$D/usr/local/bin" "$D/usr/local/lib" "$D/usr/local/sbin" \
    "$D/usr/local/share/man/man7"
tree "$D" >"$W/before"
if mk "install DESTDIR" install DESTDIR="$D" PREFIX=/usr/local &&
    mk "install DESTDIR, again" install DESTDIR="$D" PREFIX=/usr/local &&
    mk "uninstall DESTDIR" uninstall DESTDIR="$D" PREFIX=/usr/local; then
	tree "$D" >"$W/after"
	if cmp -s "$W/before" "$W/after"; then
		ok "install twice and uninstall under a DESTDIR: the tree is as it was"
	else
		diff -u "$W/before" "$W/after" >&2
		notok "install and uninstall under a DESTDIR changed the tree"
	fi
fi

P=$W/opt/ipcfs
mkdir "$W/opt"
if mk "install PREFIX" install PREFIX="$P"; then
	[ -d "$P/share/man/man7" ] && [ -d "$P/share/doc/ipcfs" ] ||
	    notok "install PREFIX=$P made no share/man/man7, share/doc/ipcfs"
	echo ".Dd x" >"$P/share/man/man1/other.1"
	if mk "uninstall PREFIX" uninstall PREFIX="$P"; then
		tree "$W/opt" >"$W/after"
		expect "uninstall PREFIX: what install made goes, unless not empty" \
		    cat "$W/after" <<-'EOF'
		d ./ipcfs
		d ./ipcfs/share
		d ./ipcfs/share/man
		d ./ipcfs/share/man/man1
		f ./ipcfs/share/man/man1/other.1
		EOF
	fi
fi

finish
