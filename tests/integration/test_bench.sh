# The benchmark of issues 5 and 11 in its smoke mode: tools/bench-run
# --smoke runs every scenario at tiny sizes, twice so the runs are
# interleaved and ratios have ranges, against three real ipcfs daemons of
# its own (the sanitized build here) and the kernel's pipes, FIFOs,
# sockets, tmpfs, /dev/shm and POSIX message queues, and ZeroMQ, writing
# its results to a temporary directory.  Issue 23: every case is pinned to
# one CPU, the placement recorded, and the stream scenario run again across
# CPUs is reported apart.
#
# No timing is asserted.  What is checked: every scenario produced a result
# line for ipcfs and for each of its baselines, with a number in it; the
# report and each of its sections were written; docs/ was left alone; the
# daemons left no sanitizer report, no mount and no process behind.
set -eu
. "$(dirname "$0")/lib.sh"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
OUT=$(mktemp -d /tmp/ipcfs-test-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

docs_md=$TOP/docs/BENCHMARKS.md
before=$(stat -c '%Y %s' "$docs_md" "$TOP/docs/benchmarks.png" \
    "$TOP/docs/benchmarks.tsv" 2>/dev/null || true)

if ! IPCFS=$IPCFS timeout 60 "$TOP/tools/bench-run" --smoke --reps 2 --out "$OUT" \
    >"$OUT/run.log" 2>&1; then
	cat "$OUT/run.log" >&2
	fail "tools/bench-run --smoke failed"
fi
TSV=$OUT/benchmarks.tsv
[ -s "$TSV" ] || fail "no results file"

# Nothing of the run may be left behind: its mounts are named in the logs.
for log in "$OUT"/daemon-*.log; do
	[ -e "$log" ] || fail "no daemon log kept"
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
		cat "$log" >&2
		fail "sanitizer report from the daemon ($log)"
	fi
	mnt=$(sed -n 's/^ipcfs: mounted on \(.*\): region mode .*/\1/p' "$log")
	[ -n "$mnt" ] || fail "no mount line in $log: $(cat "$log")"
	if grep -qs " $mnt fuse.ipcfs " /proc/mounts; then
		fail "$mnt is still mounted"
	fi
	if pgrep -f -- " $mnt\$" >/dev/null; then
		fail "a daemon for $mnt still runs"
	fi
	[ ! -e "$mnt" ] || fail "temporary directory $mnt left behind"
done

after=$(stat -c '%Y %s' "$docs_md" "$TOP/docs/benchmarks.png" \
    "$TOP/docs/benchmarks.tsv" 2>/dev/null || true)
[ "$before" = "$after" ] || fail "the smoke run touched docs/"

# One result line for scenario $1, a case starting with $2, subject $3,
# whose median is a number.
expect() {
	awk -F'\t' -v s="$1" -v c="$2" -v subj="$3" '
	    $1 == "result" && $2 == s && index($3, c) == 1 && $4 == subj {
		    if ($8 ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) found = 1
	    }
	    END { exit !found }' "$TSV" ||
	    fail "no result for $1 / $2 / $3"
}

# Which region modes the two mounts got decides the region subjects.
modes=$(awk -F'\t' '$1 == "meta" && $2 ~ /^mount[01]$/ &&
    ($3 == "passthrough" || $3 == "pagecache") { print $3 }' "$TSV")
[ -n "$modes" ] || echo "note: no region mode here; region scenarios skipped"

for m in $modes; do
	expect memory "daemon memory per idle channel" "ipcfs-$m"
	expect memory "daemon descriptors per idle channel" "ipcfs-$m"
done
for size in "4 KiB" "64 KiB" "1024 KiB"; do
	for s in ipcfs pipe fifo unix-socket; do
		expect stream "$size writes" $s
	done
	expect cpu "daemon CPU per GB moved, $size writes" ipcfs
	# Issue 23: the same across CPUs, reported apart.
	if [ "$(nproc)" -ge 2 ]; then
		for s in ipcfs pipe fifo unix-socket; do
			expect stream-cross "$size writes" $s
		done
		expect cpu-cross "daemon CPU per GB moved, $size writes" ipcfs
	fi
done
# The placement is recorded.
grep -q "^meta	placement	every process of a case on CPU" "$TSV" ||
    fail "no placement in the results"
for size in "64 B" "4 KiB"; do
	for s in ipcfs fifo-pair unix-socket; do
		expect rtt "$size round trip" $s
	done
done
# $modes is a list of words on purpose.
# shellcheck disable=SC2086
if [ -n "$modes" ]; then
	for c in "first touch" "memcpy into"; do
		for s in $(printf 'ipcfs-%s ' $modes) dev-shm; do
			expect region "$c" "$s"
		done
	done
	for s in $(printf 'ipcfs-%s ' $modes) shm+futex shm+eventfd \
	    shm+10ms-polling; do
		expect frame "1 MiB frame round trips" "$s"
	done
	case " $modes " in
	*" passthrough "*)
		expect frame "1 MiB frame round trips" \
		    ipcfs-passthrough-spin200 ;;
	esac
fi
for c in create stat unlink; do
	for s in $(awk -F'\t' '$1 == "meta" && $2 ~ /^mount[01]$/ {
	    print "ipcfs-" $3 }' "$TSV") tmpfs; do
		expect files "$c " "$s"
	done
done
# The wake cases name their reader count: match on the rest.
expect_in() {
	awk -F'\t' -v s="$1" -v c="$2" -v subj="$3" '
	    $1 == "result" && $2 == s && index($3, c) > 0 && $4 == subj {
		    if ($8 ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) found = 1
	    }
	    END { exit !found }' "$TSV" ||
	    fail "no result for $1 / ...$2 / $3"
}
for what in "wake latency, median" "wake latency, p99" "all woken at once"; do
	expect_in wake "their own channels: $what" ipcfs
	expect_in wake "their own channels: $what" pipes
	expect_in wake "one channel: $what" ipcfs
	expect_in wake "one channel: $what" fifo
done
# Issue 11: framing=messages and delivery=broadcast against their
# baselines.
for size in "64 B" "4 KiB"; do
	for s in ipcfs posix-mqueue unix-seqpacket; do
		expect msg "$size messages" $s
	done
done
for s in ipcfs posix-mqueue unix-seqpacket; do
	expect msg "64 B message round trip" $s
done
for n in "1 reader," "4 readers," "16 readers,"; do
	for s in ipcfs pipe-per-reader zeromq-pub-sub; do
		expect bcast "$n" $s
	done
done

# The report: written where asked, with the issue's targets in it.
MD=$OUT/BENCHMARKS.md
[ -s "$MD" ] || fail "no report written"
grep -q '^## Targets of issues 5 and 23' "$MD" || fail "report has no targets"
n=$(grep -cE '\*\*(met|not met)\*\*' "$MD" || true)
[ "$n" -ge 9 ] || fail "report judges only $n targets"
grep -q 'smoke run' "$MD" || fail "report does not say it is a smoke run"
for h in "## Machine and run" "## Results" "## How to reproduce" \
    "### 1. Stream throughput" "### 2. Round-trip latency" \
    "### 4. The seed frame exchange" "### 5. Scale: create, stat and unlink" \
    "### 6. Messages: throughput and round trip" \
    "### 7. Broadcast to many readers"; do
	grep -qxF "$h" "$MD" || fail "report has no '$h'"
done
[ "$(nproc)" -lt 2 ] || for h in "### 1b. Stream throughput across CPUs" \
    "| placement | every process of a case on CPU 0 |"; do
	grep -qxF "$h" "$MD" || fail "report has no '$h'"
done
grep -qF '](benchmarks.png)' "$MD" || fail "report does not show the plot"
# Two repetitions give every ratio a range.
grep -qE '\*\*[0-9.]+x\*\* \([0-9.]+–[0-9.]+\)' "$MD" ||
    fail "no ratio with a range over repetitions"
# tools/install-deps installs gnuplot: the plot is part of the report.
[ -s "$OUT/benchmarks.png" ] || fail "no plot (is gnuplot-nox installed?)"
echo "bench smoke: $(grep -c '^result' "$TSV") results, $n targets judged"
