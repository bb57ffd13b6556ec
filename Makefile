# kuniq build. `make` builds build/kuniq and build/kuniq-gen; `make test` installs what it needs
# and runs every test; `make demo` shows kuniq on a generated stream.
#
# Layout: src/*.c (all but main.c) form the core, linked into the program, the tests and tools.
# tests/test_*.c are cmocka unit tests (one binary each); tools/*.c are extra programs.
# Helper makefiles in mk/*.mk add targets (fuzzing, benchmarks, kafka) and may append to
# TEST_STEPS, the targets `make test` runs after format-check and unit, or to TEST_BG, those it
# runs beside them.
#
# `make test` runs every step even when one fails, then prints one line per step (ok/FAILED and
# its seconds) and fails when any step failed; each test runs once (docs/testing.md).
#
# `make install` copies the programs, their man pages (man/) and the bash completion
# (completion/) under $(DESTDIR)$(PREFIX); `make uninstall` removes them (docs/install.md).

# `make` with no target builds the programs, whatever target comes first below
.DEFAULT_GOAL := all

CC      ?= gcc
CXX     ?= g++
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla -Isrc
# each object also writes its header dependencies (a .d file beside it, included below)
DEPFLAGS = -MMD -MP
LDLIBS  := -lrdkafka -lxxhash -lz -lzstd -lmicrohttpd -lm -lpthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

CORE_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS   += -DKUNIQ_VERSION=\"$(VERSION)\"

# $(1) = output dir, $(2) = extra flags, $(3) = compiler
# Header dependencies come from the compiler (DEPFLAGS: $(1)/obj/**/*.d), so touching a header
# rebuilds only the objects that include it. An object without its .d file (never built, or
# built before .d files existed) depends on every header instead, so an old tree stays correct.
define variant
$(1)/obj/%.o: src/%.c | $(1)/obj
	$(3) $$(CFLAGS) $$(DEPFLAGS) $(2) -c $$< -o $$@
$(1)/obj/tools/%.o: tools/%.c | $(1)/obj/tools
	$(3) $$(CFLAGS) $$(DEPFLAGS) $(2) -c $$< -o $$@
$(1)/obj/tests/%.o: tests/%.c | $(1)/obj/tests
	$(3) $$(CFLAGS) $$(DEPFLAGS) $(2) -Itests -c $$< -o $$@
$(1)_DEPS := $$(wildcard $(1)/obj/*.d $(1)/obj/tools/*.d $(1)/obj/tests/*.d)
$(1)_OBJS := $(1)/obj/main.o $(CORE_SRC:src/%.c=$(1)/obj/%.o) \
	$(TOOL_SRC:tools/%.c=$(1)/obj/tools/%.o) $(TEST_SRC:tests/%.c=$(1)/obj/tests/%.o)
$$(filter-out $$($(1)_DEPS:.d=.o),$$($(1)_OBJS)): $(wildcard src/*.h tests/*.h)
-include $$($(1)_DEPS)
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
# test_conformance is built with the unit tests and run by the `conformance` step (mk/parser.mk)
UNIT_RUN   = $(filter-out build/asan/tests/test_conformance,$(UNIT_TESTS))
TEST_STEPS :=
TEST_BG    :=

.PHONY: all asan clang deps deps-build test unit e2e demo format format-check clean install \
	uninstall
all: $(PROGS)
asan: build/asan/kuniq $(UNIT_TESTS)
# the whole tree must also build warning-free with clang
clang: build/clang/kuniq $(TOOL_SRC:tools/%.c=build/clang/kuniq-%) $(TEST_SRC:tests/%.c=build/clang/tests/%)

# deps: everything the build, tests, benchmarks and demos need; deps-build: the build alone
deps:
	scripts/deps.sh full
deps-build:
	scripts/deps.sh build

# make install [PREFIX=/usr/local] [DESTDIR=]: programs, man pages, bash completion
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL     ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 755
MANPAGES    := $(wildcard man/*.1)
install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL_PROGRAM) $(PROGS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 completion/kuniq.bash $(DESTDIR)$(BASHCOMPDIR)/kuniq
uninstall:
	rm -f $(PROGS:build/%=$(DESTDIR)$(BINDIR)/%) \
		$(MANPAGES:man/%=$(DESTDIR)$(MANDIR)/man1/%) $(DESTDIR)$(BASHCOMPDIR)/kuniq

# every binary runs (a failure does not hide the ones after it); fails at the end naming them
unit: asan
	@failed=""; for t in $(UNIT_RUN); do echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1 $$t || failed="$$failed $${t##*/}"; done; \
	if [ -n "$$failed" ]; then echo "unit: FAILED:$$failed"; exit 1; fi

# every e2e test (Kafka included) against the optimised build; make test runs them split instead
# (e2e-asan and e2e-kafka)
e2e: all asan
	python3 -m pytest -q -rfEs tests/e2e

# make test: TEST_FG one after the other; TEST_BG (appended by mk/*.mk: the Kafka tests, which
# mostly wait on a broker, and the fuzzer, which runs for a fixed time) beside them from the
# start, their output printed after the others'. Every step runs whatever the others do; the
# summary lists each with ok/FAILED and its seconds.
TEST_FG    = format-check unit $(TEST_STEPS)
TEST_ORDER = $(TEST_FG) $(TEST_BG)

test: deps
	$(MAKE) -j$$(nproc) all asan clang
	@t0=$$(date +%s); logs=build/test-logs; rm -rf $$logs; mkdir -p $$logs; \
	step() { t=$$(date +%s); if $(MAKE) --no-print-directory $$1; then r=ok; else r=FAILED; fi; \
		printf '  %-13s %-6s %4ss\n' $$1 $$r $$(($$(date +%s) - t)) > $$logs/$$1.result; }; \
	for s in $(TEST_BG); do echo "==== make $$s: beside the other steps, output after them"; \
		step $$s > $$logs/$$s.log 2>&1 & done; \
	for s in $(TEST_FG); do echo "==== make $$s"; step $$s; done; \
	wait; \
	for s in $(TEST_BG); do echo "==== make $$s (output)"; cat $$logs/$$s.log; done; \
	echo "==== make test summary ($$(($$(date +%s) - t0)) s)"; failed=""; \
	for s in $(TEST_ORDER); do \
		if [ -f $$logs/$$s.result ]; then cat $$logs/$$s.result; \
		else printf '  %-13s FAILED (no result)\n' $$s; failed="$$failed $$s"; fi; \
		if grep -q FAILED $$logs/$$s.result 2>/dev/null; then failed="$$failed $$s"; fi; \
	done; \
	n=$$(echo $(TEST_ORDER) | wc -w); nf=$$(echo $$failed | wc -w); \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; fi; \
	echo "steps: $$((n - nf)) passed, $$nf failed"; test -z "$$failed"

# the demo needs the programs only: the build's dependencies, not the tests'
demo: deps-build
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
