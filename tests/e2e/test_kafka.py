"""End-to-end tests of Kafka mode against a real broker, compared with the oracle.

Every test creates its own topics on the session's broker (kafka_broker.py), runs kuniq from
topic to topic, reads the results back from the output topic up to its end offsets and compares
every window with the oracle (oracle.py) run on the same frames as one file. The streams keep each
frame's delay within the lateness (--delay 5, lateness 5), so no frame is late however the
partitions interleave and the per-partition results must equal the single-input oracle window by
window.

Two ways to make the last windows final, neither depending on wall time:
  - end of input: the topic is loaded first and kuniq runs with -e (--exit-at-end): once every
    partition is read to its end it emits every open window, commits and exits by itself;
  - a tail: --idle-timeout 0 and TAIL frames per partition, in one minute starting at least 60 s
    after the stream, so every window of the stream is final (the tail's frames agree with each
    other, whatever rule the clock uses to trust a frame) while the tail's own windows stay open
    (used where kuniq must keep running: live production, broker restarts, SIGTERM).

Nothing waits a fixed time: each wait is for something observable (a log line, a record, a
message count, a committed offset, the process's exit), with a generous timeout.
"""

import json
import re
import time

import oracle
import pytest

from conftest import compare_records
from kafka_broker import Kuniq  # the kafka fixture is conftest.py's

KIND_ORDER = ["minute", "hour", "day", "week", "month", "year"]
RESULT_TIMEOUT = 180
TAIL = 8  # frames per partition in a tail
LATENESS = 5  # kuniq's default --lateness


def order(recs):
    return sorted(recs, key=lambda r: (KIND_ORDER.index(r["window"]), r["start"], r["revision"]))


def check_windows(results, expected):
    """results: (key, record, ts) read from the output topic; expected: oracle records.
    Every window exactly once, keyed right, equal to the oracle."""
    seen = {}
    for key, rec, _ in results:
        assert key == "%s/%d" % (rec["window"], rec["start"]), "bad key %r for %r" % (key, rec)
        k = (rec["window"], rec["start"], rec["revision"])
        assert k not in seen, "window emitted twice:\n  %s\n  %s" % (json.dumps(seen[k]),
                                                                     json.dumps(rec))
        seen[k] = rec
    msg = compare_records(order(seen.values()), order(expected))
    assert not msg, msg


def lines_of(path):
    """The lines of a file, without empty ones (kcat skips empty lines; empty messages are
    produced separately)."""
    with open(path, "rb") as f:
        return [line for line in f.read().split(b"\n")[:-1] if line]


def write_lines(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))
    return str(path)


