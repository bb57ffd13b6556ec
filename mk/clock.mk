# mk/clock.mk - the event clock's invariant fuzzer (fuzz/fuzz_clock.c, libFuzzer + ASan + UBSan):
# conservation of frames, the watermark's monotonicity outside rewinds, bounds.
#
#   make fuzz-clock-ci   FUZZ_CLOCK_CI_TIME s (default 30), fixed seed, fresh corpus (make test)
#   make fuzz-clock      FUZZ_TIME s (default 1800), keeping its corpus

FUZZ_CLOCK_CI_TIME ?= 30
build/fuzz/fuzz_clock: fuzz/fuzz_clock.c src/clock.c src/clock.h
	mkdir -p build/fuzz
	clang -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wvla -O1 -g -Isrc \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ \
		fuzz/fuzz_clock.c src/clock.c

.PHONY: fuzz-clock fuzz-clock-ci
fuzz-clock-ci: build/fuzz/fuzz_clock
	rm -rf build/fuzz/clock-ci-corpus
	mkdir -p build/fuzz/clock-ci-corpus build/fuzz/clock-artifacts
	build/fuzz/fuzz_clock -seed=1 -max_total_time=$(FUZZ_CLOCK_CI_TIME) -max_len=4096 \
		-artifact_prefix=build/fuzz/clock-artifacts/ -print_final_stats=1 \
		build/fuzz/clock-ci-corpus
fuzz-clock: build/fuzz/fuzz_clock
	mkdir -p build/fuzz/clock-corpus build/fuzz/clock-artifacts
	build/fuzz/fuzz_clock -max_total_time=$(FUZZ_TIME) -max_len=4096 \
		-artifact_prefix=build/fuzz/clock-artifacts/ build/fuzz/clock-corpus

TEST_BG += fuzz-clock-ci
