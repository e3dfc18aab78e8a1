#!/usr/bin/env bash
# The man pages and make install (issue 12):
#
# - every page in docs/ (docs/*.[1-8]) passes 'mandoc -T lint -W warning';
# - the options agree: those src/opts.c parses, those 'ipcfs --help' lists,
#   those docs/options.md documents and those ipcfs(1) lists, and the
#   flags of docs/options.md and ipcfs(1);
# - 'make install DESTDIR=... PREFIX=/usr' installs exactly the expected
#   files, with their modes, 'man' finds and renders the installed pages,
#   and 'make uninstall' leaves nothing behind, not even a directory.
#
# Both checkers are first shown a broken page and a document with an
# option of its own, and must complain, so that they can fail at all.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/helpers.sh"

KEEP_GOING=1
W=$(mktemp -d /tmp/ipcfs-man.XXXXXX)
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM
cd "$TOP" || fail "no $TOP"
# Whatever make runs this test, the make below is a make of its own.
unset MAKEFLAGS MFLAGS MAKELEVEL

command -v mandoc >/dev/null ||
    fail "mandoc is missing (tools/install-deps installs it)"

# lint FILE: mandoc's warnings and errors about FILE, none if it is clean.
lint() {
	mandoc -T lint -W warning "$1" 2>&1 || [ $? -eq 1 ] ||
	    echo "mandoc failed on $1"
}

pages=$(ls docs/*.[1-8] 2>/dev/null)
[ -n "$pages" ] || fail "no man pages in docs/"
for p in $pages; do
	out=$(lint "$p")
	if [ -n "$out" ]; then
		echo "$out" >&2
		notok "mandoc -T lint: $p"
	else
		ok "mandoc -T lint: $p"
	fi
done
# A page with a macro mandoc does not know must not pass.
{ cat docs/ipcfs.1; echo ".Xx not a macro"; } >"$W/broken.1"
if [ -n "$(lint "$W/broken.1")" ]; then
	ok "lint finds a broken page"
else
	notok "lint passes a broken page"
fi

# The options, one name a line, sorted, from each place.

# ipcfs's own: what the parser takes.
opts_c() {
	sed -nE 's/.*FUSE_OPT_KEY\("([a-z_0-9]+)=?".*/\1/p' src/opts.c |
	    sort -u
}

# -o names in ipcfs's own part of --help (file $1).
help_own() {
	awk '/^ipcfs options:/ { f = 1; next } f && /^$/ { exit } f' "$1" |
	    grep -oE -- '-o [a-z_0-9]+' | cut -c4- | sort -u
}

# docs/options.md (file $1): the table of ipcfs's options, the list of
# FUSE options that matter (the names a bullet starts with), and -o in
# the table of flags.
md_opts() {
	{
		sed -nE '/^## Options of ipcfs/,/^## /s/^\| `([a-z_0-9]+)=.*/\1/p' "$1"
		sed -nE '/^## FUSE options that matter/,/^## /s/^- ((`[a-z_0-9]+`(, | and | or )?)+).*/\1/p' "$1" |
		    grep -oE '`[a-z_0-9]+`' | tr -d '`'
		sed -nE '/^## Command-line flags/,/^## /p' "$1" |
		    grep -oE '`-o [a-z_0-9]+' | cut -c5-
	} | sort -u
}

# The flags in docs/options.md's table of flags (file $1).
md_flags() {
	sed -nE '/^## Command-line flags/,/^## /p' "$1" |
	    grep -oE -- '`--?[a-zA-Z][a-z-]*[` ]' | tr -d '` ' | sort -u
}

# ipcfs(1) (file $1): the tags of the option lists, .It Cm NAME (several
# on one line for options that share a paragraph).
man_opts() {
	awk '/^\.It Cm / {
		for (i = 2; i <= NF; i++)
			if ($i == "Cm" && i < NF)
				print $(i + 1)
	}' "$1" | sort -u
}

