# kuniq build. `make` builds build/kuniq and build/kuniq-gen; `make test` installs what it needs
# and runs every test; `make demo` shows kuniq on a generated stream.
#
# Layout: src/*.c (all but main.c) form the core, linked into the program, the tests and tools.
# tests/test_*.c are cmocka unit tests (one binary each); tools/*.c are extra programs.
# Helper makefiles in mk/*.mk add targets (fuzzing, benchmarks, kafka) and may append to
# TEST_STEPS, the list of targets `make test` runs after the unit and e2e tests.

CC      ?= gcc
CXX     ?= g++
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Isrc
LDLIBS  := -lrdkafka -lxxhash -lz -lm -lpthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

CORE_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS   += -DKUNIQ_VERSION=\"$(VERSION)\"

# $(1) = output dir, $(2) = extra flags, $(3) = compiler
define variant
$(1)/obj/%.o: src/%.c $(wildcard src/*.h) | $(1)/obj
	$(3) $$(CFLAGS) $(2) -c $$< -o $$@
$(1)/obj/tools/%.o: tools/%.c $(wildcard src/*.h) | $(1)/obj/tools
	$(3) $$(CFLAGS) $(2) -c $$< -o $$@
$(1)/obj/tests/%.o: tests/%.c $(wildcard src/*.h tests/*.h) | $(1)/obj/tests
	$(3) $$(CFLAGS) $(2) -Itests -c $$< -o $$@
$(1)/kuniq: $(1)/obj/main.o $(CORE_SRC:src/%.c=$(1)/obj/%.o)
	$(3) $(2) -o $$@ $$^ $$(LDLIBS)
$(1)/kuniq-%: $(1)/obj/tools/%.o $(CORE_SRC:src/%.c=$(1)/obj/%.o)
	$(3) $(2) -o $$@ $$^ $$(LDLIBS)
$(1)/tests/%: $(1)/obj/tests/%.o $(CORE_SRC:src/%.c=$(1)/obj/%.o) | $(1)/tests
	$(3) $(2) -o $$@ $$^ $$(LDLIBS) -lcmocka
$(1)/obj $(1)/obj/tools $(1)/obj/tests $(1)/tests:
	mkdir -p $$@
endef

$(eval $(call variant,build,,$$(CC)))
$(eval $(call variant,build/asan,$(SAN),$$(CC)))
$(eval $(call variant,build/clang,,clang))

PROGS      = build/kuniq $(TOOL_SRC:tools/%.c=build/kuniq-%)
UNIT_TESTS = $(TEST_SRC:tests/%.c=build/asan/tests/%)
TEST_STEPS :=

.PHONY: all asan clang deps test unit e2e demo format format-check clean
all: $(PROGS)
asan: build/asan/kuniq $(UNIT_TESTS)
# the whole tree must also build warning-free with clang
clang: build/clang/kuniq $(TOOL_SRC:tools/%.c=build/clang/kuniq-%) $(TEST_SRC:tests/%.c=build/clang/tests/%)

deps:
	scripts/deps.sh

unit: asan
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

e2e: all asan
	python3 -m pytest -q tests/e2e

test: deps
	$(MAKE) all asan clang
	$(MAKE) format-check unit e2e $(TEST_STEPS)

demo: deps
	$(MAKE) all
	@echo "== 200,000 frames, 10% delayed up to 5 s, 0.1% malformed, 0.1% bit-flipped ts"
	build/kuniq-gen --count 200000 --rate 1000 --users 20000 --seed 1 --delay 5 --delay-prob 0.1 \
		--malformed-prob 0.001 --bitflip-prob 0.001 | build/kuniq -w minute,hour

format:
	clang-format -i src/*.[ch] tests/*.[ch] tools/*.c $(wildcard bench/*.c bench/*.cc fuzz/*.c)
format-check:
	clang-format --dry-run --Werror src/*.[ch] tests/*.[ch] tools/*.c $(wildcard bench/*.c bench/*.cc fuzz/*.c)

clean:
	rm -rf build

-include mk/*.mk