def tail_frames(lines, partitions):
    """TAIL closing frames per partition, all in the minute starting at tail_ts (the second
    minute boundary after the stream's largest ts, so less than the default --max-ahead away).
    Returns ([frames of partition p], tail_ts)."""
    top = 0
    for line in lines:
        reason, _, ts = oracle.classify(line, 65536, "uid", "ts")
        if reason is None:
            top = max(top, ts)
    tail_ts = (top // 60 + 2) * 60
    return [[b'{"uid":"tail-%d-%d","ts":%d}' % (p, i, tail_ts + i) for i in range(TAIL)]
            for p in range(partitions)], tail_ts


def final_before(records, tail_ts):
    """The oracle's records that a tail at tail_ts makes final: those ending by its watermark."""
    return [r for r in records if r["end"] <= tail_ts - LATENESS]


def outages(k):
    """How many times kuniq reported its brokers unreachable (not counting its reminders,
    "still waiting for brokers ... (unreachable for N s)")."""
    return len(re.findall(r"brokers \S+ unreachable \(.*\): waiting for them", k.stderr()))


def wait_assigned(k, n, timeout=60):
    k.wait_for("the assignment of %d partition(s)" % n,
               lambda: "assigned %d partition(s)" % n in k.stderr(), timeout)


def finish(k, kafka, out, expected_count):
    """Waits for the results, stops kuniq (SIGTERM), and returns everything in the output topic."""
    kafka.wait_count(out, expected_count, RESULT_TIMEOUT, alive=k.assert_alive)
    rc = k.stop()
    assert rc == 0, "kuniq exited with %d:\n%s" % (rc, k.stderr()[-3000:])
    return kafka.read_results(out, min_count=expected_count, timeout=60)


def run_to_end(k, kafka, out, expected_count):
    """kuniq runs with -e: waits for it to exit by itself, returns the output topic."""
    rc = k.wait(RESULT_TIMEOUT)
    assert rc == 0, "kuniq exited with %d:\n%s" % (rc, k.stderr()[-3000:])
    assert "read to its end" in k.stderr(), k.stderr()[-3000:]
    return kafka.read_results(out, min_count=expected_count, timeout=60)


def test_random_partitions_equal_oracle(kafka, e2e, kuniq_bin, tmp_path):
    """3 partitions, random partitioning by kcat, 5 s delays, read to the end (-e): every window
    equals the oracle, each emitted once."""
    path = e2e.gen("s.jsonl", count=30000, rate=100, users=4000, delay=5, delay_prob=0.3,
                   frame_size=300, seed=7)
    args = ["-w", "minute,hour"]
    topic = kafka.create_topic(3)
    out = topic + "-out"
    kafka.kcat_load(topic, path)
    ends = kafka.end_offsets(topic)
    assert sum(ends.values()) == 30000 and min(ends.values()) > 5000  # spread over all three
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--from-beginning",
                                 "--group", "g-" + topic, "-e"] + args, tmp_path)
    o = e2e.oracle(args, [path])
    results = run_to_end(k, kafka, out, len(o.records))
    check_windows(results, o.records)
    s = k.summary()
    assert s["frames_read"] == 30000 and s["frames_valid"] == o.summary["frames_valid"]
    assert s["windows_emitted"] == len(o.records)
    ks = k.kafka_stats()
    assert ks["partitions_assigned"] == 3
    assert ks["results_delivered"] == len(o.records) and ks["results_failed"] == 0
    # everything was emitted, so everything is committed
    assert kafka.committed(topic, "g-" + topic) == ends


def test_skewed_partition_exact_and_never_early(kafka, e2e, kuniq_bin, tmp_path):
    """Partition 0 is produced a minute of event time behind partitions 1 and 2, live: every
    window equals the oracle and none is emitted before its last frame was produced."""
    path = e2e.gen("s.jsonl", count=18000, rate=100, users=3000, delay=5, delay_prob=0.2,
                   frame_size=300, seed=11)
    lines = lines_of(path)
    tails, tail_ts = tail_frames(lines, 3)
    full = write_lines(tmp_path / "full.jsonl", lines + sum(tails, []))
    args = ["-w", "minute"]
    topic = kafka.create_topic(3)
    out = topic + "-out"
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--group",
                                 "g-" + topic, "--idle-timeout", "0"] + args, tmp_path)
    wait_assigned(k, 3)

    # frame i goes to partition i % 3, at the step of its generator clock (+60 s for partition 0)
    steps = {}
    clock = 0
    for i, line in enumerate(lines):
        clock = max(clock, json.loads(line)["ts"])
        p = i % 3
        step = (clock + (60 if p == 0 else 0)) // 5
        steps.setdefault(step, {}).setdefault(p, []).append(line)
    writers = [kafka.kcat_writer(topic, p) for p in range(3)]
    last_write = {}  # minute window start -> wall time its last frame was written
    for step in sorted(steps):
        for p, batch in sorted(steps[step].items()):
            writers[p].stdin.write(b"".join(line + b"\n" for line in batch))
            writers[p].stdin.flush()
            now = time.time()
            for line in batch:
                start = json.loads(line)["ts"] // 60 * 60
                last_write[start] = now
        time.sleep(0.05)  # pacing: a live stream, 5 s of event time per 50 ms
    for p, w in enumerate(writers):
        w.stdin.write(b"".join(line + b"\n" for line in tails[p]))
        w.stdin.close()
        assert w.wait(60) == 0

    o = e2e.oracle(args, [full])
    expected = final_before(o.records, tail_ts)
    assert len(expected) >= 3
    results = finish(k, kafka, out, len(expected))
    check_windows(results, expected)
    for _, rec, ts_ms in results:
        assert ts_ms / 1000.0 >= last_write[rec["start"]], \
            "window %s emitted %.3f s before its last frame was produced" % (
                rec["start"], last_write[rec["start"]] - ts_ms / 1000.0)


