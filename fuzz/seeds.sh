#!/usr/bin/env bash
# fuzz/seeds.sh DIR - writes the fuzzer's seed corpus into DIR: generator frames (clean, string
# and fractional ts, bit flips, malformed frames of every kind), and every JSONTestSuite case both
# bare and wrapped as the value of an extra key of a valid frame (as tests/test_conformance.c).
# In a clone of the repository alone (no ../shared) the JSONTestSuite seeds are left out, with a
# SKIP line saying so; a suite named by $KUNIQ_JSONTESTSUITE, or missing inside ../shared, fails.
set -euo pipefail
dir=$1
suite=${KUNIQ_JSONTESTSUITE:-../shared/conformance/JSONTestSuite/test_parsing}
gen=${KUNIQ_GEN:-build/kuniq-gen}
if [ -z "${KUNIQ_JSONTESTSUITE:-}" ] && [ ! -e ../shared ]; then
	echo "seeds: SKIP JSONTestSuite seeds: ../shared is absent (a clone of the repository alone)" >&2
	suite=
else
	[ -d "$suite" ] || { echo "seeds: no $suite" >&2; exit 1; }
fi
[ -x "$gen" ] || { echo "seeds: no $gen (make all)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
"$gen" --count 150 --seed 11 > "$dir/.clean"
"$gen" --count 150 --seed 12 --string-ts-prob 0.3 --float-ts-prob 0.3 --bitflip-prob 0.1 \
	--malformed-prob 0.3 --long-line-bytes 3000 --crlf > "$dir/.mixed"
"$gen" --count 20 --seed 13 --frame-size 300 --uid-key uid --ts-key ts > "$dir/.small"
cat "$dir/.clean" "$dir/.mixed" "$dir/.small" | split -l 1 -a 4 - "$dir/gen-"
rm -f "$dir"/.clean "$dir"/.mixed "$dir"/.small
for f in ${suite:+"$suite"/*.json}; do
	n=$(basename "$f" .json)
	cp "$f" "$dir/bare-$n"
	{ printf '{"uid":"u","ts":1468244384,"x":'; cat "$f"; printf '}'; } > "$dir/wrap-$n"
done
echo "seeds: $(ls "$dir" | wc -l) inputs in $dir" >&2
