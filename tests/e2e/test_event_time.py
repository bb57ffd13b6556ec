"""Issue 6, event time: delays, late frames (drop/update), bit flips, clock jumps, two years of
history in UTC and Europe/Zurich, early results, the idle timeout, and randomised differential
runs over the clock's corner cases. kuniq against the oracle (which implements the same rule),
plus assertions that each stream exercised what it is about."""

import calendar
import json
import queue
import subprocess
import threading
import time

import pytest

import oracle
from conftest import brute_force, read_lines, valid_frames


def ts_of(*t):
    return calendar.timegm(tuple(t) + (0,) * (6 - len(t)) + (0, 0, 0))


def key(r):
    return (r["window"], r["start"])


def counts(records, kind=None):
    return {key(r): (r["uniques"], r["frames"]) for r in records
            if r["final"] and (kind is None or r["window"] == kind)}


def out_of_order(path):
    ts = [t for _, t in valid_frames(path)]
    top, behind = ts[0], 0
    for t in ts:
        behind += t < top
        top = max(top, t)
    return behind


def test_delays_within_lateness_are_exact(e2e):
    path = e2e.gen(count=60000, rate=100, users=3000, frame_size=150, seed=41, delay=5,
                   delay_prob=0.1)
    assert out_of_order(path) > 3000
    k, o = e2e.compare(["-w", "minute,hour"], [path])
    assert k.summary["late"] == {"minute": 0, "hour": 0}
    assert all(r["late"] == 0 for r in k.records)
    assert counts(k.records) == brute_force(valid_frames(path), ["minute", "hour"])


def test_delays_beyond_lateness_drop(e2e):
    path = e2e.gen(count=60000, rate=100, users=3000, frame_size=150, seed=42, delay=30,
                   delay_prob=0.02)
    k, o = e2e.compare(["-w", "minute,hour", "--late", "drop"], [path])
    assert o.summary["late"]["minute"] > 50
    assert k.by_kind("minute")[-1]["late"] == o.summary["late"]["minute"]
    # Nothing counted twice, nothing invented: counted + late = valid
    assert (sum(r["frames"] for r in k.by_kind("minute")) + o.summary["late"]["minute"]
            == o.summary["frames_valid"])


def test_delays_beyond_lateness_update(e2e):
    path = e2e.gen(count=60000, rate=100, users=3000, frame_size=150, seed=42, delay=30,
                   delay_prob=0.02)
    k, o = e2e.compare(["-w", "minute,hour", "--late", "update"], [path])
    revised = [r for r in k.records if r["revision"] > 0]
    assert len(revised) > 5 and all(r["final"] for r in revised)
    # The last revision of every window is the exact count of all its frames.
    assert counts(k.records) == brute_force(valid_frames(path), ["minute", "hour"])
    # Revisions count up one by one per window.
    seen = {}
    for r in k.records:
        assert r["revision"] == seen.get(key(r), -1) + 1
        seen[key(r)] = r["revision"]


def test_late_update_keep_closed(e2e):
    """A small --keep-closed: late frames older than it are dropped, later ones revise."""
    path = e2e.gen(count=40000, rate=50, users=2000, frame_size=150, seed=43, delay=200,
                   delay_prob=0.05)
    k, o = e2e.compare(["-w", "minute", "--late", "update", "--keep-closed", "60"], [path])
    assert any(r["revision"] > 0 for r in k.records)
    truth = brute_force(valid_frames(path), ["minute"])
    assert counts(k.records) != truth          # some late frames were beyond keep-closed


def split_flipped(e2e, **opts):
    """(flipped stream, the clean stream without the flipped frames, number flipped)."""
    flipped = e2e.gen("flipped.jsonl", bitflip_prob=0.01, **opts)
    clean = e2e.gen("clean.jsonl", bitflip_prob=0, **opts)
    fl, cl = read_lines(flipped), read_lines(clean)
    assert len(fl) == len(cl)
    keep = [c for f, c in zip(fl, cl) if f == c]
    n = len(cl) - len(keep)
    return flipped, e2e.write("filtered.jsonl", b"\n".join(keep) + b"\n"), n


