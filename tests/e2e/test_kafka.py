"""End-to-end tests of Kafka mode against a real broker (issue 7), compared with the oracle.

Every test creates its own topics on the session's broker (kafka_broker.py), runs kuniq from
topic to topic, reads the results back from the output topic and compares every window with the
oracle (oracle.py) run on the same frames as one file. The streams keep each frame's delay within
the lateness (--delay 5, lateness 5), so no frame is late however the partitions interleave and
the per-partition results must equal the single-input oracle window by window.

Two ways to make the last windows final:
  - idle: after the load every partition reaches its end, goes idle after --idle-timeout and the
    clocks follow wall time (semantics section 6), which emits every open window;
  - a tail: --idle-timeout 0 and one closing frame per partition, 120 s of event time after the
    stream, so every window of the stream is final whatever the wall time did (used where the
    test itself takes wall time: live production, broker restarts).
"""

import json
import os
import time

import oracle
import pytest

from conftest import compare_records
from kafka_broker import Kuniq, kafka, kill_leftovers  # noqa: F401  (fixtures)

KIND_ORDER = ["minute", "hour", "day", "week", "month", "year"]
RESULT_TIMEOUT = 180


def order(recs):
    return sorted(recs, key=lambda r: (KIND_ORDER.index(r["window"]), r["start"], r["revision"]))


def check_windows(results, expected, allow_identical_duplicates=False):
    """results: (key, record, ts) read from the output topic; expected: oracle records.
    Every window once (or repeated identically when allowed), keyed right, equal to the oracle."""
    seen = {}
    for key, rec, _ in results:
        assert key == "%s/%d" % (rec["window"], rec["start"]), "bad key %r for %r" % (key, rec)
        k = (rec["window"], rec["start"], rec["revision"])
        if k in seen:
            assert allow_identical_duplicates and seen[k] == rec, \
                "window emitted twice:\n  %s\n  %s" % (json.dumps(seen[k]), json.dumps(rec))
            continue
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
    return path


def tail_frames(lines, partitions):
    """One closing frame per partition, 120 s after the stream's largest ts."""
    top = 0
    for line in lines:
        reason, _, ts = oracle.classify(line, 65536, "uid", "ts")
        if reason is None:
            top = max(top, ts)
    return [b'{"uid":"tail-%d","ts":%d}' % (p, top + 120) for p in range(partitions)], top + 120


def wait_assigned(k, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert k.alive(), "kuniq exited:\n" + k.stderr()[-3000:]
        if "assigned %d partition(s)" % n in k.stderr():
            return
        time.sleep(0.2)
    raise AssertionError("kuniq got no assignment within %d s:\n%s" % (timeout, k.stderr()))


def finish(k, kafka, out, expected_count):  # noqa: F811
    """Waits for the results, stops kuniq (SIGTERM), and returns everything in the output topic."""
    kafka.read_results(out, min_count=expected_count, timeout=RESULT_TIMEOUT)
    assert k.alive(), "kuniq exited early:\n" + k.stderr()[-3000:]
    rc = k.stop()
    assert rc == 0, "kuniq exited with %d:\n%s" % (rc, k.stderr()[-3000:])
    return kafka.read_results(out, min_count=expected_count, timeout=30)


def test_random_partitions_equal_oracle(kafka, e2e, kuniq_bin, tmp_path):  # noqa: F811
    """3 partitions, random partitioning by kcat, 5 s delays: every window equals the oracle."""
    path = e2e.gen("s.jsonl", count=30000, rate=100, users=4000, delay=5, delay_prob=0.3,
                   frame_size=300, seed=7)
    args = ["-w", "minute,hour"]
    topic = kafka.create_topic(3)
    out = topic + "-out"
    kafka.kcat_load(topic, path)
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--from-beginning",
                                 "--group", "g-" + topic, "--idle-timeout", "2"] + args, tmp_path)
    o = e2e.oracle(args, [path])
    results = finish(k, kafka, out, len(o.records))
    check_windows(results, o.records)
    s = k.summary()
    assert s["frames_read"] == 30000 and s["frames_valid"] == o.summary["frames_valid"]
    ks = k.kafka_stats()
    assert ks["partitions_assigned"] == 3
    assert ks["results_delivered"] == len(o.records) and ks["results_failed"] == 0


