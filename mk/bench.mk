# mk/bench.mk - whole-program benchmarks (not part of make test).
#   make bench-e2e       kuniq from a file vs cat, wc -l, Python and jq (bench/e2e.sh)
#   make bench-lateness  late shares per --lateness and live latency (bench/lateness.py)
.PHONY: bench-e2e bench-lateness
bench-e2e: build/kuniq build/kuniq-gen
	bench/e2e.sh $(BENCH_FRAMES)
bench-lateness: build/kuniq build/kuniq-gen
	python3 bench/lateness.py