def test_bit_flips(e2e):
    flipped, filtered, n = split_flipped(e2e, count=60000, rate=100, users=3000, frame_size=150,
                                         seed=44)
    assert 450 < n < 750
    k, o = e2e.compare(["-w", "minute"], [flipped])
    assert o.rejected["ts_ahead"] > 100 and o.summary["late"]["minute"] > 100
    clean = e2e.kuniq(["-w", "minute"], [filtered])
    assert set(map(key, k.records)) <= set(map(key, clean.records)), "extra windows"
    assert counts(k.records) == counts(clean.records)
    assert (o.rejected["ts_ahead"] + o.rejected["ts_range"] + o.summary["late"]["minute"] == n)


def test_bit_flips_with_delays(e2e):
    flipped, filtered, n = split_flipped(e2e, count=40000, rate=100, users=3000, frame_size=150,
                                         seed=45, delay=5, delay_prob=0.1, string_ts_prob=0.2)
    k, o = e2e.compare(["-w", "minute,hour"], [flipped])
    clean = e2e.kuniq(["-w", "minute"], [filtered])
    assert counts(k.records, "minute") == counts(clean.records)


def test_clock_jump_by_a_day(e2e):
    path = e2e.gen(count=40000, rate=100, users=3000, frame_size=150, seed=46, jump_at=20000,
                   jump_by=86400, delay=3, delay_prob=0.05)
    k, o = e2e.compare(["-w", "minute,hour,day"], [path])
    days = k.by_kind("day")
    assert len(days) == 2
    assert o.rejected["ts_ahead"] == 0 and o.summary["late"] == {"minute": 0, "hour": 0,
                                                                  "day": 0}
    assert sum(r["frames"] for r in days) == o.summary["frames_valid"] == 40000
    assert counts(k.records) == brute_force(valid_frames(path), ["minute", "hour", "day"])


def test_clock_jump_backwards_in_time_is_late(e2e):
    """A jump to the past is not a jump: those frames are late (section 3)."""
    path = e2e.gen(count=20000, rate=100, users=1000, frame_size=150, seed=47, jump_at=10000,
                   jump_by=-86400)
    k, o = e2e.compare(["-w", "minute,hour"], [path])
    assert o.summary["late"]["minute"] == 10000


@pytest.mark.parametrize("tz", ["UTC", "Europe/Zurich"])
def test_two_years_of_history(e2e, tz):
    # one frame per 240 s (below --max-ahead), 2015-06-01 .. 2017-06-30: leap day, DST changes
    path = e2e.gen(count=270000, rate=1, step=240, users=5000, frame_size=100, seed=48,
                   start=ts_of(2015, 6, 1), delay=600, delay_prob=0.01)
    kinds = ["day", "week", "month", "year"]
    k, o = e2e.compare(["-w", ",".join(kinds), "--tz", tz], [path])
    months = k.by_kind("month")
    assert len(months) >= 25 and len(k.by_kind("year")) == 3
    lengths = {r["end"] - r["start"] for r in k.by_kind("day")}
    if tz == "UTC":
        assert lengths == {86400}
    else:
        assert lengths == {82800, 86400, 90000}     # 23 h and 25 h days
    late = o.summary["late"]
    assert late["day"] > 0            # the 600 s delays cross some midnights
    years = [r for r in k.by_kind("year")]
    assert sum(r["frames"] for r in years) + late["year"] == 270000


def test_early_results(e2e):
    path = e2e.gen(count=40000, rate=20, users=3000, frame_size=150, seed=49, delay=5,
                   delay_prob=0.1)
    k, o = e2e.compare(["-w", "minute,hour,day", "--early", "60"], [path])
    early = [r for r in k.records if not r["final"]]
    assert len([r for r in early if r["window"] == "hour"]) >= 20
    assert all(r["revision"] == 0 for r in early)
    final = {key(r): r for r in k.records if r["final"]}
    for r in early:
        f = final[key(r)]
        assert r["uniques"] <= f["uniques"] and r["frames"] <= f["frames"]
    # Without --early the finals are the same.
    plain = e2e.kuniq(["-w", "minute,hour,day"], [path])
    assert counts(plain.records) == counts(k.records)


