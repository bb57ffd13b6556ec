"""End-to-end tests of kcat's flags in Kafka mode against a real broker: -b/-t/-G, -o, -F, -X list.

Every test loads its own topic on the session's broker (kafka_broker.py), runs build/kuniq with
-e (so it exits by itself once every partition is read to its end) and results on stdout, and
compares the windows with the oracle (oracle.py) run on the frames the run should have read.
Streams keep every frame's delay within the lateness (--delay 5, lateness 5), so the per-partition
results equal the single-input oracle whatever the interleaving.

Message timestamps for `-o @ts` are set by the producer (confluent-kafka, timestamp=...), one
millisecond apart in stream order, so the first offset at or after a time is known exactly.
"""

import json
import subprocess
import time

import confluent_kafka
import pytest

from conftest import compare_records
from test_kafka import lines_of, order, write_lines

RUN_TIMEOUT = 180
T0_MS = 1500000000000  # the message timestamp of frame 0 (frame i: T0_MS + i)


class Run:
    """A finished kuniq run: exit code, result records (stdout), stderr."""

    def __init__(self, cmd):
        t = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT)
        self.seconds = time.monotonic() - t
        self.rc = p.returncode
        self.err = p.stderr.decode("utf-8", "replace")
        self.records = [json.loads(line) for line in p.stdout.decode().splitlines() if line]

    def ok(self):
        assert self.rc == 0, "kuniq exited with %d:\n%s" % (self.rc, self.err[-3000:])
        return self

    def summary(self):
        for line in reversed(self.err.splitlines()):
            if line.startswith('{"summary"'):
                return json.loads(line)["summary"]
        raise AssertionError("no summary line:\n" + self.err[-3000:])

    def messages(self):
        """Messages this run read (the summary's counters are the group's, kept in its state)."""
        for line in reversed(self.err.splitlines()):
            if line.startswith('{"kafka"'):
                return json.loads(line)["kafka"]["messages"]
        raise AssertionError("no kafka line:\n" + self.err[-3000:])


def kuniq(kuniq_bin, *args):
    return Run([kuniq_bin] + [str(a) for a in args])


def assert_equal_oracle(records, e2e, args, lines, tmp_path, name):
    expected = e2e.oracle(args, [write_lines(tmp_path / name, lines)]).records
    assert expected, "the oracle found no window: the test proves nothing"
    msg = compare_records(order(records), order(expected))
    assert not msg, msg


def produce_timestamped(kafka, topic, lines, partitions):
    """Frame i to partition i % partitions with message timestamp T0_MS + i."""
    p = confluent_kafka.Producer({"bootstrap.servers": kafka.address,
                                  "enable.idempotence": True})
    for i, line in enumerate(lines):
        p.produce(topic, value=line, partition=i % partitions, timestamp=T0_MS + i)
    assert p.flush(60) == 0


def stream(e2e, count=6000, seed=21):
    return lines_of(e2e.gen("s.jsonl", count=count, rate=100, users=800, delay=5,
                            delay_prob=0.3, frame_size=200, seed=seed))


def test_short_flags_equal_long_options(kafka, e2e, kuniq_bin, tmp_path):
    """-b/-t/-G/-o beginning with -e reads the same frames and gives the same windows as
    --brokers/--topic/--group/--from-beginning, both equal to the oracle."""
    lines = stream(e2e)
    topic = kafka.create_topic(2)
    kafka.kcat_load(topic, write_lines(tmp_path / "all.jsonl", lines))
    args = ["-w", "minute,hour"]
    short = kuniq(kuniq_bin, "-b", kafka.address, "-t", topic, "-G", "s-" + topic,
                  "-o", "beginning", "-e", *args).ok()
    long_ = kuniq(kuniq_bin, "--brokers", kafka.address, "--topic", topic, "--group",
                  "l-" + topic, "--from-beginning", "--exit-at-end", *args).ok()
    assert short.summary()["frames_read"] == long_.summary()["frames_read"] == len(lines)
    assert order(short.records) == order(long_.records)
    assert_equal_oracle(short.records, e2e, args, lines, tmp_path, "expected.jsonl")
    assert "as group s-%s" % topic in short.err


def test_offset_timestamp_starts_at_the_right_frame(kafka, e2e, kuniq_bin, tmp_path):
    """-o @ts: each partition starts at its first message whose timestamp is >= ts, so the run
    reads exactly the frames from index i0 on; its windows equal the oracle on those frames. The
    group then has committed positions: -o @ts again is a usage error, a run without -o
    resumes (nothing left to read)."""
    lines = stream(e2e)
    topic = kafka.create_topic(2)
    produce_timestamped(kafka, topic, lines, 2)
    i0 = 2345
    group = "g-" + topic
    args = ["-w", "minute"]
    r = kuniq(kuniq_bin, "-b", kafka.address, "-t", topic, "-G", group, "-o",
              "@%d" % (T0_MS + i0), "-e", *args).ok()
    assert r.summary()["frames_read"] == len(lines) - i0
    assert_equal_oracle(r.records, e2e, args, lines[i0:], tmp_path, "from.jsonl")
    assert kafka.committed(topic, group) == kafka.end_offsets(topic)

    again = kuniq(kuniq_bin, "-b", kafka.address, "-t", topic, "-G", group, "-o",
                  "@%d" % T0_MS, "-e", *args)
    assert again.rc == 2, again.err[-3000:]
    assert "already has committed positions" in again.err
    assert again.records == [] and again.messages() == 0
    resume = kuniq(kuniq_bin, "-b", kafka.address, "-t", topic, "-G", group, "-e",
                   *args).ok()
    assert resume.messages() == 0 and resume.records == []


