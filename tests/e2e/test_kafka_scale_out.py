"""End-to-end tests of scale-out mode (--scale-out: several kuniq processes sharing one consumer
group in exactly-once Kafka mode) against a real broker, driving the real binary.

What is tested (the contract of --scale-out):
  - several processes with the same --group, each its own --instance-id (static member id and
    transactional id), share the input partitions; each counts the partitions it is assigned
    (stage 1) and publishes partial counters and its partitions' watermarks to an internal topic
    (default `<group>-kuniq-partials`, created with --partials-partitions partitions, default the
    input's count; --partials-topic names it); each also merges the internal partitions it is
    assigned (stage 2) and emits the final records. A read_committed reader of the output topic
    sees ONE record per window, equal to what a single process (the oracle) emits, however many
    processes, kills and restarts;
  - -e: every process exits 0 once the group has read the whole input to its end and every
    window is out (a process whose own partitions are done keeps merging);
  - a skewed partition and a partition that never receives a frame change nothing and hold
    nothing back: the windows well before the stream's end come out while the processes run;
  - sketches (--exact-limit 1000) merged from partials are bit for bit the sketches of a single
    direct-mode process on the same topic (same uniques, exact flag, error);
  - without --scale-out (direct mode), a process that is assigned only part of the input's
    partitions because another member joined its group stops with exit 2 and a message naming
    --scale-out, and never emits a count of part of the partitions;
  - stderr: a `tasks:` line after a rebalance, and a `"scale_out":{...}` object in the final
    `{"kafka":...}` line (partitions held, partials sent/merged, windows emitted; the windows
    emitted by the processes of an uninterrupted run add up to the oracle's windows).

How: every test makes its own topics, loads frames (kcat, or confluent-kafka's producer from a
thread for a live stream), runs several build/kuniq processes at once (each in a fresh working
directory: whatever a process knows it read from Kafka), kills -9 / stops / restarts some, then
reads the output topic with isolation.level=read_committed and checks it window by window
against the oracle (oracle.py) run on the whole stream as one file, in the order it was produced
(test_kafka_exactly_once.check_exactly_once: every oracle window present, none twice, none extra,
each equal to the oracle's record: window, start, end, uniques, frames, exact, final, revision,
late; a sketch's uniques within the sketch's tolerance of the oracle's exact count).

Why the single-file oracle is the truth here: frames are delayed by at most the lateness
(generator --delay 5, default --lateness 5) and each partition keeps the stream's order, so no
frame is late however the partitions interleave, and the `late` field, which in scale-out mode
counts the late frames seen by the merge task that emitted the record, is 0 everywhere, in the
oracle as in kuniq.

Harness check: KUNIQ_SCALE_OUT_OFF=1 drops --scale-out from every process that should have it
(direct mode, each process its own instance id in one group). Every multi-process test must then
fail (exit 2 with the direct-mode refusal, or windows missing, duplicated or counted from part
of the partitions), which shows the checks can tell the modes apart.

The file is named test_kafka_*.py because mk/kafka.mk (make e2e-kafka) selects the Kafka tests
by that glob, and mk/e2e.mk (make e2e-asan) leaves them out by it.
"""

import collections
import json
import os
import random
import signal
import subprocess
import time

import confluent_kafka

from test_kafka_exactly_once import (RESULT_TIMEOUT, LiveProducer, Run, _name, _wkey,
                                     check_exactly_once, oracle_of, preload_then_live,
                                     raw_lines)
from conftest import _record_diff
from kafka_broker import read_committed_results

CHECKPOINT = "0.3"  # --checkpoint-interval of every run: results visible soon after emission
SO_COUNTERS = ("partials_sent", "partial_bytes", "partials_merged", "windows_emitted")


def scale_out_options(iid, extra=()):
    """The options that make a process one member of a scale-out group."""
    opts = ["--instance-id", iid] + list(extra)
    if os.environ.get("KUNIQ_SCALE_OUT_OFF") != "1":
        opts = ["--scale-out"] + opts
    return opts


def base_args(topic, out, group, args_w):
    return (["--topic", topic, "--output-topic", out, "--group", group, "--from-beginning",
             "--checkpoint-interval", CHECKPOINT] + list(args_w))


def start_members(kuniq_bin, kafka, args, ids, tmp_path, extra=()):
    """One scale-out process per instance id, all started at once: {id: Run}."""
    return {iid: Run(kuniq_bin, kafka, args + scale_out_options(iid, extra), tmp_path)
            for iid in ids}