def test_early_with_late_update(e2e):
    path = e2e.gen(count=30000, rate=50, users=2000, frame_size=150, seed=50, delay=90,
                   delay_prob=0.03)
    k, o = e2e.compare(["-w", "minute,hour", "--early", "120", "--late", "update"], [path])
    assert any(r["revision"] > 0 for r in k.records)
    assert any(not r["final"] for r in k.records)


def test_lateness_option(e2e):
    path = e2e.gen(count=30000, rate=100, users=2000, frame_size=150, seed=51, delay=5,
                   delay_prob=0.1)
    lates = []
    for lateness in (0, 2, 5, 10):
        k, o = e2e.compare(["--lateness", str(lateness)], [path])
        lates.append(o.summary["late"]["minute"])
    assert lates[0] > lates[1] > 0 and lates[2] == lates[3] == 0


def test_custom_clock_thresholds(e2e):
    path = e2e.gen(count=30000, rate=100, users=2000, frame_size=150, seed=52, delay=20,
                   delay_prob=0.05, bitflip_prob=0.02)
    e2e.compare(["--max-ahead", "60", "--jump-confirm", "4", "--max-pending", "8",
                 "-w", "minute,hour"], [path])


CHAOS = [
    dict(seed=61, bitflip_prob=0.3, args=["--jump-confirm", "2"]),
    dict(seed=62, bitflip_prob=0.1, args=["--jump-confirm", "3", "--max-pending", "4"]),
    dict(seed=63, bitflip_prob=0.05, delay=400, delay_prob=0.1,
         args=["--late", "update", "--keep-closed", "300", "--early", "30"]),
    dict(seed=64, jump_at=3000, jump_by=50000, delay=100, delay_prob=0.2,
         args=["--max-ahead", "30", "--jump-confirm", "5", "--lateness", "0"]),
    dict(seed=65, bitflip_prob=0.5, malformed_prob=0.1, string_ts_prob=0.5,
         args=["--jump-confirm", "1", "--late", "update", "-w", "minute,hour,day,week"]),
    dict(seed=66, rate=1, step=350, args=["-w", "minute,hour,day"]),   # every frame a jump
    dict(seed=67, bitflip_prob=0.02, args=["--max-pending", "1", "--jump-confirm", "16"]),
]


@pytest.mark.parametrize("case", CHAOS, ids=[str(c["seed"]) for c in CHAOS])
def test_randomised_clock_corner_cases(e2e, case):
    case = dict(case)
    args = case.pop("args")
    opts = dict(count=8000, rate=20, users=300, frame_size=120)
    opts.update(case)
    path = e2e.gen(**opts)
    if "-w" not in args:
        args = args + ["-w", "minute,hour"]
    e2e.compare(args, [path])