# ipcfs(1)'s flags: .It Fl x [, -long].
man_flags() {
	awk '/^\.It Fl / {
		for (i = 3; i <= NF; i++) {
			if ($i == ",")
				continue
			if ($i ~ /^[A-Z][a-z]$/)
				break
			print "-" $i
		}
	}' "$1" | sort -u
}

# in_help WORD: WORD is in the whole of --help, libfuse's part included.
in_help() {
	grep -qE -- "(^|[^a-z_0-9-])$1([^a-z_0-9]|$)" "$W/help"
}

# agree OPTIONS_MD MAN_PAGE: say what differs; status 1 if anything does.
agree() {
	local md=$1 man=$2 bad=0 o

	help_own "$W/help" >"$W/h"
	opts_c >"$W/c"
	md_opts "$md" >"$W/d"
	man_opts "$man" >"$W/m"
	md_flags "$md" >"$W/df"
	man_flags "$man" >"$W/mf"
	for f in c h d m df mf; do
		if [ "$(wc -l <"$W/$f")" -lt 3 ]; then
			echo "found almost no options ($f): the parsing is broken"
			bad=1
		fi
	done
	for o in $(comm -23 "$W/c" "$W/h"); do
		echo "$o: src/opts.c parses it, ipcfs --help does not list it"
		bad=1
	done
	for o in $(comm -23 "$W/h" "$W/d"); do
		echo "$o: in ipcfs --help, not in docs/options.md"
		bad=1
	done
	for o in $(comm -23 "$W/h" "$W/m"); do
		echo "$o: in ipcfs --help, not in ipcfs(1)"
		bad=1
	done
	for o in $(comm -23 "$W/d" "$W/m"); do
		echo "$o: in docs/options.md, not in ipcfs(1)"
		bad=1
	done
	for o in $(comm -23 "$W/m" "$W/d"); do
		echo "$o: in ipcfs(1), not in docs/options.md"
		bad=1
	done
	for o in $(sort -u "$W/d" "$W/m"); do
		in_help "$o" && continue
		echo "$o: documented, but ipcfs --help never mentions it"
		bad=1
	done
	for o in $(comm -3 "$W/df" "$W/mf" | tr -d '\t'); do
		echo "flag $o: in one of docs/options.md and ipcfs(1) only"
		bad=1
	done
	for o in $(cat "$W/df"); do
		in_help "$o" && continue
		echo "flag $o: documented, but ipcfs --help never mentions it"
		bad=1
	done
	return $bad
}

"$IPCFS" --help >"$W/help" 2>&1 || fail "ipcfs --help: exit $?"
if agree docs/options.md docs/ipcfs.1 >"$W/why"; then
	ok "options agree: src/opts.c, ipcfs --help, docs/options.md," \
	    "ipcfs(1) ($(paste -sd ' ' "$W/m"))"
else
	cat "$W/why" >&2
	notok "options disagree"
fi
# An option added to one place only must be found.
{
	cat docs/options.md
	printf '\n## Options of ipcfs\n\n| `bogus_opt=N` | 1 | 1 | none |\n'
} >"$W/options.md"
if ! agree "$W/options.md" docs/ipcfs.1 >"$W/why" &&
    grep -q "bogus_opt: in docs/options.md, not in ipcfs(1)" "$W/why"; then
	ok "an option only in docs/options.md is found"
else
	notok "an option only in docs/options.md passes"
fi
o=$(help_own "$W/help" | tail -n 1)
sed "s/^\.It Cm $o\>/.It Cm ${o}_renamed/" docs/ipcfs.1 >"$W/ipcfs.1"
if ! agree docs/options.md "$W/ipcfs.1" >"$W/why" &&
    grep -q "^$o: in ipcfs --help, not in ipcfs(1)" "$W/why"; then
	ok "an option missing from ipcfs(1) is found"
else
	notok "an option missing from ipcfs(1) passes"
fi

