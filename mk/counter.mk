# mk/counter.mk - counter benchmarks (docs/counting.md). Not part of `make test`.
#
#   make bench-error    error of the sketch: 1000 trials per cardinality 10 .. 1e7, table + plot
#                       (BENCH_TRIALS default 4000, BENCH_MAX override; ~3 min on 2 cores)
#   make bench-sketch   add/count throughput of the sketch and the exact set, and the side-by-side
#                       with Redis's HyperLogLog (starts redis-server on a free loopback port)

COUNTER_OBJ  := build/obj/counter.o build/obj/exactset.o build/obj/exaloglog.o
BENCH_TRIALS ?= 4000
BENCH_MAX    ?= 10000000
BENCH_OUT    ?= build/bench

build/bench/counter-error: bench/error.c $(COUNTER_OBJ) src/counter.h | build/bench
	$(CC) $(CFLAGS) -o $@ $< $(COUNTER_OBJ) -lxxhash -lm -lpthread
build/bench/counter-sketch: bench/sketch.c bench/sketch_peer.cc $(COUNTER_OBJ) src/counter.h src/exactset.h src/exaloglog.h | build/bench
	$(CC) $(CFLAGS) -c bench/sketch.c -o build/bench/sketch.o
	$(CXX) -O2 -std=c++17 -Wall -Wextra -Werror -c bench/sketch_peer.cc -o build/bench/sketch_peer.o
	$(CXX) -o $@ build/bench/sketch.o build/bench/sketch_peer.o $(COUNTER_OBJ) -lxxhash -lm -lpthread
build/bench/counter-redis: bench/sketch_redis.c $(COUNTER_OBJ) src/counter.h | build/bench
	$(CC) $(CFLAGS) -o $@ $< $(COUNTER_OBJ) -lxxhash -lm -lpthread
build/bench:
	mkdir -p $@

.PHONY: bench-error bench-sketch
bench-error: build/bench/counter-error
	build/bench/counter-error --trials $(BENCH_TRIALS) --max $(BENCH_MAX) --csv $(BENCH_OUT)/error-p12.csv
	build/bench/counter-error --trials $(BENCH_TRIALS) --max $(BENCH_MAX) --precision 11 --csv $(BENCH_OUT)/error-p11.csv
	$(MAKE) bench-plot

# Redis: 1000 trials up to 1e5 elements, 100 trials up to 1e7 (1e9 PFADDs, ~5 min)
bench-sketch: build/bench/counter-sketch build/bench/counter-redis
	build/bench/counter-sketch
	bench/sketch_redis.sh build/bench/counter-redis $(BENCH_OUT)/redis-small.csv --trials 1000 --max 100000
	bench/sketch_redis.sh build/bench/counter-redis $(BENCH_OUT)/redis-large.csv --trials 100 --max 10000000
	$(MAKE) bench-plot

.PHONY: bench-plot
bench-plot:
	python3 bench/plot_error.py $(wildcard $(BENCH_OUT)/error-p1?.csv $(BENCH_OUT)/redis-*.csv) > docs/counting-error.svg

# libFuzzer target for counter_deserialize (clang); not part of make test.
FUZZ_COUNTER_TIME ?= 60
build/fuzz/fuzz-counter: fuzz/fuzz_counter.c src/counter.c src/exactset.c src/exaloglog.c src/counter.h src/exactset.h src/exaloglog.h
	mkdir -p build/fuzz
	clang -std=c11 -D_GNU_SOURCE -O1 -g -Isrc -fsanitize=fuzzer,address,undefined -o $@ fuzz/fuzz_counter.c src/counter.c src/exactset.c src/exaloglog.c -lxxhash -lm
.PHONY: fuzz-counter
fuzz-counter: build/fuzz/fuzz-counter
	mkdir -p build/fuzz/counter-corpus
	build/fuzz/fuzz-counter -max_total_time=$(FUZZ_COUNTER_TIME) -max_len=70000 build/fuzz/counter-corpus