class Reader(threading.Thread):
    """Collects (arrival time, record) from a pipe."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.q = pipe, queue.Queue()

    def run(self):
        for line in self.pipe:
            if line.strip():
                self.q.put((time.monotonic(), json.loads(line)))
        self.q.put(None)


def records_until(reader, pred, deadline):
    got = []
    while not any(pred(r) for _, r in got):
        item = reader.q.get(timeout=max(deadline - time.monotonic(), 0.01))
        assert item is not None, "kuniq ended early"
        got.append(item)
    return got


def test_idle_timeout_during_startup(e2e, kuniq_bin):
    """Fewer than --jump-confirm frames, then a pause: the start-up buffer is released by the
    idle timeout and the minute is emitted (section 3, step 1; section 6)."""
    T0 = ts_of(2016, 7, 11, 13, 39)
    frames = [b'{"uid":"u%d","ts":%d}' % (i, T0 + 7 * i) for i in range(5)]
    p = subprocess.Popen([kuniq_bin, "-w", "minute,hour", "--idle-timeout", "2"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = Reader(p.stdout)
    reader.start()
    try:
        p.stdin.write(b"\n".join(frames) + b"\n")
        p.stdin.flush()
        stopped = time.monotonic()
        got = records_until(reader, lambda r: r["window"] == "hour", stopped + 30)
        arrived = max(t for t, _ in got)
        assert arrived - stopped <= 3.0, "emitted %.2f s after the pause" % (arrived - stopped)
        p.stdin.close()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0
    assert [(r["window"], r["uniques"], r["final"]) for _, r in got] == [
        ("minute", 5, True), ("hour", 5, True)]


def test_idle_timeout_emits_the_last_minute(e2e, kuniq_bin):
    T0 = ts_of(2016, 7, 11, 13, 39)
    frames = [b'{"uid":"u%d","ts":%d}' % (i % 50, T0 + i // 4) for i in range(4 * 150)]
    tail = [b'{"uid":"late%d","ts":%d}' % (i, T0 + 150) for i in range(3)]
    p = subprocess.Popen([kuniq_bin, "-w", "minute", "--idle-timeout", "2"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = Reader(p.stdout)
    reader.start()
    try:
        p.stdin.write(b"\n".join(frames) + b"\n")
        p.stdin.flush()
        stopped = time.monotonic()
        last_minute = T0 + 120                      # the stream stops at T0+149, mid-minute
        got, deadline = [], stopped + 30
        while not any(r["start"] == last_minute for _, r in got):
            item = reader.q.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert item is not None, "kuniq ended early"
            got.append(item)
        arrived = [t for t, r in got if r["start"] == last_minute][0]
        # idle-timeout + 1 s (docs/semantics.md section 6)
        assert arrived - stopped <= 3.0, "last minute emitted %.2f s after the pause" % (
            arrived - stopped)
        # frames after the idle period are late
        p.stdin.write(b"\n".join(tail) + b"\n")
        p.stdin.close()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    reader.join(timeout=10)
    while True:
        item = reader.q.get(timeout=10)
        if item is None:
            break
        got.append(item)
    stderr = p.stderr.read().decode()
    summary = json.loads(stderr.strip().splitlines()[-1])["summary"]
    assert p.returncode == 0
    # The oracle, replaying the idle period at the same point.
    pl = oracle.Pipeline(["-w", "minute"])
    for f in frames:
        pl.feed(f)
    pl.idle(int(time.time()))
    for f in tail:
        pl.feed(f)
    osum = pl.finish()
    fields = ("window", "start", "end", "uniques", "frames", "final", "revision", "late")
    assert [tuple(r[f] for f in fields) for _, r in got] == \
        [tuple(r[f] for f in fields) for r in pl.records]
    assert summary["late"] == osum["late"] == {"minute": 3}


def test_late_update_creates_a_window_that_had_no_frame(e2e):
    """A late frame for a minute that never had a frame creates it (revision 0); a late frame
    for an emitted minute revises it (revision 1); both at the next advance of G."""
    T0 = ts_of(2016, 7, 11, 13, 39)
    lines = [b'{"uid":"a%d","ts":%d}' % (i, T0 + i) for i in range(30)]
    lines += [b'{"uid":"b%d","ts":%d}' % (i, T0 + 200 + i) for i in range(30)]
    lines += [b'{"uid":"late","ts":%d}' % (T0 + 70), b'{"uid":"late2","ts":%d}' % (T0 + 10)]
    lines += [b'{"uid":"c%d","ts":%d}' % (i, T0 + 240 + i) for i in range(30)]
    path = e2e.write("created.jsonl", b"\n".join(lines) + b"\n")
    k, _ = e2e.compare(["--late", "update"], [path])
    got = [(r["start"] - T0, r["uniques"], r["revision"], r["late"]) for r in k.records]
    assert got == [(0, 30, 0, 0), (0, 31, 1, 2), (60, 1, 0, 2), (180, 30, 0, 2),
                   (240, 30, 0, 2)]
