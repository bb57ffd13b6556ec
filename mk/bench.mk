# mk/bench.mk - whole-program benchmarks (not part of make test).
#   make bench-e2e       kuniq from a file vs cat, wc -l, Python and jq (bench/e2e.sh)
#   make bench-lateness  late shares per --lateness and live latency (bench/lateness.py)
.PHONY: bench-e2e bench-lateness
bench-e2e: build/kuniq build/kuniq-gen
	bench/e2e.sh $(BENCH_FRAMES)
bench-lateness: build/kuniq build/kuniq-gen
	python3 bench/lateness.py

# make bench-eos: what exactly-once costs in Kafka mode (bench/eos_bench.py, on a broker of its own
# started and deleted by the script): throughput vs --at-least-once, checkpoint sizes and commit
# times, restore after SIGKILL/SIGTERM checked against a file run, live latency. 4-6 minutes.
#   make bench-eos EOS_BENCH_ARGS='--runs 5'
.PHONY: bench-eos
bench-eos: deps
	$(MAKE) all
	python3 bench/eos_bench.py $(EOS_BENCH_ARGS)

# make bench-scale: several kuniq processes in one consumer group (--scale-out) against one
# process (bench/scale_bench.py, on a broker of its own started and deleted by the script): an
# 8-partition topic of 400,000 2 KB frames, minute..year, exactly once, 1 direct process then
# --scale-out with 1, 2 and 4 processes; wall time, frames/s, peak RSS, partials and stage-2 cost,
# every output checked against the direct run's. About 3-5 minutes.
#   make bench-scale SCALE_BENCH_ARGS='--runs 3 --frames 1000000'
.PHONY: bench-scale
bench-scale: deps
	$(MAKE) all
	python3 bench/scale_bench.py $(SCALE_BENCH_ARGS)