def finish_all(runs, what, timeout=RESULT_TIMEOUT):
    """Waits for every -e process to exit by itself; fails unless every one exits 0 (the
    message shows every process's exit and stderr tail)."""
    deadline = time.monotonic() + timeout
    codes = {}
    for iid, r in runs.items():
        try:
            codes[iid] = r.p.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            codes[iid] = None  # still running
    bad = {iid: rc for iid, rc in codes.items() if rc != 0}
    if bad:
        for r in runs.values():
            if r.alive():
                r.p.kill()
                r.p.wait()
        raise AssertionError("%s: want every process to exit 0 by itself (-e) within %d s; "
                             "exits: %s (None: still running, killed)\n%s"
                             % (what, timeout, codes, "\n".join(
                                 "-- %s (%s) stderr:\n%s" % (iid, " ".join(r.cmd),
                                                             r.stderr()[-2500:])
                                 for iid, r in runs.items())))
    for r in runs.values():
        r.err.close()
        r.out.close()


def stop_all(runs, what, timeout=90):
    """SIGTERM to every process at once (one signal each); each must exit 0."""
    for r in runs.values():
        if r.alive():
            r.p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    codes = {}
    for iid, r in runs.items():
        try:
            codes[iid] = r.p.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            r.p.kill()
            r.p.wait()
            codes[iid] = "no exit within %d s of SIGTERM (killed)" % timeout
        r.err.close()
        r.out.close()
    assert all(rc == 0 for rc in codes.values()), (
        "%s: SIGTERM, want exit 0 from every process; exits %s\n%s"
        % (what, codes, "\n".join("-- %s stderr:\n%s" % (iid, r.stderr()[-2500:])
                                  for iid, r in runs.items())))


def scale_out_stats(run, what):
    """The `scale_out` object of a process's final {"kafka":...} line, checked for shape; a
    process that was assigned partitions must also have said so in a `tasks:` line (printed after
    each rebalance). (A process that finds the work done before the group assigns it anything
    may exit without one.)"""
    err = run.stderr()
    stats = run.kafka_stats()
    so = stats.get("scale_out")
    assert isinstance(so, dict), ("%s: the {\"kafka\":...} line has no \"scale_out\" object:\n%s"
                                  % (what, err[-3000:]))
    for f in ("input_partitions", "merge_partitions"):
        v = so.get(f)
        assert isinstance(v, list) and all(isinstance(p, int) and not isinstance(p, bool)
                                           for p in v), \
            "%s: scale_out.%s is %r, want a list of partition numbers" % (what, f, v)
    for f in SO_COUNTERS:
        v = so.get(f)
        assert isinstance(v, int) and not isinstance(v, bool) and v >= 0, \
            "%s: scale_out.%s is %r, want a count" % (what, f, v)
    held = (stats.get("partitions_assigned") or so["input_partitions"]
            or so["merge_partitions"] or so["windows_emitted"] or so["partials_sent"])
    if held:
        assert any("tasks:" in line for line in err.splitlines()), (
            "%s: held partitions (partitions_assigned %s), but no `tasks:` line on stderr (want "
            "one after each rebalance, naming the input and merge partitions held):\n%s"
            % (what, stats.get("partitions_assigned"), err[-3000:]))
    return so


def check_stats_of_clean_run(runs, nwindows, what):
    """Every process of an uninterrupted run reports its scale_out counters; each window was
    emitted by exactly one merge task, so their windows_emitted add up to the oracle's."""
    stats = {iid: scale_out_stats(r, "%s, process %s" % (what, iid)) for iid, r in runs.items()}
    assert any("tasks:" in r.stderr() for r in runs.values()), \
        "%s: no process printed a `tasks:` line" % what
    total = sum(s["windows_emitted"] for s in stats.values())
    assert total == nwindows, ("%s: the processes' scale_out.windows_emitted add up to %d, the "
                               "oracle has %d windows: %s"
                               % (what, total, nwindows, json.dumps(stats)))
    assert sum(s["partials_sent"] for s in stats.values()) > 0, \
        "%s: no process sent a partial: %s" % (what, json.dumps(stats))
    assert sum(s["partials_merged"] for s in stats.values()) > 0, \
        "%s: no process merged a partial: %s" % (what, json.dumps(stats))
    return stats


