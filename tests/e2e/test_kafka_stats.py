"""End-to-end test of the operations side of Kafka mode against a real broker: stats lines with
per-partition positions, ends and lags, /metrics with kuniq_partition_lag, and --metrics-topic
(docs/operations.md).

What is tested, on one live run (frames produced over ~12 s into 3 partitions while kuniq reads
them with --stats-interval 0.5 --metrics 0 --metrics-topic T --output-topic O, stopped by SIGTERM
once the producer is done and kuniq has caught up):
  - every stats line's partitions are consistent: lag = end - position >= 0, positions and ends
    never go down, no end beyond the topic's end offsets (read with the harness at the end); the
    three partitions are there once assigned; while frames flow, some lag or rate is seen;
  - the last stats line (written at the end) has the positions equal to the topic's end offsets
    (and to the group's committed offsets), lag 0, frames equal to the summary's frames_read and
    to the number of messages produced, the summary's counts, results_delivered equal to the
    records a read_committed reader finds in the output topic;
  - /metrics scraped while frames flow has kuniq_partition_lag{topic,partition} for each of the
    three partitions (>= 0), the partition watermarks and librdkafka's byte counters;
  - the metrics topic holds the stats lines of stderr, the same JSON in the same order, each
    keyed "<group>/<instance-id>".
"""

import json
import random
import re
import time
import uuid

import pytest

from kafka_broker import Kuniq, read_committed_results
from test_kafka_exactly_once import LiveProducer
from test_stats import (REJECT_REASONS, check_last_equals_summary, check_log_lines,
                        check_monotonic, frame, label_values, metric, parse_prometheus, scrape,
                        stats_lines)

T0 = 1468244340  # 2016-07-11T13:39:00Z, a minute boundary
RDKAFKA_FIELDS = ["rx", "rx_bytes", "rxmsgs", "tx", "tx_bytes", "txmsgs", "replyq", "msg_cnt"]


def parts_of(s):
    return {p["partition"]: p for p in s.get("partitions", [])}


