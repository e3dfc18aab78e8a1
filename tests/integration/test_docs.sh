#!/usr/bin/env bash
# The documentation tells the truth: every fenced code block in README.md
# and docs/*.md carries a marker saying what it is, and the test checks it.
#
#   <!-- example: docs/examples/tour.py -->   the block is this file, byte
#                                             for byte
#   <!-- output: docs/examples/tour.py -->    running this example (with an
#                                             ipcfs mount as its argument)
#                                             prints exactly the block
#   <!-- not-run: why -->                     shown, never run, and why
#
# A marker goes on the line just before the opening fence, or on the line
# just after the closing fence.  A block without one fails the test, as does
# a marker that belongs to no block.  The three tours (docs/examples/tour.*)
# must be shown in README.md with their output.
#
# Every example is run on a real mount with the sanitized daemon and must
# leave the mount empty: those with an output block alone, the pairs that
# need a peer (pingpong, doorbell, frame: a Python side and a C side) here
# too, each way round where either side may serve, and the bridge examples,
# which need a NATS server, by test_bridge_doc.py.  An example that none of
# these runs fails the test: pingpong, doorbell and frame once had no output
# block, so only test_pingpong.py and test_frame.py ran them, and neither
# looked at what they left behind.
#
# Python examples: a #! line is "#!/usr/bin/env python3", and one that uses
# numpy says in one line what it needs when numpy is missing (run here
# under a Python that refuses to import it) and exits non-zero.  A command
# shown in a code span with its arguments, `tools/x ARG`, names a program
# that is there in a built tree.
set -u
. "$(dirname "$0")/lib.sh"

ipcfs_mount
cd "$TOP" || fail "no $TOP"

DOCS="README.md $(ls docs/*.md 2>/dev/null | tr '\n' ' ')"
WORK=$TMP/docs
mkdir "$WORK" "$WORK/bin"
errors=0

bad() {
	echo "FAIL: $*" >&2
	errors=$((errors + 1))
}

[ -f README.md ] || fail "README.md is missing"

# Split the documents into blocks: $WORK/blk.N holds the text of block N,
# and the manifest has one line per block: N, where, marker, argument and
# info string, tab-separated, "-" for an empty field.
# shellcheck disable=SC2086
awk -v dir="$WORK" '
function err(msg) {
	printf "FAIL: %s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	nerr++
}
# Set mk and ma from a marker line; false if the line is none.
function marker(s,    i) {
	if (s !~ /^<!--[ \t]*(example|output|not-run):.*-->[ \t]*$/)
		return 0
	sub(/^<!--[ \t]*/, "", s)
	sub(/[ \t]*-->[ \t]*$/, "", s)
	i = index(s, ":")
	mk = substr(s, 1, i - 1)
	ma = substr(s, i + 1)
	sub(/^[ \t]+/, "", ma)
	return 1
}
# The length of the run of fence characters that starts s.
function fencelen(s,    c, i) {
	c = substr(s, 1, 1)
	for (i = 1; substr(s, i, 1) == c; i++)
		;
	return i - 1
}
function endfile() {
	if (inblk)
		printf "FAIL: %s: block from line %d never closed\n",
		    curfile, start > "/dev/stderr"
	if (inblk)
		nerr++
	if (mline != "" && mafter) {
		kind[mafter] = mk2; arg[mafter] = ma2
	} else if (mline != "") {
		printf "FAIL: %s:%d: marker belongs to no block\n",
		    curfile, mline > "/dev/stderr"
		nerr++
	}
	inblk = 0; mline = ""; lastclosed = 0
}
FNR == 1 {
	if (NR > 1)
		endfile()
	curfile = FILENAME
}
{
	line = $0
	if (inblk) {
		if (substr(line, 1, 1) == fc && fencelen(line) >= flen &&
		    line ~ /^(```+|~~~+)[ \t]*$/) {
			inblk = 0
			close(out)
			lastclosed = (kind[n] == "") ? n : 0
			next
		}
		print line > out
		next
	}
	if (mline != "") {
		# The marker before this line opens a block or closed one.
		if (line ~ /^(```|~~~)/) {
			pendk = mk2; penda = ma2
		} else if (mafter) {
			kind[mafter] = mk2; arg[mafter] = ma2
		} else {
			printf "FAIL: %s:%d: marker belongs to no block\n",
			    FILENAME, mline > "/dev/stderr"
			nerr++
		}
		mline = ""
	}
	if (marker(line)) {
		mline = FNR; mk2 = mk; ma2 = ma; mafter = lastclosed
		lastclosed = 0
		next
	}
	lastclosed = 0
	if (line ~ /^[ \t]+(```|~~~)/) {
		err("indented fence: keep code blocks at the margin")
		next
	}
	if (line ~ /^(```|~~~)/) {
		n++
		inblk = 1
		start = FNR
		fc = substr(line, 1, 1)
		flen = fencelen(line)
		info = substr(line, flen + 1)
		sub(/^[ \t]+/, "", info)
		where[n] = FILENAME ":" FNR
		infos[n] = info
		kind[n] = pendk; arg[n] = penda
		pendk = ""; penda = ""
		out = dir "/blk." n
		printf "" > out
	}
}
END {
	if (NR > 0)
		endfile()
	for (i = 1; i <= n; i++)
		printf "%d\t%s\t%s\t%s\t%s\n", i, where[i],
		    kind[i] == "" ? "-" : kind[i], arg[i] == "" ? "-" : arg[i],
		    infos[i] == "" ? "-" : infos[i] > (dir "/manifest")
	if (n == 0)
		printf "" > (dir "/manifest")
	exit (nerr > 0)
}' $DOCS || bad "the documents do not parse (see above)"