# make install into a fresh directory, and out again.
D=$W/dest
mkdir "$D"
if ! make -s install DESTDIR="$D" PREFIX=/usr >"$W/install.log" 2>&1; then
	cat "$W/install.log" >&2
	fail "make install DESTDIR=$D PREFIX=/usr failed"
fi
(cd "$D" && find . ! -type d -printf '%m %p\n' | sort -k 2) >"$W/files"
expect "make install puts exactly these files there" cat "$W/files" <<'EOF'
755 ./usr/bin/ipcfs
755 ./usr/bin/ipcfs-stat
644 ./usr/lib/systemd/system/mnt-ipc.mount
644 ./usr/share/doc/ipcfs/installed-dirs
644 ./usr/share/doc/ipcfs/ipcfs.fstab
644 ./usr/share/man/man1/ipcfs-stat.1
644 ./usr/share/man/man1/ipcfs.1
644 ./usr/share/man/man7/ipcfs.7
EOF
if (cd "$D" && find . -mindepth 1 -type d ! -perm 755 | grep .); then
	notok "make install made directories whose mode is not 755"
else
	ok "make install's directories have mode 755"
fi
for f in ipcfs ipcfs-stat; do
	cmp -s "$f" "$D/usr/bin/$f" || notok "installed $f is not ./$f"
done
for f in docs/ipcfs.1 docs/ipcfs-stat.1; do
	cmp -s "$f" "$D/usr/share/man/man1/${f#docs/}" ||
	    notok "installed ${f#docs/} is not $f"
done
cmp -s docs/ipcfs.7 "$D/usr/share/man/man7/ipcfs.7" ||
    notok "installed ipcfs.7 is not docs/ipcfs.7"
cmp -s mount/mnt-ipc.mount "$D/usr/lib/systemd/system/mnt-ipc.mount" ||
    notok "installed mnt-ipc.mount is not mount/mnt-ipc.mount"
cmp -s mount/ipcfs.fstab "$D/usr/share/doc/ipcfs/ipcfs.fstab" ||
    notok "installed ipcfs.fstab is not mount/ipcfs.fstab"

# man finds the installed pages by name and renders them; mandoc renders
# them too.
M=$D/usr/share/man
if command -v man >/dev/null; then
	for want in "ipcfs $M/man1/ipcfs.1" "7 ipcfs $M/man7/ipcfs.7" \
	    "ipcfs-stat $M/man1/ipcfs-stat.1"; do
		got=$(MANPATH=$M man -w ${want% *} 2>&1)
		if [ "$got" = "${want##* }" ]; then
			ok "man -w ${want% *} finds the installed page"
		else
			notok "man -w ${want% *}: $got, not ${want##* }"
		fi
	done
	MANPATH=$M MANWIDTH=80 man -E ascii ipcfs 2>&1 | col -b >"$W/man.txt"
	# groff renders the dash of NAME as --, mandoc as -.
	if grep -qE "ipcfs -+ file system whose files are channels" \
	    "$W/man.txt" && grep -q "^SIGNALS" "$W/man.txt"; then
		ok "man ipcfs shows the page"
	else
		head -n 20 "$W/man.txt" >&2
		notok "man ipcfs shows no page"
	fi
else
	echo "(no man here: only mandoc renders the pages)"
fi
for p in man1/ipcfs.1 man7/ipcfs.7 man1/ipcfs-stat.1; do
	out=$(mandoc -T ascii "$M/$p" 2>&1 | col -b)
	case $out in
	*NAME*DESCRIPTION*"SEE ALSO"*) ok "mandoc renders the installed $p" ;;
	*) notok "mandoc does not render the installed $p" ;;
	esac
done

if ! make -s uninstall DESTDIR="$D" PREFIX=/usr >"$W/uninstall.log" 2>&1
then
	cat "$W/uninstall.log" >&2
	notok "make uninstall DESTDIR=$D PREFIX=/usr failed"
fi
left=$(cd "$D" && find . -mindepth 1)
if [ -z "$left" ]; then
	ok "make uninstall leaves nothing behind"
else
	notok "make uninstall left:" $left
fi

finish
