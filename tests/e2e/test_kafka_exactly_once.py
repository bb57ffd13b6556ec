"""End-to-end tests of exactly-once Kafka mode against a real broker, driving the real binary.

What is tested (the exactly-once contract of Kafka mode, the default with --brokers):
  - kuniq checkpoints its state (open windows, event clocks, held frames, reject and late
    counters) every --checkpoint-interval seconds to a compacted changelog topic (default
    `<group>-kuniq-state`, --changelog-topic), in one transaction with its output records and the
    consumed input offsets; --instance-id (default "0") is the static group member id and the
    transactional id, so a restart with the same group and id gets its partitions at once and
    fences the process it replaces;
  - after kill -9 and a restart in a fresh working directory (the state lives in Kafka only),
    output continues as if nothing happened: a read_committed reader of the output topic sees
    every final window exactly once, with the counts of an uninterrupted run;
  - -e (exit at end): once every assigned partition is read to its end, every open window is
    emitted and kuniq exits 0;
  - the stderr summary of the last run reports totals over the whole stream, across restarts:
    frames_read, frames_valid, rejected by reason and late by kind equal the oracle's;
  - a changelog record whose checksum does not match makes kuniq refuse to start (exit 1, a
    message naming the changelog and the corruption) without writing any output record.

How: every test makes its own topics, loads frames (kcat, or confluent-kafka's producer from a
thread for a live stream), runs build/kuniq with kill -9 / SIGTERM / restarts, then reads the
output topic with isolation.level=read_committed (kafka_broker.read_committed_results) and checks
it window by window against the oracle (oracle.py) run on the whole stream as one file, in the
order it was produced. "Exactly once" is checked literally: every window of the oracle present,
none twice, none the oracle does not have, each equal to the oracle's record (every field but
start_iso/error that conftest._record_diff compares: window, start, end, uniques, frames, exact,
final, revision, late).

Why the oracle's single input is the truth for several partitions: frames are delayed by at most
the lateness (generator --delay 5, default --lateness 5), so none is late however the partitions
interleave; the late frames the kill loop adds are two days late, late for every window kind
whatever the interleaving (a replay at full speed reads the partitions up to a fetch, 1 MB, i.e.
about 16 hours of that stream, apart). Only the `late` field of a record depends on the
interleaving, even in an uninterrupted run: it is the kind's late counter when the record is
emitted, and with several partitions (the watermark is their minimum) a record may be emitted
after late frames that one input would have read after it. The kill loop therefore checks that
field by what holds for any interleaving: at least the oracle's value for that window (kuniq
never emits a window before the oracle would have), at most the kind's total, and never
decreasing along a kind's windows (emitted in start order); the summary's late totals must be
exact.

Every run's options pass through command_line(), the one place to change to run these tests
against a build without the exactly-once options: with --checkpoint-interval, --changelog-topic
and --instance-id dropped (and -X session.timeout.ms=6000, as such a build has no static
membership), an at-least-once build runs every test to its end and fails each on what it checks
(windows emitted twice or from part of their frames, totals of the last run only, results
visible before any commit, no changelog, no fencing), while a single uninterrupted -e run of the
kill loop's stream passes every check: the harness tells the two apart.
"""

import collections
import json
import logging
import os
import random
import subprocess
import threading
import time
import uuid

import confluent_kafka
import pytest
from confluent_kafka.admin import ConfigResource

import oracle
from conftest import _record_diff
from kafka_broker import (Kuniq, high_watermarks, read_committed_messages,  # noqa: F401
                          read_committed_results)

KIND_ORDER = ["minute", "hour", "day", "week", "month", "year"]
RESULT_TIMEOUT = 120
DAY0 = 1468195200  # 2016-07-11T00:00:00Z
T0 = 1468244340    # 2016-07-11T13:39:00Z, a minute boundary


def command_line(args):
    """kuniq's options for one run (every run's options pass through here)."""
    return list(args)


# -- processes and producers ---------------------------------------------------------------------

