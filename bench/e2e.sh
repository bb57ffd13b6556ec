#!/usr/bin/env bash
# End-to-end throughput of kuniq from a file in page cache, against peers in the same run:
# the I/O floor (cat, wc -l), kuniq with one window and with all six, the scalar parser, and
# what the public sample solutions did (Python json.loads + a set per minute; jq).
# Usage: bench/e2e.sh [FRAMES]   (default 1000000; the slow peers read the first 100,000 frames)
# Prints a markdown table: seconds, frames/s, MB/s, peak RSS, and the ratio to kuniq -w minute.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
SLOW=$(( N < 100000 ? N : 100000 ))
dir=$(mktemp -d /tmp/kuniq-e2e-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
make -s all >/dev/null
build/kuniq-gen --count "$N" --seed 1 > "$dir/all.jsonl"
head -n "$SLOW" "$dir/all.jsonl" > "$dir/slow.jsonl"
# the same users and timestamps in small frames (~60 B: the two fields and up to three others):
# what a compact serialisation carrying little more than uid and ts would leave to kuniq
build/kuniq-gen --count "$N" --seed 1 --frame-size 40 > "$dir/slim.jsonl"
cat "$dir/all.jsonl" "$dir/slow.jsonl" "$dir/slim.jsonl" > /dev/null # page cache
cat > "$dir/sample.py" <<'PY'
import json, sys
minutes = {}
for line in open(sys.argv[1], "rb"):
    f = json.loads(line)
    minutes.setdefault(f["ts"] // 60, set()).add(f["uid"])
for m in sorted(minutes):
    print(json.dumps({"minute": m * 60, "uniques": len(minutes[m])}))
PY

# run NAME FRAMES FILE CMD... : best of 3 wall times, peak RSS of the best run
rows=()
base=""
run() {
	local name=$1 frames=$2 file=$3; shift 3
	local best="" rss=""
	for _ in 1 2 3; do
		/usr/bin/time -f "%e %M" -o "$dir/t" "$@" < /dev/null > /dev/null 2>"$dir/err" || { cat "$dir/err"; exit 1; }
		read -r t m < "$dir/t"
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
	done
	local bytes; bytes=$(stat -c %s "$file")
	local fps mbs
	fps=$(awk "BEGIN{printf \"%.0f\", $frames / ($best > 0 ? $best : 0.001)}")
	mbs=$(awk "BEGIN{printf \"%.0f\", $bytes / 1e6 / ($best > 0 ? $best : 0.001)}")
	[ -n "$base" ] || base=$fps
	rows+=("| $name | $frames | $best | $fps | $mbs | $((rss / 1024)) | $(awk "BEGIN{printf \"%.3f\", $fps / $base}") |")
}
T1="--threads 1"
run "kuniq -w minute, one core" "$N" "$dir/all.jsonl" build/kuniq $T1 "$dir/all.jsonl"
run "kuniq -w minute,hour,day,week,month,year, one core" "$N" "$dir/all.jsonl" build/kuniq $T1 -w minute,hour,day,week,month,year "$dir/all.jsonl"
run "kuniq --parser scalar, one core" "$N" "$dir/all.jsonl" build/kuniq $T1 --parser scalar "$dir/all.jsonl"
run "kuniq --mode approx, six windows, one core" "$N" "$dir/all.jsonl" build/kuniq $T1 --mode approx -w minute,hour,day,week,month,year "$dir/all.jsonl"
run "kuniq -w minute on ~60 B frames (same stream, slim), one core" "$N" "$dir/slim.jsonl" build/kuniq $T1 "$dir/slim.jsonl"
run "kuniq -w minute, $(nproc) threads" "$N" "$dir/all.jsonl" build/kuniq "$dir/all.jsonl"
run "kuniq six windows, $(nproc) threads" "$N" "$dir/all.jsonl" build/kuniq -w minute,hour,day,week,month,year "$dir/all.jsonl"
run "cat > /dev/null (I/O floor)" "$N" "$dir/all.jsonl" cat "$dir/all.jsonl"
run "wc -l (newline count)" "$N" "$dir/all.jsonl" wc -l "$dir/all.jsonl"
run "python3 json.loads + set per minute" "$SLOW" "$dir/slow.jsonl" python3 "$dir/sample.py" "$dir/slow.jsonl"
run "jq -c '{uid,ts}'" "$SLOW" "$dir/slow.jsonl" jq -c '{uid,ts}' "$dir/slow.jsonl"
echo "| command | frames | best of 3 (s) | frames/s | MB/s | peak RSS (MiB) | ratio to the first row |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