def test_skewed_partition_exact_and_never_early(kafka, e2e, kuniq_bin, tmp_path):  # noqa: F811
    """Partition 0 is produced a minute of event time behind partitions 1 and 2, live: every
    window equals the oracle and none is emitted before its last frame was produced."""
    path = e2e.gen("s.jsonl", count=18000, rate=100, users=3000, delay=5, delay_prob=0.2,
                   frame_size=300, seed=11)
    lines = lines_of(path)
    tail, tail_ts = tail_frames(lines, 3)
    full = write_lines(str(tmp_path / "full.jsonl"), lines + tail)
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
        time.sleep(0.05)
    for p, w in enumerate(writers):
        w.stdin.write(tail[p] + b"\n")
        w.stdin.close()
        assert w.wait(60) == 0

    o = e2e.oracle(args, [full])
    expected = [r for r in o.records if r["end"] <= tail_ts - 5]
    results = finish(k, kafka, out, len(expected))
    check_windows(results, expected)
    for _, rec, ts_ms in results:
        assert ts_ms / 1000.0 >= last_write[rec["start"]], \
            "window %s emitted %.3f s before its last frame was produced" % (
                rec["start"], last_write[rec["start"]] - ts_ms / 1000.0)


def test_bad_messages_and_broker_restarts(kafka, e2e, kuniq_bin, tmp_path):  # noqa: F811
    """Malformed frames, empty messages, tombstones and 1 MB messages mixed in; the broker is
    down when kuniq starts and is restarted mid-stream: kuniq never crashes, counts and skips
    the bad messages, and every window still equals the oracle, each emitted once."""
    path = e2e.gen("s.jsonl", count=20000, rate=100, users=3000, delay=5, delay_prob=0.2,
                   malformed_prob=0.02, frame_size=300, seed=5)
    lines = lines_of(path)
    half = len(lines) // 2
    # frame i goes to partition i % 3, so every partition has frames in each half
    parts = [[(i, line) for i, line in enumerate(lines) if i % 3 == p] for p in range(3)]
    h1 = [write_lines(str(tmp_path / ("h1-%d" % p)), [x for i, x in parts[p] if i < half])
          for p in range(3)]
    h2 = [write_lines(str(tmp_path / ("h2-%d" % p)), [x for i, x in parts[p] if i >= half])
          for p in range(3)]
    tail, tail_ts = tail_frames(lines, 3)
    big = b'{"uid":"big","ts":1468244400,"pad":"' + b"x" * (1 << 20) + b'"}'
    specials = [b"", None, big, b"not json at all", b"", None, big]
    # the oracle sees the special messages as lines: empty and NULL are both "empty"
    special_lines = [v if v is not None else b"" for v in specials]
    full = write_lines(str(tmp_path / "full.jsonl"), lines + special_lines + tail)
    args = ["-w", "minute"]
    topic = kafka.create_topic(3)
    out = topic + "-out"

    # down at start: kuniq must wait and say so, then go on when the broker is back
    kafka.stop()
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--from-beginning",
                                 "--group", "g-" + topic, "--idle-timeout", "0"] + args, tmp_path)
    deadline = time.monotonic() + 30
    while "unreachable" not in k.stderr() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "unreachable" in k.stderr(), k.stderr()
    assert k.alive()
    kafka.start()
    wait_assigned(k, 3)

    for p in range(3):
        kafka.kcat_load(topic, h1[p], partition=p)
    kafka.produce(topic, specials[:4])
    # some results are out, so the restart happens with kuniq mid-stream
    assert kafka.read_results(out, min_count=1, timeout=RESULT_TIMEOUT), k.stderr()[-3000:]
    kafka.stop()
    deadline = time.monotonic() + 60
    while k.stderr().count("unreachable") < 2 and time.monotonic() < deadline:
        assert k.alive(), "kuniq exited while the broker was down:\n" + k.stderr()[-3000:]
        time.sleep(0.2)
    assert k.stderr().count("unreachable") == 2, "the outage was not reported:\n" + k.stderr()
    kafka.start()
    kafka.produce(topic, specials[4:])
    for p in range(3):
        kafka.kcat_load(topic, h2[p], partition=p)
    for p in range(3):
        kafka.kcat_load(topic, write_lines(str(tmp_path / ("tail%d" % p)), [tail[p]]),
                        partition=p)

    o = e2e.oracle(args, [full])
    expected = [r for r in o.records if r["end"] <= tail_ts - 5]
    results = finish(k, kafka, out, len(expected))
    check_windows(results, expected)
    s = k.summary()
    assert s["frames_read"] == o.summary["frames_read"]
    for reason, n in o.summary["rejected"].items():
        if reason != "ts_ahead":  # pending frames are not rejected at a stop (docs/kafka.md)
            assert s["rejected"][reason] == n, (reason, s["rejected"], o.summary["rejected"])
    assert s["rejected"]["too_long"] >= 2 and s["rejected"]["empty"] >= 4
    ks = k.kafka_stats()
    assert ks["tombstones"] == 2
    assert ks["results_failed"] == 0
    err = k.stderr()
    assert err.count("reachable again") == 2, err[-3000:]


