"""The event clock in Kafka mode, against a real broker and an independent truth (brute-force
counts of the frames loaded, per partition and window): a corrupt timestamp in every partition,
a topic of history read to its end that stays quiet (no jump to wall time, nothing late after),
and -e (the end of the topic is the end of input)."""

import collections
import json
import time

from kafka_broker import Kuniq, kafka  # noqa: F401

T0 = 1468244340  # 2016-07-11T13:39:00Z, a minute boundary


def frame(uid, ts, pad=120):
    return json.dumps({"uid": uid, "ts": ts, "pad": "x" * pad}, separators=(",", ":"))


def history(partition, minutes, per_minute, seed, start=T0):
    """An ordered stream of one partition: per_minute frames in each minute, 200 users."""
    out = []
    for m in range(minutes):
        for i in range(per_minute):
            ts = start + 60 * m + (60 * i) // per_minute
            out.append((ts, "u%d" % ((i * 7 + seed * 13 + m) % 200)))
    return out


def truth(frames):
    """{minute start: (uniques, frames)} of (ts, uid) pairs, by brute force."""
    users = collections.defaultdict(set)
    count = collections.Counter()
    for ts, uid in frames:
        users[ts - ts % 60].add(uid)
        count[ts - ts % 60] += 1
    return {m: (len(users[m]), count[m]) for m in count}


def load(kafka, topic, partition, lines, tmp_path, name):  # noqa: F811
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    kafka.kcat_load(topic, str(path), partition=partition)


def records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_flip_in_every_partition_with_exit_at_end(kafka, kuniq_bin, tmp_path):  # noqa: F811
    """Four partitions of history, one frame per partition flipped forward (+2^9, 2^20, 2^24, 2^28):
    every window equals the brute force of the clean frames, the four are rejected, none late,
    and -e ends the run with every window emitted."""
    topic = kafka.create_topic(4)
    clean = []
    for p, bit in enumerate([9, 20, 24, 28]):
        frames = history(p, minutes=6, per_minute=300, seed=p)
        clean += frames
        lines = [frame(uid, ts) for ts, uid in frames]
        ts, uid = frames[700]
        lines.insert(700, frame("corrupt%d" % p, ts + (1 << bit)))
        load(kafka, topic, p, lines, tmp_path, "p%d.jsonl" % p)
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--from-beginning", "-e", "--group",
                                 "g-" + topic, "-w", "minute"], tmp_path)
    assert k.wait(120) == 0, k.stderr()[-3000:]
    got = {r["start"]: (r["uniques"], r["frames"]) for r in records(k.stdout())}
    assert got == truth(clean)
    s = k.summary()
    assert s["frames_read"] == len(clean) + 4
    assert s["rejected"]["ts_ahead"] == 4
    assert s["late"]["minute"] == 0


def test_quiet_history_keeps_its_place(kafka, kuniq_bin, tmp_path):  # noqa: F811
    """A topic of 2016 history read to its end, then quiet for several idle timeouts: the clock
    does not jump to today (no window past the data is emitted, nothing is late), and when the
    producer carries on where it stopped, every frame counts (brute force)."""
    topic = kafka.create_topic(2)
    first = {p: history(p, minutes=5, per_minute=200, seed=p) for p in range(2)}
    for p in range(2):
        load(kafka, topic, p, [frame(u, t) for t, u in first[p]], tmp_path, "a%d.jsonl" % p)
    k = Kuniq(kuniq_bin, kafka, ["--topic", topic, "--from-beginning", "--group", "g-" + topic,
                                 "--idle-timeout", "1", "-w", "minute"], tmp_path)
    # the first minutes come out while the data is read (observable progress)
    k.wait_for("the first minute's record", lambda: len(records(k.stdout())) >= 1, 60)
    k.wait_for("four minutes emitted", lambda: len(records(k.stdout())) >= 4, 60)
    # the scenario: the producer pauses for 4 idle timeouts
    time.sleep(4)
    k.assert_alive()
    assert len(records(k.stdout())) == 4, "a quiet history topic must not move to wall time"
    later = {p: history(p, minutes=5, per_minute=200, seed=p + 5, start=T0 + 300)
             for p in range(2)}
    for p in range(2):
        load(kafka, topic, p, [frame(u, t) for t, u in later[p]], tmp_path, "b%d.jsonl" % p)
    k.wait_for("eight minutes emitted", lambda: len(records(k.stdout())) >= 8, 60)
    assert k.stop() == 0
    got = {r["start"]: (r["uniques"], r["frames"]) for r in records(k.stdout())}
    want = truth(first[0] + first[1] + later[0] + later[1])
    assert len(got) >= 8
    for m, v in got.items():
        assert v == want[m], (m, v, want[m])
    assert k.summary()["late"]["minute"] == 0