def partition_count(kafka, topic):
    """Partitions of a topic (None when it does not exist)."""
    c = confluent_kafka.Consumer({"bootstrap.servers": kafka.address,
                                  "group.id": "probe-%d" % random.randrange(1 << 30)})
    try:
        t = c.list_topics(topic, timeout=10).topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            return None
        return len(t.partitions)
    finally:
        c.close()


def check_offsets_at_end(kafka, topic, group, what):
    """The group's committed input offsets are the input's ends (a partition that never held a
    message may have no committed offset)."""
    committed, ends = kafka.committed(topic, group), kafka.end_offsets(topic)
    committed = {p: 0 if off == -1001 and ends.get(p) == 0 else off
                 for p, off in committed.items()}
    assert committed == ends, ("%s: the group's committed input offsets %s are not the input's "
                               "end offsets %s" % (what, committed, ends))


def check_no_dup_no_wrong(results, expected, what):
    """For a run that may stop early: every record a read_committed reader sees is final, under
    its key, a window of the oracle, equal to the oracle's record, and no window is there twice.
    Returns the number of windows seen."""
    want = {(r["window"], r["start"]): r for r in expected}
    got = collections.defaultdict(list)
    bad = []
    for key, rec, _ in results:
        w = (rec.get("window"), rec.get("start"))
        if key != "%s/%s" % w:
            bad.append("record under key %r is %s" % (key, json.dumps(rec)))
        if rec.get("final") is not True:
            bad.append("record not final: %s" % json.dumps(rec))
        got[w].append(rec)
    for w in sorted(got, key=_wkey):
        if len(got[w]) > 1:
            bad.append("%s emitted %d times: %s" % (_name(w), len(got[w]),
                                                     [json.dumps(r) for r in got[w]]))
        if w not in want:
            bad.append("%s is not a window of the oracle: %s" % (_name(w), json.dumps(got[w][0])))
            continue
        for rec in got[w]:
            d = _record_diff(rec, want[w])
            if d:
                bad.append("%s differs from the oracle (a count of part of the partitions?): "
                           "%s\n    kuniq  %s\n    oracle %s" % (_name(w), "; ".join(d),
                                                               json.dumps(rec),
                                                               json.dumps(want[w])))
    assert not bad, "%s: %d records for %d windows seen (read_committed):\n  %s" % (
        what, len(results), len(got), "\n  ".join(bad[:12]))
    return len(got)


def _uniform_stream(e2e, name, seed, count=30000, rate=20, users=3000):
    """A generator stream (minutes of event time, 5 s delays within the lateness)."""
    return e2e.gen(name, count=count, rate=rate, users=users, delay=5, delay_prob=0.2,
                   frame_size=200, seed=seed)


def _run_preloaded(kafka, e2e, kuniq_bin, tmp_path, partitions, ids, seed, extra=()):
    """The common part of tests 1 and 2: a stream loaded into `partitions` partitions at random
    (kcat), one scale-out process per id, all with -e, started at once."""
    path = _uniform_stream(e2e, "s.jsonl", seed)
    args_w = ["-w", "minute,hour"]
    expected = e2e.oracle(args_w, [path]).records
    assert len(expected) >= 25
    topic = kafka.create_topic(partitions)
    out = kafka.create_topic(1, prefix="out")
    group = "g-" + topic
    kafka.kcat_load(topic, path)
    counts = kafka.end_offsets(topic)
    assert all(n > 0 for n in counts.values()), "a partition got no frame: %s" % counts
    args = base_args(topic, out, group, args_w) + ["-e"]
    runs = start_members(kuniq_bin, kafka, args, ids, tmp_path, extra)
    what = "%d scale-out processes on %d partitions" % (len(ids), partitions)
    finish_all(runs, what)
    check_exactly_once(read_committed_results(kafka, out), expected, what)
    check_offsets_at_end(kafka, topic, group, what)
    check_stats_of_clean_run(runs, len(expected), what)
    return group, runs


# -- the tests -----------------------------------------------------------------------------------

def test_two_processes_four_partitions(kafka, e2e, kuniq_bin, tmp_path):
    """25 minutes of event time (30,000 frames, 3,000 users, 5 s delays) spread at random over
    4 partitions; two scale-out processes in one group, both with -e, started at once: both
    exit 0, every window of the oracle is in the output topic exactly once (read_committed),
    equal to the oracle, none extra; the group's input offsets are the input's ends; the
    internal topic `<group>-kuniq-partials` exists with 4 partitions (the input's count); the
    processes' windows_emitted add up to the number of windows."""
    group, _ = _run_preloaded(kafka, e2e, kuniq_bin, tmp_path, 4, ["a", "b"], seed=101)
    n = partition_count(kafka, group + "-kuniq-partials")
    assert n == 4, "the internal topic %s-kuniq-partials has %s partitions, want 4 (the input's " \
        "count, the default of --partials-partitions)" % (group, n)