def test_historical_replay_of_months(kafka, e2e, kuniq_bin, tmp_path):  # noqa: F811
    """A topic holding half a year of frames, read from the beginning at full speed into
    4 partitions: every hour..year window equals the oracle (week and month in a DST zone)."""
    path = e2e.gen("s.jsonl", count=60000, rate=1, step=260, users=2000, frame_size=200,
                   seed=13)
    # one frame every 260 s: a partition's frames are ~1000 s apart, so its clock starts with
    # its first frame (--jump-confirm 1) and confirms each step at once
    args = ["-w", "hour,day,week,month,year", "--tz", "Europe/Zurich", "--jump-confirm", "1"]
    topic = kafka.create_topic(4)
    out = topic + "-out"
    kafka.kcat_load(topic, path)
    o = e2e.oracle(args, [path])
    assert o.records[-1]["start"] - o.records[0]["start"] > 150 * 86400  # months of frames
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--output-topic", out, "--from-beginning",
                                 "--group", "g-" + topic, "--idle-timeout", "2"] + args, tmp_path)
    results = finish(k, kafka, out, len(o.records))
    check_windows(results, o.records)
    assert k.summary()["frames_read"] == 60000


@pytest.mark.parametrize("bad", [["-X", "no.such.property=1"], ["-X", "fetch.wait.max.ms=x"]])
def test_bad_librdkafka_property_is_a_usage_error(kafka, kuniq_bin, tmp_path, bad):  # noqa: F811
    k = Kuniq(kuniq_bin, kafka, ["--topic", "whatever"] + bad, tmp_path)
    rc = k.p.wait(30)
    k.stop()
    assert rc == 2
    assert "kuniq: kafka:" in k.stderr()


def test_stdout_output_and_sigterm_commit(kafka, e2e, kuniq_bin, tmp_path):  # noqa: F811
    """Without --output-topic results go to stdout; after SIGTERM the group's committed offsets
    are the ones whose frames' windows were all emitted (here: everything, after the idle
    flush), so a second run of the same group reads nothing again."""
    path = e2e.gen("s.jsonl", count=5000, rate=100, users=500, frame_size=200, seed=3)
    args = ["-w", "minute"]
    topic = kafka.create_topic(2)
    kafka.kcat_load(topic, path)
    common = ["--topic", topic, "--from-beginning", "--group", "g-" + topic,
              "--idle-timeout", "1"] + args
    k = Kuniq(kuniq_bin, kafka, common, tmp_path)
    o = e2e.oracle(args, [path])
    deadline = time.monotonic() + RESULT_TIMEOUT
    while len(k.stdout().splitlines()) < len(o.records) and time.monotonic() < deadline:
        assert k.alive(), k.stderr()[-3000:]
        time.sleep(0.2)
    time.sleep(1.5)  # at least one commit interval after the last result
    assert k.stop() == 0, k.stderr()[-3000:]
    recs = [json.loads(line) for line in k.stdout().splitlines()]
    msg = compare_records(order(recs), order(o.records))
    assert not msg, msg
    k2 = Kuniq(kuniq_bin, kafka, common, tmp_path)
    wait_assigned(k2, 2)
    time.sleep(2)
    assert k2.stop() == 0
    assert k2.summary()["frames_read"] == 0, k2.stderr()[-3000:]
    assert k2.stdout() == ""
