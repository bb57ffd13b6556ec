# mk/parser.mk - frame parser extras: JSONTestSuite conformance, differential fuzzing, benchmarks.
#
#   make conformance   JSONTestSuite y_/n_ must pass; prints the i_ outcomes (docs/parser.md);
#                      the only run of test_conformance in make test (`unit` leaves it out)
#   make fuzz-ci       differential fuzzer for FUZZ_CI_TIME s (default 60; part of make test),
#                      reproducible: fixed -seed, a fresh corpus every run (seeds + regressions)
#   make fuzz          the same for FUZZ_TIME seconds (default 1800), keeping its corpus
#   make bench-parse   in-memory parse benchmark vs simdjson, jansson, jq, python, cat, wc

.PHONY: conformance
conformance: build/asan/tests/test_conformance
	build/asan/tests/test_conformance --report

TEST_STEPS += conformance

# ---- differential fuzzing (fuzz/fuzz_frame.cc: scalar vs AVX2 vs jansson vs simdjson) ----
FUZZ_CC    ?= clang
FUZZ_CXX   ?= clang++
FUZZ_TIME  ?= 1800
FUZZ_CI_TIME ?= 60
FUZZ_CI_SEED ?= 1
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FRAME_SRC  := src/frame.c src/frame_scalar.c src/frame_avx2.c
# the first directory receives new inputs; the others are only read
FUZZ_OPTS   = -max_len=8192 -timeout=10 -rss_limit_mb=2048 -dict=fuzz/frame.dict \
	      -artifact_prefix=build/fuzz/frame/artifacts/ -print_final_stats=1
FUZZ_INPUTS = build/fuzz/frame/seed fuzz/regressions

build/fuzz/frame/obj/%.o: src/%.c $(wildcard src/frame*.h) | build/fuzz/frame/obj
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wvla -Isrc $(FUZZ_FLAGS) \
		-fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/fuzz_frame: fuzz/fuzz_frame.cc $(FRAME_SRC:src/%.c=build/fuzz/frame/obj/%.o)
	$(FUZZ_CXX) -std=c++17 -Wall -Wextra -Werror -Isrc $(FUZZ_FLAGS) -fsanitize=fuzzer \
		$^ -o $@ -lsimdjson -ljansson
build/fuzz/frame/seed/.done: fuzz/seeds.sh build/kuniq-gen
	fuzz/seeds.sh build/fuzz/frame/seed
	touch $@
build/fuzz/frame/obj build/fuzz/frame/corpus build/fuzz/frame/artifacts:
	mkdir -p $@

.PHONY: fuzz fuzz-ci
# a fresh corpus each run: what one run finds does not change what the next one does
fuzz-ci: build/fuzz/fuzz_frame build/fuzz/frame/seed/.done | build/fuzz/frame/artifacts
	rm -rf build/fuzz/frame/ci-corpus
	mkdir -p build/fuzz/frame/ci-corpus
	build/fuzz/fuzz_frame -seed=$(FUZZ_CI_SEED) -max_total_time=$(FUZZ_CI_TIME) $(FUZZ_OPTS) \
		build/fuzz/frame/ci-corpus $(FUZZ_INPUTS)
fuzz: build/fuzz/fuzz_frame build/fuzz/frame/seed/.done | build/fuzz/frame/corpus build/fuzz/frame/artifacts
	build/fuzz/fuzz_frame -max_total_time=$(FUZZ_TIME) $(FUZZ_OPTS) build/fuzz/frame/corpus \
		$(FUZZ_INPUTS)

# beside the other steps of make test: it runs for FUZZ_CI_TIME seconds whatever the load
TEST_BG += fuzz-ci

# ---- parse benchmark (bench/parse.sh: kuniq's parser vs simdjson, jansson, jq, python, cat, wc)
BENCH_FRAMES ?= 100000
build/bench/parse_bench: bench/parse_bench.c $(FRAME_SRC) $(wildcard src/frame*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ bench/parse_bench.c $(FRAME_SRC)
build/bench/parse_jansson: bench/parse_jansson.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -ljansson -lm
build/bench/parse_simdjson: bench/parse_simdjson.cc
	@mkdir -p $(@D)
	$(CXX) -O2 -march=native -std=c++17 -Wall -Wextra -Werror -o $@ $< -lsimdjson

.PHONY: bench-parse
bench-parse: build/kuniq-gen build/bench/parse_bench build/bench/parse_jansson \
		build/bench/parse_simdjson
	bench/parse.sh $(BENCH_FRAMES)