def test_bad_messages_and_broker_restarts(kafka, e2e, kuniq_bin, tmp_path):
    """Malformed frames, empty messages, tombstones and 1 MB messages mixed in; the broker is
    down when kuniq starts and is restarted mid-stream, each time on new ports (kuniq reaches it
    through the session's relay): kuniq never crashes, counts and skips the bad messages, and
    every window still equals the oracle, each emitted once."""
    path = e2e.gen("s.jsonl", count=20000, rate=100, users=3000, delay=5, delay_prob=0.2,
                   malformed_prob=0.02, frame_size=300, seed=5)
    lines = lines_of(path)
    half = len(lines) // 2
    # frame i goes to partition i % 3, so every partition has frames in each half
    parts = [[(i, line) for i, line in enumerate(lines) if i % 3 == p] for p in range(3)]
    h1 = [write_lines(tmp_path / ("h1-%d" % p), [x for i, x in parts[p] if i < half])
          for p in range(3)]
    h2 = [write_lines(tmp_path / ("h2-%d" % p), [x for i, x in parts[p] if i >= half])
          for p in range(3)]
    tails, tail_ts = tail_frames(lines, 3)
    big = b'{"uid":"big","ts":1468244400,"pad":"' + b"x" * (1 << 20) + b'"}'
    specials = [b"", None, big, b"not json at all", b"", None, big]
    # the oracle sees the special messages as lines: empty and NULL are both "empty"
    special_lines = [v if v is not None else b"" for v in specials]
    full = write_lines(tmp_path / "full.jsonl", lines + special_lines + sum(tails, []))
    args = ["-w", "minute"]
    topic = kafka.create_topic(3)
    out = topic + "-out"

    # down at start: kuniq must wait and say so, then go on when the broker is back
    kafka.stop()
    brokers = kafka.stable_address()  # the relay; the broker's next start adds its listener
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--from-beginning",
                                 "--group", "g-" + topic, "--idle-timeout", "0"] + args,
              tmp_path, brokers=brokers)
    k.wait_for("the 'unreachable' report", lambda: outages(k) == 1, 60)
    old = kafka.address
    kafka.start()
    assert kafka.address != old  # new ports: nothing needed the old ones free
    wait_assigned(k, 3)

    for p in range(3):
        kafka.kcat_load(topic, h1[p], partition=p)
    kafka.produce(topic, specials[:4])
    # some results are out, so the restart happens with kuniq mid-stream
    kafka.wait_count(out, 1, RESULT_TIMEOUT, alive=k.assert_alive)
    kafka.stop()
    k.wait_for("the second 'unreachable' report", lambda: outages(k) >= 2, 90)
    assert outages(k) == 2, k.stderr()
    old = kafka.address
    kafka.start()
    assert kafka.address != old
    kafka.produce(topic, specials[4:])
    for p in range(3):
        kafka.kcat_load(topic, h2[p], partition=p)
        kafka.kcat_load(topic, write_lines(tmp_path / ("tail%d" % p), tails[p]), partition=p)

    o = e2e.oracle(args, [full])
    expected = final_before(o.records, tail_ts)
    results = finish(k, kafka, out, len(expected))
    check_windows(results, expected)
    s = k.summary()
    assert s["frames_read"] == o.summary["frames_read"]
    for reason, n in o.summary["rejected"].items():
        if reason != "ts_ahead":  # pending frames are not rejected at a stop (docs/kafka.md)
            assert s["rejected"][reason] == n, (reason, s["rejected"], o.summary["rejected"])
    assert s["rejected"]["too_long"] >= 2 and s["rejected"]["empty"] >= 4  # the specials
    ks = k.kafka_stats()
    assert ks["tombstones"] == 2
    assert ks["results_failed"] == 0
    err = k.stderr()
    assert err.count("reachable again") == 2, err[-3000:]


def test_historical_replay_of_months(kafka, e2e, kuniq_bin, tmp_path):
    """A topic holding half a year of frames, read from the beginning at full speed into
    4 partitions to its end (-e): every hour..year window equals the oracle (week and month in a
    DST zone)."""
    path = e2e.gen("s.jsonl", count=60000, rate=1, step=260, users=2000, frame_size=200,
                   seed=13)
    # one frame every 260 s: a partition's frames are ~1000 s apart (beyond --max-ahead), so
    # each step of its clock is a jump, confirmed by the 8 frames after it (default options)
    args = ["-w", "hour,day,week,month,year", "--tz", "Europe/Zurich"]
    topic = kafka.create_topic(4)
    out = topic + "-out"
    kafka.kcat_load(topic, path)
    o = e2e.oracle(args, [path])
    assert o.records[-1]["start"] - o.records[0]["start"] > 150 * 86400  # months of frames
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--from-beginning",
                                 "--group", "g-" + topic, "-e"] + args, tmp_path)
    results = run_to_end(k, kafka, out, len(o.records))
    check_windows(results, o.records)
    assert k.summary()["frames_read"] == 60000
    assert k.kafka_stats()["partitions_assigned"] == 4


