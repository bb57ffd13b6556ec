# Kafka targets: the end-to-end tests, a demo from topic to topic on a local broker, and
# the benchmark. The demo's broker is scripts/kafka's (KRaft, 127.0.0.1, data in .cache/kafka/run);
# it is left running after the demo (`scripts/kafka stop` stops it). The Kafka end-to-end tests
# (tests/e2e/test_kafka*.py, against build/kuniq) start a broker of their own (kafka_broker.py);
# the broker's jars are fetched from Maven Central first, once (scripts/kafka install).

KAFKA_DEMO_IN  ?= kuniq-demo-in
KAFKA_DEMO_OUT ?= kuniq-demo-out

.PHONY: e2e-kafka kafka-demo bench-kafka

e2e-kafka: build/kuniq build/kuniq-gen
	scripts/kafka install
	python3 -m pytest -q -rfEs tests/e2e/test_kafka*.py
# beside the other steps of make test: the tests mostly wait on the broker
TEST_BG += e2e-kafka

kafka-demo: deps
	$(MAKE) all
	@set -e; \
	addr=$$(scripts/kafka start); \
	scripts/kafka topic $(KAFKA_DEMO_IN) 4; \
	scripts/kafka topic $(KAFKA_DEMO_OUT) 1; \
	echo "== loading 200000 generated frames into $(KAFKA_DEMO_IN) (4 partitions) with kcat"; \
	build/kuniq-gen --count 200000 --rate 1000 --users 20000 --delay 5 --delay-prob 0.1 \
		--frame-size 1000 --seed 1 | kcat -P -X enable.idempotence=true -b $$addr -t $(KAFKA_DEMO_IN) -p -1; \
	echo "== kuniq --brokers $$addr --topic $(KAFKA_DEMO_IN) --output-topic $(KAFKA_DEMO_OUT)" \
		"--from-beginning -w minute,hour --idle-timeout 2  (stopped with SIGINT after 12 s)"; \
	timeout -s INT 12 build/kuniq --brokers $$addr --topic $(KAFKA_DEMO_IN) \
		--output-topic $(KAFKA_DEMO_OUT) --group kuniq-demo-$$$$ --from-beginning \
		-w minute,hour --idle-timeout 2 || test $$? = 124; \
	echo "== the output topic $(KAFKA_DEMO_OUT) (key  value)"; \
	kcat -C -b $$addr -t $(KAFKA_DEMO_OUT) -o beginning -e -q -f '%k  %s\n'

bench-kafka: deps
	$(MAKE) all
	python3 bench/kafka_bench.py
