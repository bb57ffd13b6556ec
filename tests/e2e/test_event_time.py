"""Event time (docs/semantics.md sections 3 to 7): the clock that holds frames ahead of it, late
frames, bit flips of any bit, jumps (genuine and false), replays, idle inputs, early results.

Every rule is checked against an independent truth: exact per-window counts of the clean stream
computed here by brute force (tests/e2e/truth.py, its own calendar; not oracle.py), or a case
small enough to compute by hand at its boundary. The comparison with the oracle (conftest's
e2e.compare) is kept at the end for broad coverage of the corner cases.

KUNIQ_SUT=oracle runs the truth tests against oracle.py instead of kuniq (the tests that compare
the two are then skipped)."""

import os
import random
import time

import pytest

from truth import (KINDS, SUT, Pipe, brute, check_clean_counted, finals, lines, read_frames,
                   run, ts_of, window, write)

ALL = ",".join(KINDS)
T0 = ts_of(2016, 7, 11, 13, 0)         # an hour boundary
L_DEFAULT, A_DEFAULT, J_DEFAULT = 5, 300, 8
R_DEFAULT = 2 * J_DEFAULT

needs_kuniq = pytest.mark.skipif(SUT == "oracle", reason="compares kuniq with the oracle")


def no_late(res, kinds):
    return res.summary["late"] == {k: 0 for k in kinds}


def assert_exact(res, frames, kinds, tz="UTC"):
    """Nothing lost: every frame counted in its window, no late frame, no rejection."""
    truth = brute(frames, kinds, tz)
    got = finals(res.records)
    missing = sorted(set(truth) - set(got))[:5]
    extra = sorted(set(got) - set(truth))[:5]
    wrong = sorted(k for k in set(truth) & set(got) if truth[k] != got[k])[:5]
    assert not (missing or extra or wrong), (
        "missing %s, extra %s, wrong %s" % (missing, extra,
                                            [(k, got[k], truth[k]) for k in wrong]))
    assert res.summary["frames_valid"] == len(frames)
    assert res.rejected["ts_ahead"] == 0
    assert no_late(res, kinds), res.summary["late"]


def assert_clean_counted(res, clean, corrupt, kinds, tz="UTC", distinct=True):
    problems = check_clean_counted(res, clean, corrupt, kinds, tz, distinct)
    assert not problems, "\n".join(problems[:10])


def dense(start, seconds, per_second, prefix="u", users=None):
    """An ordered stream: per_second frames in each second from start."""
    out = []
    for s in range(seconds):
        for j in range(per_second):
            n = len(out)
            out.append(("%s%d" % (prefix, n % users if users else n), start + s))
    return out


# ---------------------------------------------------------------------------------------------
# An in-order stream of any density loses nothing (section 3)
# ---------------------------------------------------------------------------------------------

DENSITIES = {
    "1000_per_s": dict(count=150000, rate=1000, users=20000),
    "1_per_min": dict(count=4000, rate=1, step=60, users=500),
    "1_per_hour": dict(count=9000, rate=1, step=3600, users=500),
    "1_per_day": dict(count=731, rate=1, step=86400, users=300, start=ts_of(2015, 6, 1, 9)),
}


@pytest.mark.parametrize("tz", ["UTC", "Europe/Zurich"])
@pytest.mark.parametrize("density", list(DENSITIES))
def test_ordered_stream_loses_nothing(e2e, density, tz):
    path = e2e.gen(frame_size=100, seed=40, **DENSITIES[density])
    frames = read_frames(path)
    res = run(e2e, ["-w", ALL, "--tz", tz], [path])
    assert_exact(res, frames, KINDS, tz)
    assert all(r["final"] and r["revision"] == 0 and r["late"] == 0 for r in res.records)
    for r in res.records:
        assert (r["start"], r["end"]) == window(r["window"], r["start"], tz)


def test_two_years_one_frame_per_day_calendar(e2e):
    """Two years at one frame a day in Europe/Zurich: every day, week, month and year window
    is there with its own frames, and the DST days are 23 h and 25 h long, exactly those."""
    start = ts_of(2015, 6, 1, 9)
    path = e2e.gen(frame_size=100, seed=41, count=731, rate=1, step=86400, users=300,
                   start=start)
    res = run(e2e, ["-w", "day,week,month,year", "--tz", "Europe/Zurich"], [path])
    days = [r for r in res.records if r["window"] == "day"]
    assert len(days) == 731 and all(r["frames"] == 1 for r in days)
    short = {"2016-03-27", "2017-03-26"}
    long_ = {"2015-10-25", "2016-10-30"}
    for r in days:
        d = r["start_iso"][:10]
        want = 23 if d in short else 25 if d in long_ else 24
        assert r["end"] - r["start"] == want * 3600, r
        assert r["start_iso"][10:] in ("T00:00:00+01:00", "T00:00:00+02:00"), r
    months = {r["start_iso"][:7]: r for r in res.records if r["window"] == "month"}
    assert len(months) == 24          # 2015-06 .. 2017-05
    feb = months["2016-02"]
    assert feb["frames"] == 29 and feb["end"] - feb["start"] == 29 * 86400
    assert months["2017-02"]["frames"] == 28
    years = {r["start_iso"][:4]: r["frames"] for r in res.records if r["window"] == "year"}
    assert years == {"2015": 214, "2016": 366, "2017": 151}
    weeks = [r for r in res.records if r["window"] == "week"]
    assert all(r["frames"] == 7 for r in weeks[1:-1])