def test_three_processes_six_partitions(kafka, e2e, kuniq_bin, tmp_path):
    """The same with three processes on 6 partitions, and the internal topic named with
    --partials-topic and created with --partials-partitions 3: every window exactly once, equal
    to the oracle; the named topic has 3 partitions."""
    partials = "partials-%d" % random.randrange(1 << 30)
    _run_preloaded(kafka, e2e, kuniq_bin, tmp_path, 6, ["a", "b", "c"], seed=102,
                   extra=["--partials-topic", partials, "--partials-partitions", "3"])
    n = partition_count(kafka, partials)
    assert n == 3, "--partials-topic %s --partials-partitions 3: the topic has %s partitions" % (
        partials, n)


def test_kill_and_replace_a_member_on_a_live_stream(kafka, e2e, kuniq_bin, tmp_path):
    """40 minutes of event time (24,000 frames) produced into 4 partitions (random, seeded): a
    quarter at once, the rest live over 12 s. Two scale-out processes a and b; once results are
    committed and a third of the live part is sent, b is killed -9; once two thirds are sent, a
    replacement of b starts (same instance id: it takes b's place at once and fences it). After
    the producer is done both are stopped (SIGTERM, exit 0) and started again with -e (same ids):
    both exit 0, every window exactly once (read_committed), equal to the oracle; the group's
    input offsets are the input's ends."""
    path = _uniform_stream(e2e, "s.jsonl", seed=103, count=24000, rate=10, users=2000)
    values = raw_lines(path)
    rng = random.Random(103)
    messages = [(rng.randrange(4), v) for v in values]
    args_w = ["-w", "minute,hour"]
    expected, _ = oracle_of(tmp_path, values, args_w)
    topic = kafka.create_topic(4)
    out = kafka.create_topic(1, prefix="out")
    group = "g-" + topic
    args = base_args(topic, out, group, args_w)

    runs = start_members(kuniq_bin, kafka, args, ["a", "b"], tmp_path)
    producer = preload_then_live(
        kafka.address, topic, messages, 12.0,
        lambda: runs["a"].wait_for("the first committed results",
                                   lambda: len(read_committed_results(kafka, out)) >= 2, 60))
    runs["a"].assert_alive()
    sent_at_kill = producer.sent
    runs["b"].kill9("b, killed -9 mid-stream")
    deadline = time.monotonic() + 60
    while producer.sent < 2 * len(producer.messages) // 3 and producer.is_alive():
        assert time.monotonic() < deadline, "the producer is stuck at %d" % producer.sent
        time.sleep(0.05)
    runs["a"].assert_alive()
    runs["b"] = Run(kuniq_bin, kafka, args + scale_out_options("b"), tmp_path)
    producer.finish()
    what = ("kill -9 of b after %d of %d live messages, replaced after %d"
            % (sent_at_kill, len(producer.messages), producer.sent))
    stop_all(runs, what)
    last = start_members(kuniq_bin, kafka, args + ["-e"], ["a", "b"], tmp_path)
    finish_all(last, what + ", then the last runs (-e)")
    check_exactly_once(read_committed_results(kafka, out), expected, what)
    check_offsets_at_end(kafka, topic, group, what)
    for iid, r in last.items():
        scale_out_stats(r, "%s: the last run of %s" % (what, iid))


