# End-to-end tests under the sanitizers: the e2e suite (except the Kafka tests, which have their
# own target) against build/asan/kuniq (ASan + UBSan + LeakSanitizer). `make e2e` runs the same
# tests against the optimised build. docs/testing.md describes the suite.
.PHONY: e2e-asan
e2e-asan: build/asan/kuniq build/kuniq-gen
	KUNIQ_BIN=build/asan/kuniq ASAN_OPTIONS=detect_leaks=1 \
		python3 -m pytest -q tests/e2e --ignore-glob='tests/e2e/test_kafka*'
TEST_STEPS += e2e-asan