def test_half_a_year_every_60_s_with_delays(e2e):
    """270,000 frames, one per 60 s over half a year (a DST change in Europe/Zurich), 1 %
    delayed by up to 1200 s (beyond L and beyond A): the delayed frames are the only ones that
    can be late. (A frame is confirmed by the K = 3 after it, more when a delayed frame
    contradicts it, so the watermark is at least 3 x 60 + 5 s behind the newest frame.)"""
    opts = dict(count=270000, rate=1, step=60, users=5000, frame_size=100, seed=48,
                start=ts_of(2015, 6, 1))
    got = read_frames(e2e.gen(delay=1200, delay_prob=0.01, **opts))
    clean = read_frames(e2e.gen("clean.jsonl", **opts))
    on_time = [f for f, c in zip(got, clean) if f == c]
    delayed = [f for f, c in zip(got, clean) if f != c]
    assert 2400 < len(delayed) < 3000
    kinds = ["minute", "hour", "day", "week", "month"]
    res = run(e2e, ["-w", ",".join(kinds), "--tz", "Europe/Zurich"], [e2e.path("stream.jsonl")])
    assert_clean_counted(res, on_time, delayed, kinds, "Europe/Zurich", distinct=False)
    assert res.summary["late"]["minute"] > 1000 and res.summary["late"]["hour"] > 0


@pytest.mark.parametrize("gap", [1, 60, 99, 101, 240, 301, 3600, 86400])
def test_ordered_stream_results_lag_boundedly(e2e, gap):
    """An in-order stream of any density: "results lag by up to J + R frames". After 2 (J + R + K)
    frames, a frame of the first frame's minute is late: that minute was final. Frames more than
    A / K apart never make a step (fewer than K supporters within A): the clock moves by jumps,
    and a stream of jumps settles once it is more than L past its first jump."""
    frames = [("u%d" % i, T0 + 30 + gap * i) for i in range(2 * (J_DEFAULT + R_DEFAULT + 3) + 10)]
    stream = frames[:-10] + [("late", T0 + 31)] + frames[-10:]
    res = run(e2e, ["-w", "minute"], [write(e2e, "lag.jsonl", stream)])
    assert res.summary["late"]["minute"] == 1
    assert finals(res.records) == brute(frames, ["minute"])