class Run(Kuniq):
    """kuniq in Kafka mode, started in a new empty working directory: whatever it knows from an
    earlier run it must have read from Kafka."""

    count = 0

    def __init__(self, binary, broker, args, tmp, brokers=None):  # Kuniq.__init__, plus cwd
        Run.count += 1
        tag = "%d-%s" % (Run.count, uuid.uuid4().hex[:6])
        self.cwd = os.path.join(str(tmp), "cwd-" + tag)
        os.makedirs(self.cwd)
        self.err_path = os.path.join(str(tmp), "kuniq-%s.err" % tag)
        self.out_path = self.err_path[:-4] + ".out"
        self.cmd = [binary, "--brokers", brokers or broker.address] + command_line(args)
        self.err = open(self.err_path, "wb")
        self.out = open(self.out_path, "wb")
        self.started = time.monotonic()
        self.p = subprocess.Popen(self.cmd, stdout=self.out, stderr=self.err, cwd=self.cwd)
        Kuniq.running.append(self)

    def kill9(self, what):
        """kill -9; fails if the process had already exited by itself."""
        rc = self.p.poll()
        assert rc is None, ("%s: kuniq exited by itself with %d before its kill -9 (%s):\n%s"
                            % (what, rc, " ".join(self.cmd), self.stderr()[-3000:]))
        self.p.kill()
        self.p.wait()
        self.err.close()
        self.out.close()

    def finish(self, what, timeout=RESULT_TIMEOUT):
        """Waits for a -e run to exit by itself; fails unless it exits 0."""
        rc = self.wait(timeout)
        assert rc == 0, "%s: kuniq exited with %d (%s):\n%s" % (what, rc, " ".join(self.cmd),
                                                               self.stderr()[-3000:])
        return time.monotonic() - self.started


class LiveProducer(threading.Thread):
    """Produces (partition, value) messages in list order from a thread, paced evenly over
    `duration` seconds of wall time: a live stream while the test kills and restarts kuniq.
    Idempotent, so every partition keeps the list's order whatever requests are retried."""

    def __init__(self, address, topic, messages, duration):
        super().__init__(daemon=True)
        self.address, self.topic, self.messages, self.duration = address, topic, messages, duration
        self.sent = 0
        self.error = None
        self.failed = []
        self.left = None
        self.log = collections.deque(maxlen=20)  # librdkafka's last log lines (not on stderr)

    def run(self):
        try:
            self._produce()
        except BaseException as e:  # reported by finish()
            self.error = repr(e)

    def _produce(self):
        log = self.log

        class Keep(logging.Handler):
            def emit(self, record):
                log.append(record.getMessage())

        logger = logging.getLogger("live-producer-%s" % uuid.uuid4().hex)
        logger.propagate = False
        logger.addHandler(Keep())
        p = confluent_kafka.Producer({"bootstrap.servers": self.address,
                                      "enable.idempotence": True, "linger.ms": 5,
                                      "logger": logger})

        def delivered(err, msg):
            if err is not None:
                self.failed.append(str(err))

        n = len(self.messages)
        t0 = time.monotonic()
        while self.sent < n:
            due = min(n, int(n * (time.monotonic() - t0) / self.duration) + 1)
            while self.sent < due:
                part, value = self.messages[self.sent]
                try:
                    p.produce(self.topic, value=value, partition=part, on_delivery=delivered)
                except BufferError:
                    p.poll(0.05)
                    continue
                self.sent += 1
            p.poll(0)
            time.sleep(0.01)
        self.left = p.flush(180)

    def finish(self, timeout=240):
        self.join(timeout)
        log = "\nits last log lines:\n  " + "\n  ".join(self.log)
        assert not self.is_alive(), "the producer did not finish within %d s%s" % (timeout, log)
        assert self.error is None, "the producer failed: %s%s" % (self.error, log)
        assert self.left == 0 and not self.failed, \
            "%s messages not delivered; delivery errors: %s%s" % (self.left, self.failed[:5], log)


def preload_then_live(address, topic, messages, duration, first_results):
    """The first quarter of the messages produced at once, then (once first_results() has
    returned) the rest live over `duration` s from a thread; returns that thread once it has sent
    a third of the rest, so what the test does next happens while frames keep coming."""
    q = len(messages) // 4
    head = LiveProducer(address, topic, messages[:q], 0.5)
    head.start()
    head.finish()
    first_results()
    rest = LiveProducer(address, topic, messages[q:], duration)
    rest.start()
    deadline = time.monotonic() + duration + 60
    while rest.sent < len(rest.messages) // 3:
        assert rest.is_alive() and time.monotonic() < deadline, \
            "the producer stopped at %d of %d messages: %s" % (rest.sent, len(rest.messages),
                                                                rest.error)
        time.sleep(0.05)
    return rest


class Watermarks:
    """The read_uncommitted high watermarks of one topic, polled cheaply (one consumer)."""

    def __init__(self, broker, topic):
        self.topic = topic
        self.c = confluent_kafka.Consumer({"bootstrap.servers": broker.address,
                                           "group.id": "probe-" + uuid.uuid4().hex,
                                           "isolation.level": "read_uncommitted"})

    def partitions(self):
        t = self.c.list_topics(self.topic, timeout=10).topics.get(self.topic)
        if t is None or t.error is not None or not t.partitions:
            return []
        return list(t.partitions)

    def total(self):
        return sum(self.c.get_watermark_offsets(confluent_kafka.TopicPartition(self.topic, p),
                                                timeout=10, cached=False)[1]
                   for p in self.partitions())

    def close(self):
        self.c.close()


