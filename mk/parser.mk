# mk/parser.mk - frame parser extras: JSONTestSuite conformance, differential fuzzing, benchmarks.
#
#   make conformance   JSONTestSuite y_/n_ must pass; prints the i_ outcomes (docs/parser.md)
#   make fuzz-ci       differential fuzzer for ~60 s (part of make test)
#   make fuzz          the same for FUZZ_TIME seconds (default 1800)
#   make bench-parse   in-memory parse benchmark vs simdjson, jansson, jq, python, cat, wc

.PHONY: conformance
conformance: build/asan/tests/test_conformance
	build/asan/tests/test_conformance --report

TEST_STEPS += conformance