nblocks=0
declare -A shown=() outblk=()
while IFS=$'\t' read -r n where kind arg info; do
	nblocks=$((nblocks + 1))
	case $kind in
	example)
		if [ ! -f "$arg" ]; then
			bad "$where: $arg does not exist"
		elif ! cmp -s "$WORK/blk.$n" "$arg"; then
			bad "$where: the block is not a copy of $arg:"
			diff -u "$arg" "$WORK/blk.$n" | head -n 30 >&2
		else
			echo "ok: $where is $arg"
		fi
		shown[$where]=$arg
		shown[$arg]=$where
		;;
	output)
		if [ ! -f "$arg" ]; then
			bad "$where: $arg does not exist"
		elif [ -n "${outblk[$arg]:-}" ]; then
			bad "$where: a second output block for $arg"
		else
			outblk[$arg]=$n
		fi
		;;
	not-run)
		[ "$arg" != - ] || bad "$where: not-run needs a reason"
		;;
	-)
		bad "$where: a \`\`\`$info block without a marker" \
		    "(<!-- example: FILE -->, <!-- output: FILE -->" \
		    "or <!-- not-run: why -->)"
		;;
	*)
		bad "$where: unknown marker '$kind'"
		;;
	esac
done <"$WORK/manifest"
[ "$nblocks" -gt 0 ] || bad "no code blocks found in $DOCS"

# The README's tour: each one shown whole, with what it prints.
for f in docs/examples/tour.sh docs/examples/tour.py docs/examples/tour.c; do
	[ -f "$f" ] || { bad "$f is missing"; continue; }
	case ${shown[$f]:-} in
	README.md:*) ;;
	*) bad "README.md does not show $f" ;;
	esac
	[ -n "${outblk[$f]:-}" ] || bad "no <!-- output: $f --> block"
done