def test_skewed_and_idle_partitions(kafka, e2e, kuniq_bin, tmp_path):
    """4 partitions, 3 scale-out processes: 80 % of the frames in partition 0, 10 % each in 1
    and 2, none at all in 3 (idle for ever). While the processes run (no -e, --idle-timeout 1),
    every window that ends 3 minutes or more before the stream's end must come out: neither the
    skewed nor the empty partition holds the results back. Then SIGTERM, and the same three
    with -e: every window exactly once, equal to the oracle."""
    path = _uniform_stream(e2e, "s.jsonl", seed=104)
    values = raw_lines(path)
    rng = random.Random(104)
    messages = [(0 if x < 0.8 else 1 if x < 0.9 else 2, v)
                for x, v in ((rng.random(), v) for v in values)]
    args_w = ["-w", "minute,hour"]
    expected, _ = oracle_of(tmp_path, values, args_w)
    top = max(r["end"] for r in expected if r["window"] == "minute")
    sure = {(r["window"], r["start"]) for r in expected if r["end"] <= top - 180}
    assert len(sure) >= 15
    topic = kafka.create_topic(4)
    out = kafka.create_topic(1, prefix="out")
    group = "g-" + topic
    load = LiveProducer(kafka.address, topic, messages, 0.5)
    load.start()
    load.finish()
    ends = kafka.end_offsets(topic)
    assert ends[3] == 0 and min(ends[0], ends[1], ends[2]) > 0, ends
    args = base_args(topic, out, group, args_w) + ["--idle-timeout", "1"]
    ids = ["a", "b", "c"]

    runs = start_members(kuniq_bin, kafka, args, ids, tmp_path)

    def seen():
        return {(r["window"], r["start"]) for _, r, _ in read_committed_results(kafka, out)}

    deadline = time.monotonic() + 60
    while not sure <= seen():
        for iid, r in runs.items():
            assert r.alive(), "process %s exited with %s:\n%s" % (iid, r.p.poll(),
                                                                  r.stderr()[-3000:])
        if time.monotonic() > deadline:
            missing = sorted(sure - seen(), key=_wkey)
            raise AssertionError(
                "skewed + empty partition: %d windows ending 3 minutes or more before the "
                "stream's end are still not out after 60 s (held back by the empty or the "
                "skewed partition?): %s\n%s"
                % (len(missing), ", ".join(_name(w) for w in missing[:12]),
                   "\n".join("-- %s stderr:\n%s" % (iid, r.stderr()[-1500:])
                             for iid, r in runs.items())))
        time.sleep(0.3)
    check_no_dup_no_wrong(read_committed_results(kafka, out), expected,
                          "skewed + empty partition, while running")
    stop_all(runs, "skewed + empty partition")
    last = start_members(kuniq_bin, kafka, args + ["-e"], ids, tmp_path)
    finish_all(last, "skewed + empty partition, the last runs (-e)")
    check_exactly_once(read_committed_results(kafka, out), expected, "skewed + empty partition")
    check_offsets_at_end(kafka, topic, group, "skewed + empty partition")


def _three_densities(e2e):
    """Dense minutes of fresh users (about 12,000 per minute: sketches in every partition), then
    medium ones (about 1,800 fresh users per minute: exact in each of 4 partitions, over the
    limit once merged), then sparse ones (at most 300 users: exact), in order, 5 s delays."""
    parts = []
    start = 1468244384
    for i, (count, rate, users) in enumerate(((40000, 200, 0), (9000, 30, 0), (1500, 5, 300))):
        p = e2e.gen("part%d.jsonl" % i, count=count, rate=rate, users=users, delay=5,
                    delay_prob=0.1, frame_size=100, seed=105 + i, start=start)
        lines = raw_lines(p)
        parts += lines
        start = max(json.loads(v)["ts"] for v in lines) + 1
    return parts


