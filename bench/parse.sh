#!/usr/bin/env bash
# bench/parse.sh [FRAMES] - the in-memory parse benchmark (make bench-parse): kuniq's frame parser
# (scalar and AVX2) against simdjson (DOM, On-Demand, parse_many), jansson, jq, Python's
# json.loads, and the I/O floor (cat, wc -l), on generator frames; prints a markdown table.
#
# The frames come from build/kuniq-gen (seed 7). Its numbers 1e400 are replaced by 1e300 (same
# length): they are valid JSON, but simdjson rejects numbers beyond a double, which would stop
# it early on most frames. jq and Python run on the first fifth of the frames.
set -euo pipefail
frames=${1:-100000}
secs=${BENCH_SECONDS:-2}
dir=build/bench
big=$dir/parse-frames.jsonl
small=$dir/parse-frames-small.jsonl
mkdir -p "$dir"
build/kuniq-gen --count "$frames" --seed 7 | sed 's/1e400/1e300/g' > "$big"
head -n $((frames / 5)) "$big" > "$small"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "kuniq built with: ${CC:-cc} $(${CC:-cc} --version | head -1)"
python3 bench/parse_table.py "$big" "$small" "$secs"
