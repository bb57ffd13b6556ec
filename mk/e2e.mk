# End-to-end tests under the sanitizers: every e2e test but the Kafka ones (mk/kafka.mk), with
# kuniq = build/asan/kuniq (ASan + UBSan + LeakSanitizer). The tests that never run kuniq (the
# generator's and the oracle's own) run here too, once. `make e2e` runs everything against the
# optimised build instead. docs/testing.md has details.
.PHONY: e2e-asan
e2e-asan: build/asan/kuniq build/kuniq-gen
	KUNIQ_BIN=build/asan/kuniq ASAN_OPTIONS=detect_leaks=1 \
		python3 -m pytest -q -rfEs tests/e2e --ignore-glob='*/test_kafka*.py'
TEST_STEPS += e2e-asan