@pytest.mark.parametrize("bad", [["-X", "no.such.property=1"], ["-X", "fetch.wait.max.ms=x"]])
def test_bad_librdkafka_property_is_a_usage_error(kafka, kuniq_bin, tmp_path, bad):
    k = Kuniq(kuniq_bin, kafka, ["--topic", "whatever"] + bad, tmp_path)
    rc = k.wait(30)
    assert rc == 2
    assert "kuniq: kafka:" in k.stderr()


def test_stdout_output_and_sigterm_commit(kafka, e2e, kuniq_bin, tmp_path):
    """Without --output-topic results go to stdout. At least once (--at-least-once; exactly once
    is test_kafka_exactly_once.py's): the committed offsets are the ones whose frames' windows
    were all emitted: once every window of the stream is out, the group commits up
    to the tail (whose window is still open) and SIGTERM commits no further; a second run of the
    same group then reads exactly the tail again, nothing before it."""
    path = e2e.gen("s.jsonl", count=5000, rate=100, users=500, frame_size=200, seed=3)
    lines = lines_of(path)
    tails, tail_ts = tail_frames(lines, 2)
    args = ["-w", "minute"]
    topic = kafka.create_topic(2)
    group = "g-" + topic
    kafka.kcat_load(topic, path)
    for p in range(2):
        kafka.kcat_load(topic, write_lines(tmp_path / ("tail%d" % p), tails[p]), partition=p)
    ends = kafka.end_offsets(topic)
    assert sum(ends.values()) == 5000 + 2 * TAIL
    tail_start = {p: ends[p] - TAIL for p in ends}  # offset of each partition's first tail frame
    common = ["--topic", topic, "--from-beginning", "--group", group, "--idle-timeout", "0",
              "--at-least-once"] + args

    k = Kuniq(kuniq_bin, kafka, common, tmp_path)
    o = e2e.oracle(args, [write_lines(tmp_path / "full.jsonl", lines + sum(tails, []))])
    expected = final_before(o.records, tail_ts)
    k.wait_for("%d results on stdout" % len(expected),
               lambda: len(k.stdout().splitlines()) >= len(expected), RESULT_TIMEOUT)

    def committed_reached():
        c = kafka.committed(topic, group)
        assert all(c[p] <= tail_start[p] for p in c), \
            "committed %s past the tail's first offsets %s (its window is open)" % (c, tail_start)
        return c == tail_start

    k.wait_for("the commit of offsets %s" % tail_start, committed_reached, 60)
    assert k.stop() == 0, k.stderr()[-3000:]
    assert kafka.committed(topic, group) == tail_start  # SIGTERM committed nothing more
    recs = [json.loads(line) for line in k.stdout().splitlines()]
    msg = compare_records(order(recs), order(expected))
    assert not msg, msg
    assert k.summary()["frames_read"] == 5000 + 2 * TAIL

    # the same group again, to the end of the topic: the tail frames and nothing else
    k2 = Kuniq(kuniq_bin, kafka, common + ["-e"], tmp_path)
    assert k2.wait(RESULT_TIMEOUT) == 0, k2.stderr()[-3000:]
    assert k2.summary()["frames_read"] == 2 * TAIL, k2.stderr()[-3000:]
    # hand-computed: each partition's tail is in order, all of it in the minute of tail_ts
    recs2 = [json.loads(line) for line in k2.stdout().splitlines()]
    assert [(r["window"], r["start"], r["end"], r["uniques"], r["frames"], r["exact"],
             r["final"], r["revision"], r["late"]) for r in recs2] == \
        [("minute", tail_ts, tail_ts + 60, 2 * TAIL, 2 * TAIL, True, True, 0, 0)]
    assert kafka.committed(topic, group) == ends  # now everything is emitted and committed