def test_stats_metrics_and_metrics_topic_on_a_live_run(kafka, kuniq_bin, tmp_path):
    rng = random.Random(77)
    n = 6000
    # 5 frames per second of event time, 1 % not JSON, 3 partitions at random
    values = [b"garbage %d" % i if rng.random() < 0.01 else frame("u%d" % rng.randrange(400),
                                                                     T0 + i // 5)
              for i in range(n)]
    messages = [(rng.randrange(3), v) for v in values]
    topic = kafka.create_topic(3)
    out = kafka.create_topic(1, prefix="out")
    mtopic = kafka.create_topic(1, prefix="metrics")
    group, instance = "g-" + uuid.uuid4().hex[:8], "inst-7"
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--group", group,
                                 "--instance-id", instance, "--from-beginning",
                                 "--stats-interval", "0.5", "--metrics", "0",
                                 "--metrics-topic", mtopic], tmp_path)
    port = [None]

    def has_port():
        m = re.search(r"INFO  kuniq: metrics: GET /metrics on 0 \(port (\d+)\)", k.stderr())
        port[0] = m and int(m.group(1))
        return port[0]

    k.wait_for("the metrics log line", has_port, 60)
    k.wait_for("the assignment", lambda: "assigned 3 partition(s)" in k.stderr(), 60)

    producer = LiveProducer(kafka.address, topic, messages, 12.0)
    producer.start()
    scrapes = []
    while producer.is_alive():
        k.assert_alive()
        status, ctype, body = scrape(port[0])
        assert status == 200 and ctype.startswith("text/plain"), (status, ctype, body[:300])
        if body:
            scrapes.append((producer.sent, parse_prometheus(body)))
        time.sleep(0.5)
    producer.finish()
    ends = kafka.end_offsets(topic)
    assert sum(ends.values()) == n, "the topic holds %s messages, %d produced" % (ends, n)

    # kuniq catches up: its stats lines show every partition at the topic's end
    def caught_up():
        lines = stats_lines(k.stderr())
        return lines and {p: q["position"] for p, q in parts_of(lines[-1]).items()} == ends

    k.wait_for("stats lines showing the positions at the topic's ends %s" % ends, caught_up, 90)
    rc = k.stop()
    err = k.stderr()
    assert rc == 0, "kuniq exited with %d:\n%s" % (rc, err[-3000:])
    check_log_lines(err, "Kafka run")
    lines = stats_lines(err)
    summary = k.summary()
    assert len(lines) >= 15, "%d stats lines in a run of more than 12 s" % len(lines)

    # -- stats lines: partitions -------------------------------------------------------------
    check_monotonic(lines, "Kafka run")
    prev = {}
    flowing = []
    for i, s in enumerate(lines):
        assert sorted(s["rejected"]) == sorted(REJECT_REASONS), s["rejected"]
        for f in ("partitions", "results_produced", "results_delivered", "rdkafka"):
            assert f in s or (f == "rdkafka" and i < 3), "stats line %d without %s: %s" % (
                i, f, json.dumps(s))
        ps = parts_of(s)
        assert len(ps) == len(s["partitions"]), "a partition twice: %s" % s["partitions"]
        if s["frames"] > 0:
            assert sorted(ps) == [0, 1, 2], "partitions %s after frames were read" % sorted(ps)
        for pid, q in ps.items():
            where = "stats line %d, partition %d: %s" % (i, pid, json.dumps(q))
            assert isinstance(q["idle"], bool), where
            if q["position"] >= 0 and q["end"] >= 0:
                assert q["lag"] == q["end"] - q["position"] >= 0, where
            else:
                assert "lag" not in q, where
            assert q["end"] <= ends[pid], "%s: end beyond the topic's end %d" % (where, ends[pid])
            if "watermark" in q:
                assert T0 - 60 <= q["watermark"] <= T0 + n // 5, where
            if pid in prev:
                assert q["position"] >= prev[pid]["position"] and q["end"] >= prev[pid]["end"], \
                    "%s: went down from %s" % (where, json.dumps(prev[pid]))
            prev[pid] = q
        if 0 < s["frames"] < n:
            flowing.append(s)
        assert s["results_delivered"] <= s["results_produced"], json.dumps(s)
    assert len(flowing) >= 10, "only %d stats lines while frames flowed" % len(flowing)
    assert any(s["frames_per_s"] > 0 for s in flowing), [s["frames_per_s"] for s in flowing]
    assert sorted(lines[-1]["rdkafka"]) == sorted(RDKAFKA_FIELDS), lines[-1]["rdkafka"]

    # -- the last stats line: the end of the run --------------------------------------------
    last = lines[-1]
    lp = parts_of(last)
    assert {p: q["position"] for p, q in lp.items()} == ends, (last["partitions"], ends)
    assert {p: q["end"] for p, q in lp.items()} == ends, (last["partitions"], ends)
    assert all(q["lag"] == 0 for q in lp.values()), last["partitions"]
    assert kafka.committed(topic, group) == ends, "committed offsets are not the ends"
    results = read_committed_results(kafka, out)
    assert results, "no result in the output topic"
    check_last_equals_summary(last, summary, len(results), "Kafka run")
    assert last["frames"] == summary["frames_read"] == n == k.kafka_stats()["messages"], (
        last["frames"], summary["frames_read"], n)
    assert last["results_delivered"] == last["results_produced"] == len(results), (
        last["results_produced"], last["results_delivered"], len(results))
    assert last["rejected"]["not_json"] == sum(1 for v in values if v.startswith(b"garbage"))

    # -- /metrics mid-run -----------------------------------------------------------------------
    mid = [s for sent, s in scrapes if 0 < sent < n]
    assert len(mid) >= 5, "only %d scrapes while the producer ran" % len(mid)
    with_lag = [s for s in mid if label_values(s, "kuniq_partition_lag", "partition")
                == ["0", "1", "2"]]
    assert with_lag, "no scrape with kuniq_partition_lag of the 3 partitions: %s" % [
        sorted(k_ for k_ in s if k_[0] == "kuniq_partition_lag") for s in mid[:3]]
    for s in with_lag:
        assert set(label_values(s, "kuniq_partition_lag", "topic")) == {topic}
        for p in range(3):
            lag = metric(s, "kuniq_partition_lag", topic=topic, partition=str(p))
            assert lag is not None and 0 <= lag <= ends[p], lag
    s = with_lag[-1]
    assert label_values(s, "kuniq_partition_watermark_seconds", "partition") == ["0", "1", "2"]
    for name in ("kuniq_frames_total", "kuniq_results_delivered_total",
                 "kuniq_rdkafka_rx_bytes_total", "kuniq_rdkafka_tx_bytes_total"):
        assert metric(s, name) is not None, "%s missing mid-run" % name
    totals = [metric(s, "kuniq_frames_total") for s in mid]
    assert totals == sorted(totals) and 0 < totals[-1] <= n, totals

    # -- the metrics topic: the stats lines, keyed group/instance ------------------------------
    records = kafka.read(mtopic, min_count=len(lines), timeout=60)
    keys = {key for key, _, _ in records}
    assert keys == {"%s/%s" % (group, instance)}, keys
    published = [json.loads(v) for _, v, _ in records]
    assert all(list(p) == ["stats"] for p in published), published[:2]
    assert [p["stats"] for p in published] == lines, (
        "the metrics topic holds %d records, stderr %d stats lines; first difference at %s"
        % (len(published), len(lines),
           next((i for i, (a, b) in enumerate(zip(published, lines)) if a["stats"] != b),
                min(len(published), len(lines)))))


def test_rdkafka_totals_count_what_was_received(kafka, kuniq_bin, tmp_path):
    """2000 frames read to the end (-e) with --stats-interval 0.2 --metrics 0: the last stats
    line's rdkafka totals count the messages and bytes received (at least the frames' bytes)."""
    topic = kafka.create_topic(1)
    values = [frame("u%d" % (i % 100), T0 + i // 10) for i in range(2000)]
    kafka.produce(topic, values, partition=0)
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--group", "g-" + uuid.uuid4().hex[:8],
                                 "--from-beginning", "-e", "--at-least-once",
                                 "--stats-interval", "0.2"], tmp_path)
    rc = k.wait(120)
    assert rc == 0, k.stderr()[-3000:]
    rd = stats_lines(k.stderr())[-1]["rdkafka"]
    assert rd["rxmsgs"] >= 2000 and rd["rx_bytes"] >= sum(len(v) for v in values) and \
        rd["rx"] > 0 and rd["tx"] > 0, rd