def test_offset_timestamp_after_the_last_message_reads_nothing(kafka, e2e, kuniq_bin):
    lines = stream(e2e, count=500)
    topic = kafka.create_topic(2)
    produce_timestamped(kafka, topic, lines, 2)
    r = kuniq(kuniq_bin, "-b", kafka.address, "-t", topic, "-G", "g-" + topic, "-o",
              "@%d" % (T0_MS + len(lines)), "-e").ok()
    assert r.summary()["frames_read"] == 0 and r.records == []


def test_offset_end_exits_at_once(kafka, e2e, kuniq_bin):
    """-o end with -e on a topic holding frames: nothing is read, no window, exit 0 as soon as
    the partitions are assigned and found at their end."""
    lines = stream(e2e, count=2000)
    topic = kafka.create_topic(3)
    kafka.produce(topic, lines)
    r = kuniq(kuniq_bin, "-b", kafka.address, "-t", topic, "-G", "g-" + topic, "-o", "end",
              "-e").ok()
    assert r.records == []
    assert r.summary()["frames_read"] == 0
    assert "read to its end" in r.err
    assert r.seconds < 30, "took %.1f s to exit" % r.seconds


@pytest.mark.parametrize("spec", ["-150", "1200"])
def test_offset_tail_and_absolute(kafka, e2e, kuniq_bin, tmp_path, spec):
    """-o -N reads the last N messages of every partition, -o OFFSET from that offset of every
    partition: the windows equal the oracle on exactly those frames."""
    lines = stream(e2e)
    parts = 3
    topic = kafka.create_topic(parts)
    for p in range(parts):
        kafka.kcat_load(topic, write_lines(tmp_path / ("p%d" % p), lines[p::parts]),
                        partition=p)
    per_part = len(lines) // parts  # 2000 frames each
    first = per_part - int(spec[1:]) if spec.startswith("-") else int(spec)
    # frame i is offset i // parts of partition i % parts
    chosen = [line for i, line in enumerate(lines) if i // parts >= first]
    args = ["-w", "minute"]
    r = kuniq(kuniq_bin, "-b", kafka.address, "-t", topic, "-G", "g-" + topic, "-o", spec,
              "-e", *args).ok()
    assert r.summary()["frames_read"] == len(chosen)
    assert_equal_oracle(r.records, e2e, args, chosen, tmp_path, "chosen.jsonl")


def test_properties_file(kafka, e2e, kuniq_bin, tmp_path):
    """-F FILE: the brokers and auto.offset.reset from the file are used (comments, blank lines
    and spaces around '=' allowed); -X wins over the file; a property librdkafka refuses, or a
    line that is not key=value, is a usage error naming the file and the line."""
    lines = stream(e2e, count=1000)
    topic = kafka.create_topic(2)
    kafka.produce(topic, lines)
    props = tmp_path / "client.properties"
    props.write_text("# kuniq's librdkafka settings\n\nbootstrap.servers = %s\n"
                     "auto.offset.reset=earliest\nclient.id=kuniq-flags-test\n" % kafka.address)
    r = kuniq(kuniq_bin, "-F", props, "-t", topic, "-G", "a-" + topic, "-e").ok()
    assert r.summary()["frames_read"] == len(lines)
    r = kuniq(kuniq_bin, "-F", props, "-t", topic, "-G", "b-" + topic, "-e", "-X",
              "auto.offset.reset=latest").ok()
    assert r.summary()["frames_read"] == 0

    bad = tmp_path / "bad.properties"
    bad.write_text("# fine so far\nclient.id=x\nfetch.wait.max.ms=soon\n")
    r = kuniq(kuniq_bin, "-F", bad, "-b", kafka.address, "-t", topic, "-G", "c-" + topic, "-e")
    assert r.rc == 2, r.err[-3000:]
    assert "%s:3:" % bad in r.err, r.err[-3000:]
    bad.write_text("client.id=x\nthis line has no equals sign\n")
    r = kuniq(kuniq_bin, "-F", bad, "-b", kafka.address, "-t", topic, "-e")
    assert r.rc == 2 and "%s:2:" % bad in r.err, r.err[-3000:]


def test_x_list_prints_properties(kuniq_bin):
    p = subprocess.run([kuniq_bin, "-X", "list"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    for name in ("bootstrap.servers", "auto.offset.reset", "isolation.level"):
        assert name in out


def test_head_ends_a_kafka_run_quietly(kafka, e2e, kuniq_bin, tmp_path):
    """Results on stdout piped to `head -1`, no -e: kuniq would run on forever waiting for more
    frames, but the reader went away: it stops at its next result, quietly (no error line, no
    "Broken pipe"), commits and exits 0. The shell pipeline ends within seconds. (Kafka mode
    notices at its next result: the stream has five minutes, so more than one comes.)"""
    lines = stream(e2e, count=30000)
    topic = kafka.create_topic(2)
    kafka.kcat_load(topic, write_lines(tmp_path / "all.jsonl", lines))
    err_path = tmp_path / "stderr"
    cmd = "%s -b %s -t %s -G h-%s -o beginning -w minute 2>%s | head -1; exit ${PIPESTATUS[0]}" % (
        kuniq_bin, kafka.address, topic, topic, err_path)
    t = time.monotonic()
    p = subprocess.run(["bash", "-c", cmd], stdout=subprocess.PIPE, timeout=60)
    took = time.monotonic() - t
    err = err_path.read_text()
    assert p.returncode == 0, err[-3000:]
    assert len(p.stdout.splitlines()) == 1 and json.loads(p.stdout)["window"] == "minute"
    assert took < 30, "took %.1f s" % took
    assert "Broken pipe" not in err and " ERROR " not in err, err[-3000:]
