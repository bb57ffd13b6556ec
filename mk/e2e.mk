# End-to-end tests under the sanitizers: the e2e suite against build/asan/kuniq (ASan + UBSan +
# LeakSanitizer), about 45 s. The Kafka tests are left out here (they need a broker and take
# minutes); `make e2e` runs everything against the optimised build. docs/testing.md has details.
.PHONY: e2e-asan
e2e-asan: build/asan/kuniq build/kuniq-gen
	KUNIQ_BIN=build/asan/kuniq ASAN_OPTIONS=detect_leaks=1 \
		python3 -m pytest -q tests/e2e --ignore-glob='*/test_kafka*'
TEST_STEPS += e2e-asan