@pytest.mark.parametrize("burst_seconds", [1, 10])
def test_bursts_results_lag_boundedly(e2e, burst_seconds):
    """Bursts of 100 frames an hour apart, each spanning burst_seconds of event time: every
    burst is a genuine jump. Once several bursts came, a frame of the first burst's minute is
    late: a burst spanning at most L seconds does not settle by itself, the next jump does
    (jump_at is where the first unsettled jump landed)."""
    frames = [("b%d-%d" % (b, i), T0 + 30 + 3600 * b + i * burst_seconds // 100)
              for b in range(6) for i in range(100)]
    stream = frames[:-10] + [("late", T0 + 31)] + frames[-10:]
    res = run(e2e, ["-w", "minute,hour"], [write(e2e, "lag.jsonl", stream)])
    assert res.summary["late"] == {"minute": 1, "hour": 1}
    assert finals(res.records) == brute(frames, ["minute", "hour"])


@pytest.mark.parametrize("delayed", [1, 2, 3])
def test_delayed_last_frames_cost_no_clean_frame(e2e, delayed):
    """Hand-computed: one frame per second T0 .. T0+9; frames T0+7, T0+8, T0+9 are held
    (support 2, 1, 0). Frames delayed by 9 s (ts T0) come last, each against all three: at the
    end a held frame is rejected only if against >= support + K, so up to K - 1 = 2 of them
    cost nothing; the third rejects T0+9 (against 3 >= 0 + 3), not T0+8 (3 < 1 + 3)."""
    clean = [("u%d" % i, T0 + i) for i in range(10)]
    late = [("late%d" % i, T0) for i in range(delayed)]
    res = run(e2e, ["-w", "minute"], [write(e2e, "end.jsonl", clean + late)])
    lost = 1 if delayed == 3 else 0
    assert res.rejected["ts_ahead"] == lost
    assert finals(res.records)[("minute", T0)] == (10 + delayed - lost, 10 + delayed - lost)


def test_bursts_separated_by_long_pauses(e2e):
    """Bursts of 500 frames at 1000 frames/s, 2 h apart: every burst is a jump, confirmed after J
    frames; nothing lost."""
    path = e2e.gen(count=10000, rate=1000, pause_every=500, pause=7200, users=2000,
                   frame_size=100, seed=42)
    frames = read_frames(path)
    assert len({t // 7200 for _, t in frames}) == 20
    res = run(e2e, ["-w", "minute,hour,day"], [path])
    assert_exact(res, frames, ["minute", "hour", "day"])


@pytest.mark.parametrize("burst", [1, 3, 7, 8, 9, 25])
def test_short_bursts_separated_by_pauses(e2e, burst):
    """Bursts shorter and longer than J, a day apart: later bursts support the held frames of
    earlier ones, so nothing is lost."""
    frames = []
    for b in range(40):
        for i in range(burst):
            frames.append(("b%d-%d" % (b, i), T0 + b * 86400 + i // 3))
    path = write(e2e, "bursts.jsonl", frames)
    res = run(e2e, ["-w", "minute,day,week"], [path])
    assert_exact(res, frames, ["minute", "day", "week"])


# ---------------------------------------------------------------------------------------------
# A corrupt timestamp cannot move time (section 3): flips of any bit, both directions
# ---------------------------------------------------------------------------------------------

def flipped(ts, bit, direction):
    return ts + (1 << bit) if direction == "up" else ts - (1 << bit)


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("bit", range(32))
def test_one_flipped_frame(e2e, bit, direction):
    """One corrupt frame (ts +/- 2^bit) in a 1000 frames/s stream: every clean frame is counted
    in its window; the corrupt one is counted where it lands, late, or rejected."""
    clean = dense(T0 + 30, 20, 1000, users=3000)
    i = 10000
    corrupt = [("corrupt", flipped(clean[i][1], bit, direction))]
    stream = clean[:i] + corrupt + clean[i + 1:]
    clean = clean[:i] + clean[i + 1:]
    res = run(e2e, ["-w", ALL], [write(e2e, "flip.jsonl", stream)])
    assert_clean_counted(res, clean, corrupt, KINDS)
    ts = corrupt[0][1]
    rej = res.rejected
    if not (946684800 <= ts < 4102444800):
        assert rej["ts_range"] == 1
    elif direction == "up" and (1 << bit) > L_DEFAULT:
        assert rej["ts_ahead"] == 1           # refuted by the frames that follow it
    elif direction == "up":
        assert rej["ts_ahead"] == 0 and no_late(res, KINDS)   # within S: counted where it lands
        assert finals(res.records)[("minute", ts - ts % 60)][1] >= 1


def flip_stream(seed, n, rate, bit, direction, per_second=1000):
    """A 1000 frames/s stream where each frame is, with probability `rate`, replaced by a
    corrupt one (its ts +/- 2^bit, a uid of its own). Returns (stream, clean, corrupt)."""
    rnd = random.Random(seed)
    base = dense(T0 + 30, n // per_second, per_second, users=5000)
    stream, clean, corrupt = [], [], []
    for k, (uid, ts) in enumerate(base):
        if rnd.random() < rate:
            f = ("x%d" % k, flipped(ts, bit, direction))
            corrupt.append(f)
            stream.append(f)
        else:
            clean.append((uid, ts))
            stream.append((uid, ts))
    return stream, clean, corrupt


@pytest.mark.parametrize("bit", range(32))
def test_flips_at_rates(e2e, bit):
    """0.1 % and 1 % of the frames flipped (the same bit), up and down: every clean frame is
    counted in its window. (Forward flips of bits 3 to 8 at 1 % land close enough together to
    support each other; they are still never confirmed, because the clean frames contradicting
    them outnumber them.)"""
    failures = []
    for rate in (0.001, 0.01):
        for direction in ("up", "down"):
            stream, clean, corrupt = flip_stream(bit * 7 + 1, 20000, rate, bit, direction)
            assert corrupt
            res = run(e2e, ["-w", "minute,hour,day,year"],
                      [write(e2e, "flips.jsonl", stream)])
            problems = check_clean_counted(res, clean, corrupt, ["minute", "hour", "day", "year"],
                                           distinct_corrupt=True)
            if problems:
                failures.append("rate %s %s: %s" % (rate, direction, "; ".join(problems[:4])))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("seed", range(40))
def test_property_isolated_corrupt_frames(e2e, seed):
    """Random ordered clean streams (dense or sparse) with isolated corrupt frames (flips of any
    bit, either direction, at least J + R frames apart): every clean frame is counted in its
    window."""
    rnd = random.Random(1000 + seed)
    n = rnd.choice([300, 2000, 6000])
    gap = rnd.choice([0, 0, 1, 10, 59, 61, 299, 301, 3600, 86400])   # s between seconds
    per = rnd.choice([1, 2, 3, 10, 100]) if gap <= 1 else rnd.choice([1, 1, 2, 5])
    t = ts_of(2016, 1, 1) + rnd.randrange(0, 300 * 86400)
    clean = []
    while len(clean) < n:
        for _ in range(per):
            clean.append(("u%d" % rnd.randrange(n // 2 + 1), t))
        t += max(gap, 1) if gap else 1
    stream, corrupt = [], []
    nxt = rnd.randrange(0, 30)
    for k, f in enumerate(clean):
        if k == nxt:
            bit = rnd.randrange(32)
            sign = rnd.choice([1, -1])
            x = ("x%d" % k, f[1] + sign * (1 << bit) if rnd.random() < 0.5
                 else f[1] ^ (1 << bit))
            corrupt.append(x)
            stream.append(x)
            nxt = k + J_DEFAULT + R_DEFAULT + 1 + rnd.randrange(0, 200)
        stream.append(f)
    kinds = ["minute", "hour", "day", "month"]
    res = run(e2e, ["-w", ",".join(kinds)], [write(e2e, "prop.jsonl", stream)])
    assert_clean_counted(res, clean, corrupt, kinds)


def test_flips_with_delays_within_lateness(e2e):
    """A clean frame delayed by at most L is never late, whatever the corrupt frames around it
    (0.1 % of the frames flipped, any bit, 10 % delayed by up to 5 s)."""
    opts = dict(count=60000, rate=200, users=3000, frame_size=100, seed=45, delay=5,
                delay_prob=0.1, string_ts_prob=0.2)
    dirty = read_frames(e2e.gen("dirty.jsonl", bitflip_prob=0.001, **opts))
    clean_all = read_frames(e2e.gen("clean.jsonl", **opts))
    clean = [c for d, c in zip(dirty, clean_all) if d == c]
    corrupt = [d for d, c in zip(dirty, clean_all) if d != c]
    assert 30 < len(corrupt) < 100
    res = run(e2e, ["-w", "minute,hour"], [e2e.path("dirty.jsonl")])
    assert_clean_counted(res, clean, corrupt, ["minute", "hour"], distinct=False)


# ---------------------------------------------------------------------------------------------
# Jumps, false jumps, replays (section 3)
# ---------------------------------------------------------------------------------------------

def test_genuine_jump_forward_a_day(e2e):
    path = e2e.gen(count=40000, rate=100, users=3000, frame_size=100, seed=46, jump_at=20000,
                   jump_by=86400, delay=3, delay_prob=0.05)
    frames = read_frames(path)
    kinds = ["minute", "hour", "day"]
    res = run(e2e, ["-w", ",".join(kinds)], [path])
    assert_exact(res, frames, kinds)
    assert len([r for r in res.records if r["window"] == "day"]) == 2


@pytest.mark.parametrize("per_second,after,late", [(1, 23, 0), (1, 24, 1), (4, 27, 0),
                                                   (4, 28, 1)])
def test_genuine_jump_old_frames_during_settle(e2e, per_second, after, late):
    """Hand-computed: the (J+1)-th frame of the new position confirms the jump (settle = R = 16,
    jump_at = its ts) and counts down in its own step 5 (15); each later frame counts down; the
    frame that finds settle == 1 with clock > jump_at + L releases the watermark.
    - 1 frame/s: the clock is past jump_at + 5 long before, so the (J+R)-th = 24th new frame
      releases it.
    - 4 frames/s: settle is 1 from the 23rd frame on, but the clock (each second confirmed by its
      4th frame) passes jump_at + 5 only at the 28th (ts jump_at + 6): that one releases it.
    An old-position frame arriving just before the releasing frame is placed (step 4) before the
    release (step 5): counted; one arriving just after it: late."""
    old = dense(T0, 30, 4)                           # T0 .. T0+29, 4 frames/s
    new = [("n%d" % i, T0 + 86400 + i // per_second) for i in range(60)]
    straggler = ("old", T0 + 29)
    stream = old + new[:after] + [straggler] + new[after:]
    res = run(e2e, ["-w", "minute"], [write(e2e, "jump.jsonl", stream)])
    assert res.summary["late"]["minute"] == late
    got = finals(res.records)
    assert got[("minute", T0)] == (121 - late, 121 - late)
    assert sum(f for (_, s), (_, f) in got.items() if s >= T0 + 86400) == 60
    assert res.rejected["ts_ahead"] == 0


FALSE_AT = {"2099": ts_of(2099, 3, 4, 5, 6, 7), "year_ahead": ts_of(2017, 7, 11, 13, 50)}


@pytest.mark.parametrize("when", list(FALSE_AT))
@pytest.mark.parametrize("burst", [J_DEFAULT, J_DEFAULT + 1, 16, 23, 24, 30, 200])
def test_false_jump_one_time(e2e, burst, when):
    """A burst of garbage frames all stamped the same wrong time, then the stream carries on. Of
    J + 1 or more frames (the first needs J supporters after it) it is a jump, undone after J
    frames of the old position; the clock never moves more than L past jump_at, so it never
    settles however long the burst: nothing is lost, the burst is counted where it lands. Of J
    frames it is refuted by the stream: rejected ts_ahead."""
    ts = FALSE_AT[when]
    path = e2e.gen(count=30000, rate=1000, users=3000, frame_size=100, seed=47,
                   start=ts_of(2016, 7, 11, 13, 49, 50), garbage_at=10000,
                   garbage_count=burst, garbage_ts=ts)
    frames = read_frames(path)
    garbage = frames[10000:10000 + burst]
    assert all(t == ts for _, t in garbage)
    res = run(e2e, ["-w", ALL], [path])
    if burst > J_DEFAULT:
        assert_exact(res, frames, KINDS)
    else:
        clean = frames[:10000] + frames[10000 + burst:]
        assert res.rejected["ts_ahead"] == burst
        assert finals(res.records) == brute(clean, KINDS)
        assert no_late(res, KINDS)


def advancing_burst_case(e2e, burst, when):
    """A 1000 frames/s stream with, before its frame 10000, `burst` garbage frames 1 s apart
    from the wrong time. Returns (result, pre, garbage, post)."""
    clean = dense(ts_of(2016, 7, 11, 13, 49, 30), 30, 1000, users=3000)
    garbage = [("g%d" % i, FALSE_AT[when] + i) for i in range(burst)]
    pre, post = clean[:10000], clean[10000:]
    res = run(e2e, ["-w", ALL], [write(e2e, "burst.jsonl", pre + garbage + post)])
    return res, pre, garbage, post


@pytest.mark.parametrize("when", list(FALSE_AT))
def test_false_jump_advancing_shorter_than_j_plus_r(e2e, when):
    """J + R - 1 = 23 garbage frames whose times advance: the watermark never moved, no clean
    frame is lost (the garbage is counted where it lands, or rejected if still held)."""
    res, pre, garbage, post = advancing_burst_case(e2e, J_DEFAULT + R_DEFAULT - 1, when)
    assert_clean_counted(res, pre + post, garbage, KINDS)
    assert no_late(res, KINDS)


@pytest.mark.parametrize("when", list(FALSE_AT))
@pytest.mark.parametrize("burst", [J_DEFAULT + R_DEFAULT, 40])
def test_false_jump_advancing_closes_open_windows(e2e, burst, when):
    """J + R or more garbage frames whose times advance by more than L (a stream in its own
    right) settle: the windows open when the burst came are closed, and frames of them arriving
    later are late; every later window is counted normally."""
    res, pre, garbage, post = advancing_burst_case(e2e, burst, when)
    closed = set(brute(pre, KINDS))
    truth = brute(pre, KINDS)
    for key, v in brute(post, KINDS).items():
        if key not in closed:
            truth[key] = v
    for k in KINDS:
        n = sum(1 for f in post if (k, window(k, f[1])[0]) in closed)
        assert res.summary["late"][k] == n, (k, res.summary["late"])
    assert res.summary["late"]["minute"] > 0 and res.summary["late"]["year"] == len(post)
    got = finals(res.records)
    garbage_windows = brute(garbage, KINDS)
    for key, v in got.items():
        if key in truth:
            assert v == truth[key], key
        else:
            assert v[1] <= garbage_windows[key][1], key
    assert set(truth) <= set(got)
    assert res.rejected["ts_ahead"] <= len(garbage)


def test_replay_of_an_older_day_after_a_newer_one(e2e):
    """`kuniq day2.jsonl day1.jsonl`: after J frames of day 1 the clock moves back; none of day
    1's windows was emitted, so nothing is late and every window is exact."""
    common = dict(count=18000, rate=5, users=2000, frame_size=100)
    day2 = e2e.gen("day2.jsonl", seed=51, start=T0 + 86400, **common)
    day1 = e2e.gen("day1.jsonl", seed=52, start=T0, **common)
    frames = read_frames(day2) + read_frames(day1)
    res = run(e2e, ["-w", ALL], [day2, day1])
    assert_exact(res, frames, KINDS)


def test_replay_overlapping_emitted_windows(e2e):
    """A replay that goes back over windows already emitted: their frames are late (the windows
    stay closed after the rewind), every other window is counted. (The newer input has 4 frames
    in its last second, so none of its frames is still held when the replay starts.)"""
    newer = dense(T0 + 1800, 3630, 4, prefix="n")          # [T0+30 min, T0+1 h 30 min 30 s)
    older = dense(T0, 3600, 2, prefix="o")                 # [T0, T0+1 h)
    kinds = ["minute", "hour", "day"]
    res = run(e2e, ["-w", ",".join(kinds)],
              [write(e2e, "newer.jsonl", newer), write(e2e, "older.jsonl", older)])
    # Emitted while reading `newer`: its minutes up to T0+5400 and the hour [T0, T0+3600).
    closed = {("minute", s) for s in range(T0 + 1800, T0 + 5400, 60)} | {("hour", T0)}
    late_minute = [f for f in older if f[1] >= T0 + 1800]
    assert res.summary["late"] == {"minute": len(late_minute), "hour": len(older), "day": 0}
    truth = brute(newer, kinds)
    for key, v in brute(older, kinds).items():
        if key in closed:
            continue
        if key in truth:
            truth[key] = (truth[key][0] + v[0], truth[key][1] + v[1])
        else:
            truth[key] = v
    assert finals(res.records) == truth


def test_replay_counts_held_tail_of_newer_input(e2e):
    """The newer input ends with one frame in a new second (held, support 0); the older input's
    frames are all against it, but the rewind (J frames far behind) adds every held frame first:
    the tail of the period left is counted where it belongs."""
    newer = dense(T0 + 3600, 10, 3, prefix="n") + [("last", T0 + 3610)]
    older = dense(T0, 30, 3, prefix="o")
    res = run(e2e, ["-w", "minute"],
              [write(e2e, "newer.jsonl", newer), write(e2e, "older.jsonl", older)])
    assert res.rejected["ts_ahead"] == 0
    assert finals(res.records) == brute(newer + older, ["minute"])


def test_clock_moves_back_after_a_backward_jump(e2e):
    """The generator's clock jumps a day back: after J frames the clock follows it; those windows
    were never emitted, so nothing is late."""
    path = e2e.gen(count=20000, rate=100, users=1000, frame_size=100, seed=53, jump_at=10000,
                   jump_by=-86400)
    frames = read_frames(path)
    res = run(e2e, ["-w", "minute,hour,day"], [path])
    assert_exact(res, frames, ["minute", "hour", "day"])


@pytest.mark.parametrize("delta", [1 << 20, 32, 6])
def test_first_frame_flipped_forward(e2e, delta):
    """Nothing earlier to compare with: a first frame ahead by more than S is contradicted by the
    frames that follow and rejected ts_ahead."""
    clean = dense(T0 + 30, 10, 100)
    stream = [("corrupt", clean[0][1] + delta)] + clean
    res = run(e2e, ["-w", ALL], [write(e2e, "first.jsonl", stream)])
    assert res.rejected["ts_ahead"] == 1
    assert finals(res.records) == brute(clean, KINDS)
    assert no_late(res, KINDS)


@pytest.mark.parametrize("delta", [86400, 3600, 64, 4])
def test_first_frame_flipped_backward(e2e, delta):
    """A backward flip on the very first frame is counted where it lands: one spurious window
    holding that frame (section 3, worst cases)."""
    clean = dense(T0 + 30, 10, 100)
    corrupt = ("corrupt", clean[0][1] - delta)
    res = run(e2e, ["-w", "minute"], [write(e2e, "first.jsonl", [corrupt] + clean)])
    assert finals(res.records) == brute([corrupt] + clean, ["minute"])
    assert res.rejected["ts_ahead"] == 0 and no_late(res, ["minute"])
    spurious = window("minute", corrupt[1])[0]
    if spurious != T0:
        assert finals(res.records)[("minute", spurious)] == (1, 1)


@pytest.mark.parametrize("pending", [J_DEFAULT, 4096])
def test_max_pending_overflow(e2e, pending):
    """Hand-computed: with P = J = 8, nine frames far ahead (each contradicting the ones before)
    fill H and the ninth pushes the first out (ts_ahead); the others are refuted by the frames
    that follow. P = J is still enough to confirm the start (the first frame has its J supporters
    when the (J+1)-th arrives, before it is placed) and a genuine jump a day later."""
    clean = dense(T0, 20, 10)
    ahead = [("x%d" % i, T0 + 5000 - 100 * i) for i in range(9)]
    after = [("n%d" % i, T0 + 86400 + i // 10) for i in range(300)]
    stream = clean[:100] + ahead + clean[100:] + after
    res = run(e2e, ["--max-pending", str(pending), "-w", "minute,day"],
              [write(e2e, "pending.jsonl", stream)])
    assert res.rejected["ts_ahead"] == 9
    assert finals(res.records) == brute(clean + after, ["minute", "day"])
    assert no_late(res, ["minute", "day"])


# ---------------------------------------------------------------------------------------------
# Idle inputs: historical pipes and live streams (section 6)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head", [3, 12000])
def test_stalled_pipe_of_history(e2e, kuniq_bin, head):
    """A 2016 stream through a pipe that stalls for longer than --idle-timeout 1, then carries
    on: the input is historical, its clock keeps still, nothing is late."""
    path = e2e.gen(count=20000, rate=100, users=2000, frame_size=100, seed=54, delay=4,
                   delay_prob=0.1)
    frames = read_frames(path)
    data = open(path, "rb").read().split(b"\n")
    kinds = ["minute", "hour"]
    pipe = Pipe(kuniq_bin, ["-w", ",".join(kinds)], 1)
    pipe.send(b"\n".join(data[:head]) + b"\n")
    time.sleep(3)                       # the stall itself (not a synchronisation)
    if pipe.p is None:
        for t in range(3):
            pipe.pl.idle(int(time.time()) + t)
    pipe.send(b"\n".join(data[head:]))
    res = pipe.close()
    assert_exact(res, frames, kinds)


def live_frames(ts, n, prefix):
    return [("%s%d" % (prefix, i), ts + i // 20) for i in range(n)]


def test_live_stream_that_pauses(e2e, kuniq_bin):
    """Frames stamped 70 s behind the wall clock (live: within A of it) through a pipe that
    pauses: once idle (T = 1 s), the clock follows wall time and the minute of the last frame
    (over for more than L) is emitted about T + 1 s after the pause. Frames of that minute sent
    afterwards are late."""
    T = 1
    pipe = Pipe(kuniq_bin, ["-w", "minute"], T)
    start = int(time.time()) - 70
    sent = live_frames(start, 40, "a")                    # 2 s of event time
    pipe.send(lines(sent))
    paused = time.time()
    last = window("minute", sent[-1][1])[0]
    at, rec = pipe.wait_for(lambda r: r["window"] == "minute" and r["start"] == last, 60)
    assert at - paused <= T + 1 + 5, "emitted %.1f s after the pause" % (at - paused)
    assert rec["final"] and rec["late"] == 0
    late = [("late%d" % i, sent[-1][1]) for i in range(3)]
    pipe.send(lines(late))
    res = pipe.close()
    assert res.summary["late"]["minute"] == 3
    assert finals(res.records) == brute(sent, ["minute"])


def test_live_stream_at_wall_time(e2e, kuniq_bin):
    """Frames stamped with the current wall time, then a pause: the minute holding the last
    frame is final once the watermark (wall time - L) passes its end: at about
    max(pause + T, end + L) + 1 s, not before end + L."""
    T, L = 1, L_DEFAULT
    pipe = Pipe(kuniq_bin, ["-w", "minute"], T)
    sent = []
    for i in range(20):
        sent.append(("w%d" % i, int(time.time())))
        pipe.send(lines(sent[-1:]))
        time.sleep(0.05)
    paused = time.time()
    m_start, m_end = window("minute", sent[-1][1])
    at, rec = pipe.wait_for(lambda r: r["start"] == m_start, 60 + L + 30)
    assert at >= m_end + L - 0.5, "emitted %.1f s before its end + L" % (m_end + L - at)
    assert at <= max(paused + T, m_end + L) + 1 + 5
    res = pipe.close()
    assert finals(res.records) == brute(sent, ["minute"])
    assert no_late(res, ["minute"])


def test_live_stream_pausing_before_the_clock_is_set(e2e, kuniq_bin):
    """Five live frames 7 s apart (fewer than J: the clock is still unset, all held), then a
    pause: the held frames are all within A of wall time, so the input is live and follows wall
    time; the minutes are emitted about T + 1 s after the pause."""
    T = 1
    pipe = Pipe(kuniq_bin, ["-w", "minute,hour"], T)
    base = int(time.time()) - 130
    sent = [("s%d" % i, base + 7 * i) for i in range(5)]
    pipe.send(lines(sent))
    paused = time.time()
    last = window("minute", sent[-1][1])[0]
    at, _ = pipe.wait_for(lambda r: r["window"] == "minute" and r["start"] == last, 60)
    assert at - paused <= T + 1 + 5
    res = pipe.close()
    assert finals(res.records) == brute(sent, ["minute", "hour"])
    assert res.rejected["ts_ahead"] == 0


# ---------------------------------------------------------------------------------------------
# Late frames (section 5): drop, update, keep-closed
# ---------------------------------------------------------------------------------------------

def test_delays_within_lateness_are_exact(e2e):
    path = e2e.gen(count=60000, rate=100, users=3000, frame_size=100, seed=41, delay=5,
                   delay_prob=0.1)
    frames = read_frames(path)
    top, behind = frames[0][1], 0
    for _, t in frames:
        behind += t < top
        top = max(top, t)
    assert behind > 3000
    res = run(e2e, ["-w", "minute,hour"], [path])
    assert_exact(res, frames, ["minute", "hour"])


def safe_frames(frames, L):
    """Frames that cannot be late with lateness L: ts >= (largest ts before them) - L (the
    clock never exceeds the largest ts seen)."""
    top, out = None, []
    for f in frames:
        if top is None or f[1] >= top - L:
            out.append(f)
        top = f[1] if top is None else max(top, f[1])
    return out


@pytest.mark.parametrize("lateness", [0, 2, 5, 10])
def test_lateness_option(e2e, lateness):
    """Delays of 1..5 s: no frame delayed by at most L is late; with L >= 5 nothing is."""
    path = e2e.gen(count=30000, rate=100, users=2000, frame_size=100, seed=55, delay=5,
                   delay_prob=0.1)
    frames = read_frames(path)
    res = run(e2e, ["--lateness", str(lateness), "-w", "minute,hour"], [path])
    if lateness >= 5:
        assert_exact(res, frames, ["minute", "hour"])
        return
    safe = safe_frames(frames, lateness)
    unsafe = len(frames) - len(safe)
    got = finals(res.records)
    for key, (u, n) in brute(safe, ["minute", "hour"]).items():
        assert got[key][1] >= n, key
    for k in ("minute", "hour"):
        late = res.summary["late"][k]
        assert late <= unsafe
        assert sum(f for (kk, _), (_, f) in got.items() if kk == k) + late == len(frames)
    assert res.summary["late"]["minute"] > 0


def test_delays_beyond_lateness_drop(e2e):
    path = e2e.gen(count=60000, rate=100, users=3000, frame_size=100, seed=42, delay=30,
                   delay_prob=0.02)
    frames = read_frames(path)
    res = run(e2e, ["-w", "minute,hour", "--late", "drop"], [path])
    late = res.summary["late"]
    assert late["minute"] > 50
    safe = safe_frames(frames, L_DEFAULT)
    assert late["minute"] <= len(frames) - len(safe)
    minutes = [r for r in res.records if r["window"] == "minute"]
    assert minutes[-1]["late"] == late["minute"]
    assert all(a["late"] <= b["late"] for a, b in zip(minutes, minutes[1:]))
    assert sum(r["frames"] for r in minutes) + late["minute"] == len(frames)


def test_delays_beyond_lateness_update(e2e):
    """--late update with delays of 30 s (well within --keep-closed): the last revision of every
    window is the exact count of all its frames; revisions count up one by one."""
    path = e2e.gen(count=60000, rate=100, users=3000, frame_size=100, seed=42, delay=30,
                   delay_prob=0.02)
    frames = read_frames(path)
    res = run(e2e, ["-w", "minute,hour", "--late", "update"], [path])
    revised = [r for r in res.records if r["revision"] > 0]
    assert len(revised) > 5 and all(r["final"] for r in revised)
    assert finals(res.records) == brute(frames, ["minute", "hour"])
    seen = {}
    for r in res.records:
        key = (r["window"], r["start"])
        assert r["revision"] == seen.get(key, -1) + 1
        seen[key] = r["revision"]


def keep_closed_case(e2e, t_end, late_ts):
    """4 frames per second from T0 to T0 + t_end (each second's first frame is confirmed by the
    other three, so the clock is then T0 + t_end and G = T0 + t_end - 5), one late frame at
    late_ts, then 70 s more; --late update --keep-closed 60."""
    frames = dense(T0, t_end + 1, 4, prefix="a")
    frames.append(("late", late_ts))
    frames += dense(T0 + t_end + 1, 70, 4, prefix="b")
    return run(e2e, ["-w", "minute", "--late", "update", "--keep-closed", "60"],
               [write(e2e, "keep.jsonl", frames)])


@pytest.mark.parametrize("t_end,counted", [(124, True), (125, False)])
def test_keep_closed_boundary_emitted_window(e2e, t_end, counted):
    """Minute [T0, T0+60) was emitted; a late frame for it arrives when G = T0 + t_end - 5. It
    is counted iff the window is still kept: end > G - keep_closed, i.e. t_end < 125 (end ==
    G - K + 1 at 124; end == G - K at 125)."""
    res = keep_closed_case(e2e, t_end, T0 + 10)
    assert res.summary["late"]["minute"] == 1
    first = [r for r in res.records if r["start"] == T0]
    assert first[0]["frames"] == 240 and first[0]["revision"] == 0
    if counted:
        assert [(r["revision"], r["frames"], r["uniques"], r["late"]) for r in first] == [
            (0, 240, 240, 0), (1, 241, 241, 1)]
        # revised at the next advance, after that advance's newly final minute [T0+60, T0+120)
        i = res.records.index(first[1])
        assert res.records[i - 1]["start"] == T0 + 60 and res.records[i - 1]["late"] == 1
    else:
        assert len(first) == 1


@pytest.mark.parametrize("t_end,created", [(64, True), (65, False)])
def test_keep_closed_boundary_window_never_emitted(e2e, t_end, created):
    """Minute [T0-60, T0) never had a frame; a late frame for it is counted (the window created,
    revision 0) iff its end T0 > G - keep_closed = T0 + t_end - 65."""
    res = keep_closed_case(e2e, t_end, T0 - 1)
    assert res.summary["late"]["minute"] == 1
    made = [r for r in res.records if r["start"] == T0 - 60]
    if created:
        assert [(r["revision"], r["frames"], r["final"], r["late"]) for r in made] == [
            (0, 1, True, 1)]
    else:
        assert made == []


def test_late_update_creates_and_revises(e2e):
    """A late frame for a minute that never had a frame creates it (revision 0); a late frame
    for an emitted minute revises it (revision 1); both at the next advance of G."""
    lines_ = [("a%d" % i, T0 + i) for i in range(30)]
    lines_ += [("b%d" % i, T0 + 200 + i) for i in range(30)]
    lines_ += [("late", T0 + 70), ("late2", T0 + 10)]
    lines_ += [("c%d" % i, T0 + 240 + i) for i in range(30)]
    res = run(e2e, ["--late", "update"], [write(e2e, "created.jsonl", lines_)])
    got = [(r["start"] - T0, r["uniques"], r["revision"], r["late"]) for r in res.records]
    assert got == [(0, 30, 0, 0), (0, 31, 1, 2), (60, 1, 0, 2), (180, 30, 0, 2),
                   (240, 30, 0, 2)]


def test_window_created_late_then_counted_after_a_rewind(e2e):
    """Hand-computed, J = 1 (K = 1, R = 2), --late update, t = 1468244000. After 2 frames at
    t+454 the clock is t+454 (G = t+449). A frame at t+390 is late for minute [t+340, t+400),
    which never had a frame: the window is created and changed, not emitted yet. One frame far
    behind (t-65082) rewinds the clock there (J = 1; G = t-65087). A frame at t+390 is now ahead
    of the clock: held; at the end of input it is added (support 0 >= against 0), on time (end >
    G, never emitted): counted in the same window. Every open window is then emitted: minute
    [t+340, t+400) once, revision 0, with both frames."""
    t = 1468244000
    stream = [("a", t + 454), ("b", t + 454), ("c", t + 390), ("d", t - 65082), ("e", t + 390)]
    res = run(e2e, ["--jump-confirm", "1", "--late", "update", "-w", "minute"],
              [write(e2e, "created.jsonl", stream)])
    got = [(r["start"] - t, r["frames"], r["uniques"], r["revision"], r["late"])
           for r in res.records]
    assert got == [(-65120, 1, 1, 0, 1), (340, 2, 2, 0, 1), (400, 2, 2, 0, 1)]


# ---------------------------------------------------------------------------------------------
# Early results (section 7)
# ---------------------------------------------------------------------------------------------

def test_early_emissions_hand_computed(e2e):
    """One frame per second from T0 (uids cycle over 7). A frame is confirmed by the K = 3 frames
    after it, so when frame T0+j arrives the clock becomes T0+j-3 and G = T0+j-8; the first
    frame waits for J = 8: at frame T0+8 the clock goes T0 then T0+5 (G: undefined, T0-5, T0),
    which crosses T0: early #1 shows 6 frames. Early #n (n >= 2) comes when G reaches
    T0 + 60(n-1), at clock T0 + 60(n-1) + 5: the minute holds 6 frames, the hour 60(n-1) + 6."""
    frames = [("u%d" % (i % 7), T0 + i) for i in range(600)]
    res = run(e2e, ["-w", "minute,hour", "--early", "60"], [write(e2e, "early.jsonl", frames)])
    early = [r for r in res.records if not r["final"]]
    pairs = [early[i:i + 2] for i in range(0, len(early), 2)]
    assert all([a["window"], b["window"]] == ["minute", "hour"] for a, b in pairs)
    got = [(a["start"] - T0, a["frames"], a["uniques"], b["frames"]) for a, b in pairs]
    assert got[0] == (0, 6, 6, 6)
    for n in range(2, 11):
        assert got[n - 1] == (60 * (n - 1), 6, 6, 60 * (n - 1) + 6), n
    assert len(got) == 10           # the last: G crosses T0+540 (not T0+600: G ends at 591)
    # within one advance: the newly final minute first, then the early ones
    i = res.records.index(pairs[2][0])
    assert res.records[i - 1]["final"] and res.records[i - 1]["start"] == T0 + 60
    assert all(r["revision"] == 0 for r in early)


def test_early_results_do_not_change_finals(e2e):
    path = e2e.gen(count=40000, rate=20, users=3000, frame_size=100, seed=49, delay=5,
                   delay_prob=0.1)
    frames = read_frames(path)
    kinds = ["minute", "hour", "day"]
    res = run(e2e, ["-w", ",".join(kinds), "--early", "60"], [path])
    early = [r for r in res.records if not r["final"]]
    assert len([r for r in early if r["window"] == "hour"]) >= 20
    final = finals(res.records)
    for r in early:
        u, f = final[(r["window"], r["start"])]
        assert r["uniques"] <= u and r["frames"] <= f
    assert final == brute(frames, kinds)


# ---------------------------------------------------------------------------------------------
# kuniq against the oracle: broad coverage of the corner cases
# ---------------------------------------------------------------------------------------------

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
    dict(seed=67, bitflip_prob=0.02, args=["--max-pending", "16", "--jump-confirm", "16"]),
    dict(seed=68, garbage_at=2000, garbage_count=40, garbage_ts=ts_of(2030, 1, 1),
         bitflip_prob=0.01, args=["--late", "update", "-w", "minute,hour,year"]),
    dict(seed=69, pause_every=30, pause=5000, bitflip_prob=0.02, bitflip_bits="0-12",
         args=["-w", "minute,hour,day"]),
    dict(seed=70, jump_at=4000, jump_by=-7200, bitflip_prob=0.05, bitflip_dir="down",
         args=["--jump-confirm", "4", "--early", "120"]),
    dict(seed=71, garbage_at=100, garbage_count=12, garbage_ts=ts_of(2016, 7, 12),
         args=["--jump-confirm", "4", "--late", "update", "--keep-closed", "60"]),
    dict(seed=72, rate=3, bitflip_prob=0.03, bitflip_bits="3-8", bitflip_dir="up",
         delay=10, delay_prob=0.3, args=["--lateness", "2", "--max-ahead", "100"]),
]


@needs_kuniq
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


@needs_kuniq
def test_oracle_agrees_on_flips_and_delays(e2e):
    path = e2e.gen(count=40000, rate=100, users=3000, frame_size=100, seed=56, delay=30,
                   delay_prob=0.05, bitflip_prob=0.01, string_ts_prob=0.2)
    for args in (["-w", "minute,hour"], ["-w", "minute,hour", "--late", "update", "--early",
                                         "60", "--keep-closed", "120"]):
        e2e.compare(args, [path])


@needs_kuniq
def test_summary_fields_agree(e2e):
    """Every summary field kuniq prints except timing: the counts, bytes (raw bytes read, line
    ends included: the file size), windows_emitted, emit_errors, out_of_memory."""
    path = e2e.gen(count=5000, rate=50, users=300, frame_size=100, seed=57, delay=20,
                   delay_prob=0.05, bitflip_prob=0.01, malformed_prob=0.05, crlf=True)
    k, o = e2e.compare(["-w", "minute,hour", "--early", "60"], [path])
    assert o.summary["bytes"] == os.path.getsize(path)
    for f in ("bytes", "windows_emitted", "emit_errors", "out_of_memory"):
        assert k.summary[f] == o.summary[f], (f, k.summary[f], o.summary[f])
    assert o.summary["windows_emitted"] == len(o.records)