# -- streams and the oracle ----------------------------------------------------------------------

def raw_lines(path):
    """Every line of a file, empty ones included (each is one message)."""
    with open(path, "rb") as f:
        return f.read().split(b"\n")[:-1]


def frame(uid, ts):
    return json.dumps({"uid": uid, "ts": ts}, separators=(",", ":")).encode()


def oracle_of(tmp_path, values, args, name="produced.jsonl"):
    """The oracle on the messages as one file, in the order they were produced."""
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb") as f:
        for v in values:
            assert b"\n" not in v, "a message holding a line end cannot be one line"
            f.write(v + b"\n")
    records, summary = oracle.run(list(args) + [path])
    return records, summary


def spaced_moments(rng, n, lo, hi, gap):
    """n sorted random moments in [lo, hi], at least gap apart."""
    while True:
        m = sorted(rng.uniform(lo, hi) for _ in range(n))
        if all(b - a >= gap for a, b in zip(m, m[1:])):
            return m


# -- checks --------------------------------------------------------------------------------------

def _wkey(w):
    return (KIND_ORDER.index(w[0]) if w[0] in KIND_ORDER else 99, w[1])


def _name(w):
    return "%s/%d" % w


def check_exactly_once(results, expected, what, late_bounds=False):
    """results: (key, record, ts) read with read_committed; expected: the oracle's records.
    Every window exactly once, under its key, final, equal to the oracle's record. late_bounds:
    `late` checked by bounds (see the module's docstring), not for equality."""
    got = collections.defaultdict(list)
    bad = []
    for key, rec, _ in results:
        w = (rec.get("window"), rec.get("start"))
        if key != "%s/%s" % w:
            bad.append("record under key %r is %s" % (key, json.dumps(rec)))
        if rec.get("final") is not True:
            bad.append("record not final: %s" % json.dumps(rec))
        got[w].append(rec)
    want = {(r["window"], r["start"]): r for r in expected}
    assert len(want) == len(expected), "the oracle emitted a window twice"
    by_kind = collections.defaultdict(list)
    for r in expected:
        by_kind[r["window"]].append(r)

    dups = sorted((w for w in got if len(got[w]) > 1), key=_wkey)
    missing = sorted(set(want) - set(got), key=_wkey)
    extra = sorted(set(got) - set(want), key=_wkey)
    wrong = []
    for w in sorted(set(want) & set(got), key=_wkey):
        for rec in got[w]:
            o = dict(want[w])
            note = ""
            if late_bounds and isinstance(rec.get("late"), int):
                lo, hi = o["late"], max(r["late"] for r in by_kind[o["window"]])
                if lo <= rec["late"] <= hi:
                    o["late"] = rec["late"]
                else:
                    note = " (late: want %d..%d)" % (lo, hi)
            d = _record_diff(rec, o)
            if d:
                wrong.append("%s: %s%s" % (_name(w), "; ".join(d), note))
    if late_bounds:
        for kind in KIND_ORDER:
            seq = [(w[1], r["late"]) for w in sorted(got, key=_wkey) if w[0] == kind
                   for r in got[w] if isinstance(r.get("late"), int)]
            for (s1, l1), (s2, l2) in zip(seq, seq[1:]):
                if l2 < l1:
                    bad.append("late counter of %s records went down: %s/%d says %d, the "
                               "later %s/%d says %d" % (kind, kind, s1, l1, kind, s2, l2))
                    break
    if not (bad or dups or missing or extra or wrong):
        return
    msg = ["%s: a read_committed reader of the output topic sees %d records for %d windows; the "
           "oracle has %d windows" % (what, len(results), len(got), len(want))]
    if dups:
        msg.append("DUPLICATED, emitted more than once (%d windows):" % len(dups))
        msg += ["  %s: %d records, uniques %s, frames %s (oracle: uniques %s, frames %s)"
                % (_name(w), len(got[w]), [r.get("uniques") for r in got[w]],
                   [r.get("frames") for r in got[w]], want.get(w, {}).get("uniques"),
                   want.get(w, {}).get("frames")) for w in dups[:12]]
    if missing:
        msg.append("MISSING, never emitted (%d windows): %s%s"
                   % (len(missing), ", ".join(_name(w) for w in missing[:20]),
                      " ..." if len(missing) > 20 else ""))
    if extra:
        msg.append("NOT IN THE ORACLE (%d windows):" % len(extra))
        msg += ["  " + json.dumps(got[w][0]) for w in extra[:8]]
    if wrong:
        msg.append("WRONG, differing from the oracle (%d records):" % len(wrong))
        msg += ["  " + m for m in wrong[:12]]
    if bad:
        msg.append("BAD RECORDS (%d):" % len(bad))
        msg += ["  " + m for m in bad[:8]]
    raise AssertionError("\n".join(msg))