# Every shipped example at least compiles cleanly or parses.
for f in docs/examples/*; do
	case $f in
	*.c)
		cc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only "$f" ||
		    bad "$f does not compile cleanly"
		;;
	*.py)
		"$PY" -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' \
		    "$f" || bad "$f does not parse"
		;;
	*.sh)
		sh -n "$f" || bad "$f does not parse"
		;;
	esac
done

# Run each example that has an output block on the mount; compare.
for f in "${!outblk[@]}"; do
	n=${outblk[$f]}
	name=$(basename "$f")
	case $f in
	*.sh)
		cmd=(sh "$TOP/$f")
		;;
	*.py)
		cmd=("$PY" "$TOP/$f")
		;;
	*.c)
		if ! cc -std=gnu11 -Wall -Wextra -Werror -O2 \
		    -o "$WORK/bin/${name%.c}" "$f"; then
			bad "$f does not build"
			continue
		fi
		cmd=("$WORK/bin/${name%.c}")
		;;
	*)
		bad "$f: no way to run a ${f##*.} file"
		continue
		;;
	esac
	(cd "$WORK" && timeout -k 5 30 "${cmd[@]}" "$MNT") \
	    >"$WORK/$name.out" 2>"$WORK/$name.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		bad "$f exited with status $rc"
		cat "$WORK/$name.err" >&2
	elif [ -s "$WORK/$name.err" ]; then
		bad "$f wrote to stderr:"
		cat "$WORK/$name.err" >&2
	elif ! cmp -s "$WORK/$name.out" "$WORK/blk.$n"; then
		bad "$f printed something else than its output block:"
		diff -u "$WORK/blk.$n" "$WORK/$name.out" >&2
	else
		echo "ok: $f prints its output block"
	fi
	left=$(ls -A "$MNT")
	if [ -n "$left" ]; then
		bad "$f left behind in the mount: $left"
		rm -rf "${MNT:?}"/* "${MNT:?}"/.[!.]* 2>/dev/null
	fi
done

# The pairs: the first command runs in the background, the second in the
# foreground; both must end well, say nothing on stderr and leave the
# mount empty.
declare -A ran=()
for f in "${!outblk[@]}"; do
	ran[$f]=here
done
cbin() {
	local name
	name=$(basename "$1" .c)
	[ -x "$WORK/bin/$name" ] ||
	    cc -std=gnu11 -Wall -Wextra -Werror -O2 -o "$WORK/bin/$name" \
	    "$TOP/$1" || bad "$1 does not build"
	echo "$WORK/bin/$name"
}
# pair WHAT FIRST... -- SECOND...
pair() {
	local what=$1 first=() rc1=0 rc2=0 pid left
	shift
	while [ "$1" != -- ]; do
		first+=("$1")
		shift
	done
	shift
	(cd "$WORK" && exec timeout -k 5 60 "${first[@]}") \
	    >"$WORK/first.out" 2>"$WORK/first.err" </dev/null &
	pid=$!
	(cd "$WORK" && timeout -k 5 60 "$@") >"$WORK/second.out" \
	    2>"$WORK/second.err" </dev/null || rc2=$?
	wait "$pid" || rc1=$?
	if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ] || [ -s "$WORK/first.err" ] ||
	    [ -s "$WORK/second.err" ]; then
		bad "$what: exit $rc1 and $rc2:" \
		    "$(cat "$WORK/first.err" "$WORK/second.err")"
	else
		echo "ok: $what"
	fi
	left=$(ls -A "$MNT")
	if [ -n "$left" ]; then
		bad "$what left behind in the mount: $left"
		rm -rf "${MNT:?}"/* "${MNT:?}"/.[!.]* 2>/dev/null
	fi
}
EX=$TOP/docs/examples
pair "pingpong.py server, pingpong.c client" \
    "$PY" "$EX/pingpong.py" server "$MNT" -- \
    "$(cbin docs/examples/pingpong.c)" client "$MNT" 100
pair "pingpong.c server, pingpong.py client" \
    "$(cbin docs/examples/pingpong.c)" server "$MNT" -- \
    "$PY" "$EX/pingpong.py" client "$MNT" 100
pair "doorbell.py and doorbell.c" "$PY" "$EX/doorbell.py" "$MNT" -- \
    "$(cbin docs/examples/doorbell.c)" "$MNT"
pair "frame.py and frame.c" "$PY" "$EX/frame.py" "$MNT" -- \
    "$(cbin docs/examples/frame.c)" "$MNT" 20
for f in pingpong.py pingpong.c doorbell.py doorbell.c frame.py frame.c; do
	ran[docs/examples/$f]=here
done
ran[docs/examples/bridge.sh]=test_bridge_doc.py
ran[docs/examples/bridge-owners.sh]=test_bridge_doc.py
# The secured set-up's server runs with these, as docs/bridge.md shows.
ran[docs/examples/nats-server.conf]=test_bridge_auth.py
ran[docs/examples/ipcfs-permissions.conf]=test_bridge_auth.py
for f in docs/examples/*; do
	t=${ran[$f]:-}
	if [ -z "$t" ]; then
		bad "$f: run by nothing (give it an output block, or run it" \
		    "here as a pair)"
	elif [ "$t" != here ] &&
	    ! grep -qF "$(basename "$f")" "tests/integration/$t"; then
		bad "$f: tests/integration/$t does not run it"
	fi
done

# Python examples: the #! line, and numpy missing.  The hook stands for a
# Python without numpy, whichever this one has.
NONUMPY='
import runpy, sys
class NoNumpy:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "numpy":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoNumpy())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'
mkdir "$WORK/nonumpy"
for f in docs/examples/*.py; do
	name=$(basename "$f")
	line=$(head -n 1 "$f")
	case $line in
	'#!'*)
		[ "$line" = "#!/usr/bin/env python3" ] ||
		    bad "$f: '$line', not '#!/usr/bin/env python3'"
		;;
	esac
	grep -qE '^[[:space:]]*(import|from)[[:space:]]+numpy' "$f" || continue
	rc=0
	(cd "$WORK" && timeout -k 5 30 "$PY" -c "$NONUMPY" "$TOP/$f" \
	    "$WORK/nonumpy") >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	if [ $rc -ne 0 ] && [ ! -s "$WORK/$name.out" ] &&
	    [ "$(wc -l <"$WORK/$name.err")" = 1 ] &&
	    grep -q "^$name: needs numpy, which .* cannot import" \
	    "$WORK/$name.err" && [ -z "$(ls -A "$WORK/nonumpy")" ]; then
		echo "ok: $f without numpy: $(cat "$WORK/$name.err")"
	else
		bad "$f without numpy: exit $rc, stdout" \
		    "'$(cat "$WORK/$name.out")', stderr:" \
		    "$(cat "$WORK/$name.err")"
	fi
done

# A command in a code span, `PATH ARGS`, with PATH in this tree (./NAME or
# DIR/NAME for a directory DIR here): PATH is there once make check built.
# shellcheck disable=SC2086
grep -ohE '`[^`]+`' $DOCS | tr -d '`' | while read -r cmd args; do
	[ -n "$args" ] || continue
	case $cmd in
	./*) ;;
	*/*) [ -d "${cmd%%/*}" ] || continue ;;
	*) continue ;;
	esac
	[ -e "$cmd" ] || echo "$cmd $args"
done | sort -u >"$WORK/missing"
while read -r line; do
	bad "a code span runs \`$line\`, and there is no ${line%% *}"
done <"$WORK/missing"

if [ $errors -ne 0 ]; then
	echo "$errors problem(s) in the documentation" >&2
	exit 1
fi
echo "ok: $nblocks code blocks checked"