def test_sketch_merge_equals_direct_mode(kafka, e2e, kuniq_bin, tmp_path):
    """--exact-limit 1000 on a stream whose windows hold 300 to 12,000 distinct users, in 4
    partitions (random, seeded). Two scale-out processes (one group) and one direct-mode process
    (no --scale-out, a group of its own) read the same topic with -e: both outputs equal the
    oracle (exact flag and frames; a sketch's uniques within its tolerance), and every window's
    uniques, exact and error are identical between the two: partials merged across processes
    give bit for bit the sketch of the single process."""
    values = _three_densities(e2e)
    rng = random.Random(105)
    messages = [(rng.randrange(4), v) for v in values]
    args_w = ["-w", "minute,hour", "--exact-limit", "1000"]
    expected, _ = oracle_of(tmp_path, values, args_w)
    exact = [r for r in expected if r["exact"]]
    sketch = [r for r in expected if not r["exact"]]
    assert len(exact) >= 3 and len(sketch) >= 5, (len(exact), len(sketch))
    assert any(r["uniques"] < 4000 for r in sketch)  # exact in each partition, not merged
    topic = kafka.create_topic(4)
    out_so = kafka.create_topic(1, prefix="out")
    out_direct = kafka.create_topic(1, prefix="out")
    load = LiveProducer(kafka.address, topic, messages, 0.5)
    load.start()
    load.finish()

    direct = Run(kuniq_bin, kafka, base_args(topic, out_direct, "direct-" + topic, args_w)
                 + ["-e"], tmp_path)
    runs = start_members(kuniq_bin, kafka, base_args(topic, out_so, "so-" + topic, args_w)
                         + ["-e"], ["a", "b"], tmp_path)
    direct.finish("the direct-mode run (-e)")
    finish_all(runs, "two scale-out processes, --exact-limit 1000")
    got_direct = read_committed_results(kafka, out_direct)
    got_so = read_committed_results(kafka, out_so)
    check_exactly_once(got_direct, expected, "direct mode, --exact-limit 1000")
    check_exactly_once(got_so, expected, "scale-out, --exact-limit 1000")
    check_stats_of_clean_run(runs, len(expected), "scale-out, --exact-limit 1000")

    d = {(r["window"], r["start"]): r for _, r, _ in got_direct}
    diffs = []
    for _, r, _ in got_so:
        w = (r["window"], r["start"])
        for f in ("uniques", "exact", "error", "frames"):
            if r.get(f) != d[w].get(f):
                diffs.append("%s %s: scale-out %r, direct %r (oracle's exact count %d)"
                             % (_name(w), f, r.get(f), d[w].get(f),
                                next(o["uniques"] for o in expected
                                     if (o["window"], o["start"]) == w)))
    assert not diffs, ("the merged partials do not give the single process's counters (%d "
                       "differences):\n  %s" % (len(diffs), "\n  ".join(diffs[:12])))


def test_direct_mode_refuses_to_share_a_group(kafka, e2e, kuniq_bin, tmp_path):
    """Direct mode (no --scale-out): process a reads a live stream (4 partitions, a quarter
    loaded at once, the rest over 10 s); once its first results are committed, process b joins
    the same group with another instance id. The rebalance leaves each with part of the
    partitions: at least one must exit 2 with a message naming --scale-out (within 60 s), and
    whatever a read_committed reader of the output topic sees is final, each window once, equal
    to the oracle (no count of part of the partitions). (No -e: a direct process with -e could
    read a preloaded topic to its end and exit 0 before the second one joins.)"""
    path = _uniform_stream(e2e, "s.jsonl", seed=106, count=20000, rate=10, users=2000)
    values = raw_lines(path)
    rng = random.Random(106)
    messages = [(rng.randrange(4), v) for v in values]
    args_w = ["-w", "minute,hour"]
    expected, _ = oracle_of(tmp_path, values, args_w)
    topic = kafka.create_topic(4)
    out = kafka.create_topic(1, prefix="out")
    args = base_args(topic, out, "g-" + topic, args_w)

    a = Run(kuniq_bin, kafka, args + ["--instance-id", "a"], tmp_path)
    producer = preload_then_live(
        kafka.address, topic, messages, 10.0,
        lambda: a.wait_for("a's first committed results",
                           lambda: len(read_committed_results(kafka, out)) >= 2, 60))
    b = Run(kuniq_bin, kafka, args + ["--instance-id", "b"], tmp_path)
    runs = {"a": a, "b": b}
    deadline = time.monotonic() + 60
    while all(r.alive() for r in runs.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    # the other one gets part of the partitions too (the one that left is a static member: its
    # partitions stay its own until its session times out): give it 15 s to exit as well
    deadline = time.monotonic() + 15
    while any(r.alive() for r in runs.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    codes = {}
    for iid, r in runs.items():
        codes[iid] = r.p.poll()
        if codes[iid] is None:
            r.stop()
            codes[iid] = "running (stopped by SIGTERM: %d)" % r.p.returncode
        else:
            r.wait(5)
    producer.finish()
    refused = [iid for iid, r in runs.items() if r.p.returncode == 2
               and any("--scale-out" in line for line in r.stderr().splitlines())]
    assert refused, ("two direct-mode processes in one group (a, then b): want at least one to "
                     "exit 2 with a message naming --scale-out; exits %s\n%s"
                     % (codes, "\n".join("-- %s stderr:\n%s" % (iid, r.stderr()[-2500:])
                                         for iid, r in runs.items())))
    n = check_no_dup_no_wrong(read_committed_results(kafka, out), expected,
                              "two direct-mode processes in one group (exits %s)" % codes)
    assert n >= 2