def check_totals(summary, want, what):
    """The summary's counts over the whole stream (across restarts) equal the oracle's."""
    diffs = []
    for f in ("frames_read", "frames_valid"):
        if summary.get(f) != want[f]:
            diffs.append("%s: kuniq %r, oracle %r" % (f, summary.get(f), want[f]))
    for f in ("rejected", "late"):
        k, o = summary.get(f) or {}, want[f]
        for key in sorted(set(k) | set(o)):
            if k.get(key, "<missing>") != o.get(key, "<missing>"):
                diffs.append("%s.%s: kuniq %r, oracle %r" % (f, key, k.get(key, "<missing>"),
                                                             o.get(key, "<missing>")))
    assert not diffs, ("%s: the last run's summary is not the whole stream's (totals lost or "
                       "counted twice across restarts):\n  %s\nsummary: %s"
                       % (what, "\n  ".join(diffs), json.dumps(summary)))


def topic_config(kafka, topic, name):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = kafka.admin()  # must outlive the future
    try:
        cfg = admin.describe_configs([res])[res].result(timeout=30)
    except confluent_kafka.KafkaException as e:
        raise AssertionError("topic %s: %s" % (topic, e))
    return cfg[name].value


def records_of(kafka, out, window, start):
    return [r for _, r, _ in read_committed_results(kafka, out)
            if r.get("window") == window and r.get("start") == start]


# -- the tests -----------------------------------------------------------------------------------

def test_kill_loop_on_a_live_multi_day_stream(kafka, e2e, kuniq_bin, tmp_path):
    """Three days of event time (300 users, 5 s delays, 1 % malformed messages, 30 frames two
    days late) produced live over 24 s into 3 partitions (random, seeded); kuniq killed -9
    at 5 random moments, restarted at once each time (same group, fresh working directory); once
    the producer is done a last run with -e. The output topic (read_committed) holds exactly one
    final record per window, equal to the oracle's, the last summary has the whole stream's
    totals, the group's offsets are the topic's ends, and the changelog topic is compacted."""
    rng = random.Random(2024)
    path = e2e.gen("s.jsonl", count=43200, rate=1, step=6, start=DAY0 + 600, users=300, delay=5,
                   delay_prob=0.3, malformed_prob=0.01, frame_size=300, seed=21)
    values = raw_lines(path)
    n = len(values)
    # 30 frames of day 1's first half inserted in day 3 (85 %..95 % of the stream, 49 h or
    # more later), at least 100 messages apart (never 8 far-behind frames in a row: a rewind):
    # late for minute, hour and day whatever the interleaving of the partitions
    at = sorted(rng.sample(range(int(0.85 * n) // 100, int(0.95 * n) // 100), 30))
    for i, slot in reversed(list(enumerate(at))):
        values.insert(slot * 100, frame("late-%d" % i, DAY0 + rng.randrange(3600, 43200)))
    messages = [(rng.randrange(3), v) for v in values]
    args_w = ["-w", "minute,hour,day"]
    expected, osum = oracle_of(tmp_path, values, args_w)
    assert osum["late"] == {"minute": 30, "hour": 30, "day": 30}, osum["late"]
    assert sum(osum["rejected"].values()) > 300 and osum["rejected"]["empty"] > 0
    assert len([r for r in expected if r["window"] == "day"]) == 4  # 3 days and 10 minutes

    topic = kafka.create_topic(3)
    out = kafka.create_topic(1, prefix="out")
    group = "g-" + topic
    args = ["--topic", topic, "--output-topic", out, "--group", group,
            "--from-beginning"] + args_w
    duration = 24.0
    kills = spaced_moments(rng, 5, 1.5, duration - 1.0, 1.5)
    producer = LiveProducer(kafka.address, topic, messages, duration)
    producer.start()
    t0 = time.monotonic()
    k = Run(kuniq_bin, kafka, args, tmp_path)
    for i, moment in enumerate(kills):
        time.sleep(max(0.0, t0 + moment - time.monotonic()))
        k.kill9("run %d (killed at %.1f s, %d of %d messages produced)"
                % (i, moment, producer.sent, len(messages)))
        if i < len(kills) - 1:
            k = Run(kuniq_bin, kafka, args, tmp_path)
    producer.finish()
    last = Run(kuniq_bin, kafka, args + ["-e"], tmp_path)
    took = last.finish("the last run (-e)")

    results = read_committed_results(kafka, out)
    check_exactly_once(results, expected, "kill loop (kills at %s s)"
                       % ", ".join("%.1f" % m for m in kills), late_bounds=True)
    check_totals(last.summary(), osum, "kill loop")
    assert kafka.committed(topic, group) == kafka.end_offsets(topic), \
        "the group's committed offsets are not the input's end after the last run"
    changelog = group + "-kuniq-state"
    policy = topic_config(kafka, changelog, "cleanup.policy")
    assert "compact" in policy, "changelog %s: cleanup.policy=%s" % (changelog, policy)
    # a restart with the same instance id gets its partitions at once (static membership):
    # no wait for the killed member's session to expire (45 s by default)
    assert took < 40, "the last run took %.1f s:\n%s" % (took, last.stderr()[-3000:])


def test_graceful_restart_after_a_late_but_counted_frame(kafka, e2e, kuniq_bin, tmp_path):
    """One partition: 20 frames of minute M, 20 of M+1, then a frame of M delayed 2 s (within
    the lateness: counted in M, user 21), then 20 later frames; --idle-timeout 0. kuniq emits M
    (21 users), is stopped by SIGTERM with M+1 open, and a rerun with -e finishes the stream: the
    latest record for M still says 21 users, and every window is emitted once (an at-least-once
    restart re-reads from M+1's first offset and emits M again from the delayed frame alone)."""
    m = T0
    frames = ([frame("a%d" % i, m + 40 + i) for i in range(20)]
              + [frame("b%d" % i, m + 60 + i // 10) for i in range(20)]
              + [frame("delayed", m + 59)]
              + [frame("c%d" % i, m + 62 + i) for i in range(20)])
    args_w = ["-w", "minute", "--idle-timeout", "0"]
    expected, osum = oracle_of(tmp_path, frames, args_w)
    assert [(r["start"], r["uniques"]) for r in expected] == [(m, 21), (m + 60, 40)]
    topic = kafka.create_topic(1)
    out = kafka.create_topic(1, prefix="out")
    path = tmp_path / "frames.jsonl"
    path.write_bytes(b"".join(f + b"\n" for f in frames))
    kafka.kcat_load(topic, str(path), partition=0)
    args = ["--topic", topic, "--output-topic", out, "--group", "g-" + topic,
            "--from-beginning"] + args_w

    k = Run(kuniq_bin, kafka, args, tmp_path)
    k.wait_for("minute %d's record, committed" % m, lambda: records_of(kafka, out, "minute", m),
               60)
    rc = k.stop()
    assert rc == 0, "SIGTERM: kuniq exited with %d:\n%s" % (rc, k.stderr()[-3000:])
    again = Run(kuniq_bin, kafka, args + ["-e"], tmp_path)
    again.finish("the rerun (-e)")

    latest = records_of(kafka, out, "minute", m)[-1]
    assert latest["uniques"] == 21 and latest["frames"] == 21, \
        "the latest record for minute %d says %d users (%d frames), want 21:\n%s" % (
            m, latest["uniques"], latest["frames"],
            "\n".join(json.dumps(r) for _, r, _ in read_committed_results(kafka, out)))
    check_exactly_once(read_committed_results(kafka, out), expected, "graceful restart")
    check_totals(again.summary(), osum, "graceful restart")


def test_results_of_a_run_killed_before_its_commit_stay_invisible(kafka, e2e, kuniq_bin,
                                                                  tmp_path):
    """--checkpoint-interval 30: kuniq reads the whole topic and produces its results inside a
    transaction it never commits, killed -9 first. A read_committed reader sees none of them and
    the group has no offset past the start; a restart (default interval, -e) emits every window
    exactly once, equal to the oracle."""
    path = e2e.gen("s.jsonl", count=20000, rate=10, users=2000, delay=5, delay_prob=0.2,
                   frame_size=200, seed=31)
    args_w = ["-w", "minute,hour"]
    o = e2e.oracle(args_w, [path])
    top = max(r["end"] for r in o.records if r["window"] == "minute")  # the stream's end
    sure = [r for r in o.records if r["end"] <= top - 180]  # final long before it
    assert len(sure) >= 25
    topic = kafka.create_topic(2)
    out = kafka.create_topic(1, prefix="out")
    group = "g-" + topic
    kafka.kcat_load(topic, path)
    args = ["--topic", topic, "--output-topic", out, "--group", group,
            "--from-beginning"] + args_w

    k = Run(kuniq_bin, kafka, args + ["--checkpoint-interval", "30"], tmp_path)
    marks = Watermarks(kafka, out)
    try:
        produced = 0
        while produced < len(sure) and time.monotonic() - k.started < 20:
            k.assert_alive()
            produced = marks.total()
            time.sleep(0.1)
    finally:
        marks.close()
    k.kill9("the run with --checkpoint-interval 30")
    alive_for = time.monotonic() - k.started
    assert alive_for < 28, "the kill came %.1f s after the start: too close to the first " \
        "checkpoint (30 s) for this test" % alive_for
    seen = read_committed_results(kafka, out)
    assert not seen, ("a read_committed reader sees %d records of a run killed %.1f s after its "
                      "start, before its first checkpoint (%d records were in the topic, "
                      "uncommitted or not), e.g.:\n%s"
                      % (len(seen), alive_for, produced,
                         "\n".join(json.dumps(r) for _, r, _ in seen[:5])))
    committed = kafka.committed(topic, group)
    assert all(off in (-1001, 0) for off in committed.values()), \
        "offsets %s committed by a run that never committed its results" % committed

    again = Run(kuniq_bin, kafka, args + ["-e"], tmp_path)
    again.finish("the restart (-e)")
    check_exactly_once(read_committed_results(kafka, out), o.records,
                       "restart after a kill before the commit (%d uncommitted records seen "
                       "before the kill)" % produced)
    check_totals(again.summary(), o.summary, "restart after a kill before the commit")


def test_kills_during_checkpoints_of_a_large_exact_window(kafka, kuniq_bin, tmp_path):
    """One day window holding 1,000,000 distinct users (1,050,000 frames, exact mode) in 2
    partitions; 8 runs killed -9: 4 at random moments 0.5..3 s after their start, 4 as soon as
    the changelog topic grows (a checkpoint of the big window is being written); then -e: the
    day's record is emitted once, exact, with every user and every frame counted once."""
    users, repeats = 1000000, 50000
    rng = random.Random(44)
    uids = list(range(users)) + [rng.randrange(users) for _ in range(repeats)]
    rng.shuffle(uids)
    total = len(uids)
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        f.write(b"".join(b'{"uid":"u%07d","ts":%d}\n' % (u, DAY0 + 60 + (i * 80000) // total)
                         for i, u in enumerate(uids)))
    del uids
    topic = kafka.create_topic(2)
    out = kafka.create_topic(1, prefix="out")
    changelog = topic + "-state"
    kafka.kcat_load(topic, str(path))
    args = ["--topic", topic, "--output-topic", out, "--group", "g-" + topic, "--from-beginning",
            "--changelog-topic", changelog, "-w", "day", "--mode", "exact"]

    marks = Watermarks(kafka, changelog)
    hits = []
    try:
        for i in range(8):
            k = Run(kuniq_bin, kafka, args, tmp_path)
            if i % 2 == 0:
                time.sleep(rng.uniform(0.5, 3.0))
            else:
                # more than the abort markers (one per partition) the restart writes for the
                # transaction its killed predecessor left open: state records are being written
                grown = marks.total() + len(marks.partitions()) + 1
                while marks.total() < grown and time.monotonic() - k.started < 8:
                    k.assert_alive()
                    time.sleep(0.02)
                if marks.total() >= grown:
                    hits.append(round(time.monotonic() - k.started, 2))
            k.kill9("run %d" % i)
    finally:
        marks.close()
    last = Run(kuniq_bin, kafka, args + ["-e"], tmp_path)
    took = last.finish("the last run (-e)")

    results = read_committed_results(kafka, out)
    want = {"window": "day", "start": DAY0, "end": DAY0 + 86400, "uniques": users,
            "frames": total, "exact": True, "final": True, "revision": 0, "late": 0}
    got = [{f: r.get(f) for f in want} for _, r, _ in results]
    assert got == [want], ("want exactly one record, %s; a read_committed reader sees %d:\n%s"
                           % (want, len(got), "\n".join(json.dumps(r) for r in got[:10])))
    s = last.summary()
    assert (s.get("frames_read"), s.get("frames_valid")) == (total, total), \
        "summary frames_read %s, frames_valid %s, want %d each" % (
            s.get("frames_read"), s.get("frames_valid"), total)
    assert hits, "no run saw the changelog %s grow within 8 s of its start: no checkpoint was " \
        "being written when kuniq was killed" % changelog
    assert took < 60, "the last run took %.1f s" % took


def _damaged(value, damage):
    if damage == "bitflip":  # bit rot in the middle: same length, same header
        b = bytearray(value)
        b[len(b) // 2] ^= 0x10
        return bytes(b)
    if damage == "truncated":  # a real value cut short
        return value[:len(value) // 2]
    return bytes(random.Random(5).randrange(256) for _ in range(64))  # garbage


@pytest.mark.parametrize("damage", ["bitflip", "truncated", "garbage"])
def test_corrupt_changelog_record_refuses_to_start(kafka, e2e, kuniq_bin, tmp_path, damage):
    """A run stopped by SIGTERM with open windows leaves its state in the changelog. The latest
    record of one of its keys is replaced (a record under the same key, same partition, produced
    after it) by the real value with one bit flipped (bitflip), by the real value cut in half
    (truncated) or by 64 random bytes (garbage). The next run refuses to start: exit 1, a stderr
    line naming the changelog and the corruption (or checksum), no output record written (the
    output topic's high watermark, records of aborted transactions included, is unchanged) and
    no offset committed."""
    path = e2e.gen("s.jsonl", count=6000, rate=10, users=500, frame_size=150, seed=51)
    topic = kafka.create_topic(1)
    out = kafka.create_topic(1, prefix="out")
    group = "g-" + topic
    kafka.kcat_load(topic, path, partition=0)
    args = ["--topic", topic, "--output-topic", out, "--group", group, "--from-beginning",
            "-w", "minute,hour"]
    if damage == "truncated":
        changelog = topic + "-state"
        args += ["--changelog-topic", changelog]
    else:
        changelog = group + "-kuniq-state"  # the default name

    k = Run(kuniq_bin, kafka, args, tmp_path)
    k.wait_for("3 committed results", lambda: len(read_committed_results(kafka, out)) >= 3, 60)
    rc = k.stop()
    assert rc == 0, "SIGTERM: kuniq exited with %d:\n%s" % (rc, k.stderr()[-3000:])
    msgs = read_committed_messages(kafka, changelog)
    assert msgs, "the changelog topic %s holds no committed record after a run that left " \
        "open windows" % changelog
    latest = {}
    for part, off, key, value, _ in msgs:
        latest[key] = (off, part, value)
    live = sorted((off, part, key, value) for key, (off, part, value) in latest.items()
                  if value)
    assert live, "every key of the changelog %s ends in a tombstone" % changelog
    big = [x for x in live if len(x[3]) >= 16]
    off, part, key, value = (big or live)[-1]  # the most recent state record
    bad = _damaged(value, damage)
    assert bad != value
    # confluent-kafka rather than kcat: keys and values are binary, and go byte for byte
    p = confluent_kafka.Producer({"bootstrap.servers": kafka.address})
    p.produce(changelog, key=key, value=bad, partition=part)
    assert p.flush(30) == 0
    del p
    marks_before = high_watermarks(kafka, out)
    committed_before = kafka.committed(topic, group)
    records_before = read_committed_results(kafka, out)

    again = Run(kuniq_bin, kafka, args + ["-e"], tmp_path)
    rc = again.wait(60)
    err = again.stderr()
    assert rc == 1, ("kuniq started on a changelog whose record %r (partition %d, offset %d, "
                     "%d bytes) was replaced by a %s copy (%d bytes): exit %d, want 1\n%s"
                     % (key, part, off, len(value), damage, len(bad), rc, err[-3000:]))
    assert high_watermarks(kafka, out) == marks_before, \
        "kuniq wrote to the output topic (high watermarks %s, were %s)" % (
            high_watermarks(kafka, out), marks_before)
    assert read_committed_results(kafka, out) == records_before
    assert kafka.committed(topic, group) == committed_before, "offsets committed"
    said = [line for line in err.splitlines() if "changelog" in line.lower()
            and ("corrupt" in line.lower() or "checksum" in line.lower())]
    assert said, ("kuniq refused to start (exit 1, nothing written), but no stderr line contains "
                  "'changelog' and 'corrupt' or 'checksum':\n" + err[-3000:])


def _two_partition_stream(e2e, seed):
    path = e2e.gen("s.jsonl", count=24000, rate=10, users=2000, delay=5, delay_prob=0.2,
                   frame_size=200, seed=seed)
    values = raw_lines(path)
    return values, [(i % 2, v) for i, v in enumerate(values)]


def test_second_instance_fences_the_first(kafka, e2e, kuniq_bin, tmp_path):
    """Instance A (--instance-id fence-1) runs on a live stream into 2 partitions (a quarter
    loaded first, the rest produced live); while it runs and commits, B starts with the same
    group and instance id. A must stop with a non-zero exit and a message saying it was fenced
    (or, if it keeps running, never commit again: its output must not change the topic when it
    is finally stopped); after the producer is done B is stopped (SIGTERM) and a last run with
    -e finishes: every window exactly once, equal to the oracle, and the whole stream's totals
    in the summary."""
    values, messages = _two_partition_stream(e2e, 61)
    args_w = ["-w", "minute,hour"]
    expected, osum = oracle_of(tmp_path, values, args_w)
    topic = kafka.create_topic(2)
    out = kafka.create_topic(1, prefix="out")
    args = ["--topic", topic, "--output-topic", out, "--group", "g-" + topic, "--from-beginning",
            "--instance-id", "fence-1"] + args_w

    a = Run(kuniq_bin, kafka, args, tmp_path)
    producer = preload_then_live(
        kafka.address, topic, messages, 10.0,
        lambda: a.wait_for("A's first committed results",
                           lambda: len(read_committed_results(kafka, out)) >= 2, 60))
    b = Run(kuniq_bin, kafka, args, tmp_path)
    deadline = time.monotonic() + 30
    while a.alive() and time.monotonic() < deadline:
        assert b.alive(), (
            "B, the instance that replaced A (same group and instance id), exited with %s while "
            "A %s: the newer instance must keep running and the older one stop (did A fence B "
            "back, e.g. by initialising its transactional producer again?)\n-- A's stderr:\n%s"
            "\n-- B's stderr:\n%s" % (b.p.returncode, "still runs" if a.alive() else "exited",
                                      a.stderr()[-2500:], b.stderr()[-2500:]))
        time.sleep(0.1)
    a_rc = a.p.poll()
    if a_rc is not None:
        a.wait(5)
        assert a_rc != 0 and "fenced" in a.stderr().lower(), (
            "A, replaced by B (same group and instance id), exited with %d without saying it "
            "was fenced:\n%s" % (a_rc, a.stderr()[-3000:]))
    producer.finish()
    b.assert_alive()
    rc = b.stop()
    assert rc == 0, "SIGTERM: B exited with %d:\n%s" % (rc, b.stderr()[-3000:])
    last = Run(kuniq_bin, kafka, args + ["-e"], tmp_path)
    last.finish("the last run (-e)")
    results = read_committed_results(kafka, out)
    check_exactly_once(results, expected, "fencing (A %s)" % (
        "exited with %d" % a_rc if a_rc is not None else "still running"))
    check_totals(last.summary(), osum, "fencing")
    if a_rc is None:
        # A kept running after being replaced: whatever it does now must not commit anything
        a.stop()
        after = read_committed_results(kafka, out)
        assert after == results, ("A, fenced by B 30 s ago and still running, committed %d "
                                  "records when stopped" % (len(after) - len(results)))


def test_broker_restart_mid_run(kafka, e2e, kuniq_bin, tmp_path):
    """A live stream into 2 partitions, produced (like kuniq's connections) through the test's
    relay (a quarter loaded first, the rest live); once kuniq has committed results and a third
    of the rest is sent, the broker is stopped and started again on new ports while the
    producer goes on (its messages wait in it). kuniq may ride it out or exit; an operator
    restarts it whenever it exits (fresh working directory), stops it (SIGTERM) after the
    stream, and runs it once more with -e: every window exactly once, equal to the oracle, the
    whole stream's totals in the summary."""
    values, messages = _two_partition_stream(e2e, 71)
    args_w = ["-w", "minute,hour"]
    expected, osum = oracle_of(tmp_path, values, args_w)
    topic = kafka.create_topic(2)
    out = kafka.create_topic(1, prefix="out")
    brokers = kafka.stable_address()  # may restart the broker once, to add the relay listener
    args = ["--topic", topic, "--output-topic", out, "--group", "g-" + topic,
            "--from-beginning"] + args_w

    runs = [Run(kuniq_bin, kafka, args, tmp_path, brokers=brokers)]
    producer = preload_then_live(
        brokers, topic, messages, 10.0,
        lambda: runs[-1].wait_for("the first committed results",
                                  lambda: len(read_committed_results(kafka, out)) >= 2, 60))
    kafka.stop()
    deadline = time.monotonic() + 20
    while runs[-1].alive() and "unreachable" not in runs[-1].stderr() \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    kafka.start()
    exits = []  # what the operator saw: exit codes and the last stderr line of each run
    while producer.is_alive() or not runs[-1].alive():
        if not runs[-1].alive():
            k = runs[-1]
            k.wait(5)
            exits.append((k.p.returncode, (k.stderr().strip().splitlines() or [""])[-1][:300]))
            assert len(exits) <= 5, "kuniq keeps exiting after the broker restart: %s" % exits
            runs.append(Run(kuniq_bin, kafka, args, tmp_path, brokers=brokers))
            if not producer.is_alive():
                break
        time.sleep(0.2)
    producer.finish()
    rc = runs[-1].stop()
    exits.append((rc, "SIGTERM after the stream"))
    last = Run(kuniq_bin, kafka, args + ["-e"], tmp_path, brokers=brokers)
    last.finish("the last run (-e) after the broker restart; earlier runs: %s" % exits)
    check_exactly_once(read_committed_results(kafka, out), expected,
                       "broker restart (runs before the last: %s)" % exits)
    check_totals(last.summary(), osum, "broker restart")
