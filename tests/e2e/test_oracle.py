"""Sanity of the oracle itself (no kuniq needed): its frame rules against hand-made cases and
JSONTestSuite, its windows against brute force, its clock against hand-computed scenarios."""

import calendar
import os

import pytest

import oracle
from conftest import ROOT, brute_force, valid_frames

SUITE = os.path.join(ROOT, "..", "shared", "conformance", "JSONTestSuite", "test_parsing")


def C(frame, **kw):
    return oracle.classify(frame, kw.get("max_frame", 65536), kw.get("uid", "uid"),
                           kw.get("ts", "ts"))


@pytest.mark.parametrize("frame,reason", [
    (b"", "empty"),
    (b" \t ", "empty"),
    (b" " * 100000, "empty"),                      # empty precedes too_long
    (b"{}", "no_uid"),
    (b"[]", "not_object"),
    (b'"x"', "not_object"),
    (b"1", "not_object"),
    (b"x", "not_json"),
    (b"\0", "not_json"),
    (b'{"uid":"a","ts":NaN}', "not_json"),
    (b'{"uid":"a","ts":1,"x":-Infinity}', "not_json"),
    (b'{"uid":"a","ts":1468244384} x', "not_json"),
    (b'{"uid":"a","ts":1468244384}}', "not_json"),
    (b'{"uid":"\xff","ts":1468244384}', "not_json"),
    (b'{"uid":"\xed\xa0\x80","ts":1468244384}', "not_json"),     # UTF-8 surrogate
    (b'{"uid":"a\tb","ts":1468244384}', "not_json"),
    (b'{"uid":"a\\x","ts":1468244384}', "not_json"),
    (b'{"uid":"a","ts":01}', "not_json"),
    (b"[" * 1024 + b"]" * 1024, "not_object"),
    (b"[" * 1025 + b"]" * 1025, "too_deep"),
    (b'{"a":' + b"[" * 1023 + b"]" * 1023 + b',"uid":"u","ts":1468244384}', None),
    (b'{"a":' + b"[" * 1024 + b"]" * 1024 + b',"uid":"u","ts":1468244384}', "too_deep"),
    (b"[" * 60000, "too_deep"),
    (b"[" * 100000, "too_long"),
    (b"[1 " + b"[" * 2000, "not_json"),
    (b'["abc ' + b"[" * 2000, "not_json"),
    (b'{"uid":1,"ts":1468244384}', "bad_uid"),
    (b'{"uid":null,"ts":1468244384}', "bad_uid"),
    (b'{"ts":1468244384,"x":{"uid":"a"}}', "no_uid"),
    (b'{"uid":"a","uid":"b","ts":1468244384}', "dup_uid"),
    (b'{"uid":"a","u\\u0069d":"b","ts":1468244384}', "dup_uid"),
    (b'{"uid":"a","uid":1,"ts":1468244384}', "bad_uid"),
    (b'{"uid":"a","x":{"ts":1468244384}}', "no_ts"),
    (b'{"uid":"a","ts":true}', "bad_ts"),
    (b'{"uid":"a","ts":"12a"}', "bad_ts"),
    (b'{"uid":"a","ts":""}', "bad_ts"),
    (b'{"uid":"a","ts":"-5"}', "bad_ts"),
    (b'{"uid":"a","ts":"1468244384 "}', "bad_ts"),
    (b'{"uid":"a","ts":"146824438\\u0034"}', "bad_ts"),
    (b'{"uid":"a","ts":"1234567890123456789"}', "bad_ts"),
    (b'{"uid":"a","ts":9223372036854775808}', "bad_ts"),
    (b'{"uid":"a","ts":1e19}', "bad_ts"),
    (b'{"uid":"a","ts":1e999999999}', "bad_ts"),
    (b'{"uid":"a","ts":9223372036854775807}', "ts_range"),
    (b'{"uid":"a","ts":-9223372036854775808}', "ts_range"),
    (b'{"uid":"a","ts":1468244384,"ts":1468244384}', "dup_ts"),
    (b'{"uid":"a","ts":"1","ts":true}', "bad_ts"),
    (b'{"uid":"a","ts":946684799}', "ts_range"),
    (b'{"uid":"a","ts":946684799.999}', "ts_range"),
    (b'{"uid":"a","ts":4102444800}', "ts_range"),
    (b'{"uid":"a","ts":-0.5}', "ts_range"),
    (b'{"uid":1,"ts":true}', "bad_uid"),            # uid errors before ts errors
])
def test_classify_reasons(frame, reason):
    assert C(frame)[0] == reason


@pytest.mark.parametrize("frame,uid,ts", [
    (b'{"uid":"a","ts":1468244384}', b"a", 1468244384),
    (b' \t{ "ts" : "1468244384" , "uid" : "x\\u0062" } ', b"x\\u0062", 1468244384),
    (b'{"u\\u0069d":"\xd0\xbf","t\\u0073":1.468244384e9}', b"\xd0\xbf", 1468244384),
    (b'{"uid":"a","ts":1468244384.999}', b"a", 1468244384),
    (b'{"uid":"a","ts":14682443849E-1}', b"a", 1468244384),
    (b'{"uid":"a","ts":"0001468244384"}', b"a", 1468244384),
    (b'{"uid":"","ts":1468244384,"x":[{"uid":"b","ts":1}],"x":1}', b"", 1468244384),
    (b'{"uid":"\\ud800","ts":1468244384}', b"\\ud800", 1468244384),
    (b'{"uid":"a","ts":1468244384,"n":' + b"1" * 5000 + b"}", b"a", 1468244384),
])
def test_classify_valid(frame, uid, ts):
    assert C(frame) == (None, uid, ts)


def test_classify_limits_and_fields():
    f = b'{"uid":"a","ts":1468244384}'
    assert C(f, max_frame=len(f))[0] is None
    assert C(f, max_frame=len(f) - 1)[0] == "too_long"
    g = b'{"user":"a","time":1468244384,"uid":1}'
    assert C(g, uid="user", ts="time") == (None, b"a", 1468244384)
    assert C(g)[0] == "bad_uid"


def test_json_test_suite():
    if not os.path.isdir(os.path.join(ROOT, "..", "shared")):
        pytest.skip("../shared is absent (a clone of the repository alone): no JSONTestSuite")
    if not os.path.isdir(SUITE):
        pytest.fail("../shared exists but holds no JSONTestSuite at " + SUITE)
    n = 0
    for name in sorted(os.listdir(SUITE)):
        data = open(os.path.join(SUITE, name), "rb").read()
        r = C(data, max_frame=1 << 30)[0]
        if name.startswith("y_"):
            assert r not in ("not_json", "too_deep", "empty"), name
            n += 1
        elif name.startswith("n_"):
            assert r in ("not_json", "too_deep", "empty"), (name, r)
            n += 1
    assert n > 280


def ts_of(y, mo, d, h=0, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def test_calendar_utc_and_zurich():
    utc = oracle.Calendar("UTC")
    t = ts_of(2016, 2, 29, 13, 39, 5)
    assert utc.window("minute", t) == (ts_of(2016, 2, 29, 13, 39), ts_of(2016, 2, 29, 13, 40))
    assert utc.window("day", t) == (ts_of(2016, 2, 29), ts_of(2016, 3, 1))
    assert utc.window("week", t) == (ts_of(2016, 2, 29), ts_of(2016, 3, 7))   # a Monday
    assert utc.window("month", t) == (ts_of(2016, 2, 1), ts_of(2016, 3, 1))
    assert utc.window("year", t) == (ts_of(2016, 1, 1), ts_of(2017, 1, 1))
    assert utc.iso(ts_of(2016, 7, 11, 13, 39)) == "2016-07-11T13:39:00Z"
    zh = oracle.Calendar("Europe/Zurich")
    # 2016-03-27: 02:00 CET -> 03:00 CEST, a 23 h day; 2016-10-30: a 25 h day
    s, e = zh.window("day", ts_of(2016, 3, 27, 12))
    assert (s, e - s) == (ts_of(2016, 3, 26, 23), 23 * 3600)
    s, e = zh.window("day", ts_of(2016, 10, 30, 12))
    assert (s, e - s) == (ts_of(2016, 10, 29, 22), 25 * 3600)
    assert zh.window("year", ts_of(2016, 12, 31, 23, 30)) == (ts_of(2016, 12, 31, 23),
                                                               ts_of(2017, 12, 31, 23))
    assert zh.iso(ts_of(2016, 7, 11, 13, 39)) == "2016-07-11T15:39:00+02:00"


def engine(**kw):
    kinds = kw.pop("kinds", ["minute"])
    recs = []
    eng = oracle.Engine(kinds, oracle.Calendar(kw.pop("tz", "UTC")), emit=recs.append, **kw)
    return eng, recs


def run_engine(frames, **kw):
    eng, recs = engine(**kw)
    for ts, uid in frames:
        eng.frame(ts, uid)
    eng.finish()
    return eng, recs


T0 = ts_of(2016, 7, 11, 13, 39, 0)


def per_second(start, n, prefix=b"u"):
    """One frame per second from start (each confirmed by the K = 3 after it)."""
    return [(start + i, prefix + b"%d" % i) for i in range(n)]


def test_engine_defaults():
    eng, _ = engine()
    assert (eng.L, eng.A, eng.J, eng.P, eng.K, eng.R, eng.S) == (5, 300, 8, 4096, 3, 16, 5)
    eng, _ = engine(jump_confirm=2, lateness=7)
    assert (eng.K, eng.R, eng.S) == (2, 4, 7)


def test_engine_start_and_steps():
    """Clock unset: the first frame needs J = 8 supporters; at the 9th frame the clock is set to
    T0, then every frame with K = 3 near supporters is a step: T0+5. From then on the clock is
    3 frames behind the newest."""
    eng, _ = engine()
    f = per_second(T0, 12)
    for ts, uid in f[:8]:
        eng.frame(ts, uid)
    assert eng.clock is None and eng.G is None and len(eng.held) == 8
    eng.frame(*f[8])
    assert (eng.clock, eng.wclock, eng.G) == (T0 + 5, T0 + 5, T0)
    assert [h.ts - T0 for h in eng.held] == [6, 7, 8]
    for ts, uid in f[9:]:
        eng.frame(ts, uid)
    assert eng.clock == T0 + 8


def test_engine_watermark_and_late_drop():
    f = per_second(T0, 70) + [(T0 + 10, b"late"), (T0 + 130, b"x")]
    eng, recs = run_engine(f)
    # minute T0 is final when G = clock - 5 >= T0 + 60, at clock T0+65 (frame T0+68 arrives);
    # the late frame comes after. T0+67..69 are held at the end, each with support >= against.
    assert [(r["start"], r["frames"], r["late"]) for r in recs] == [
        (T0, 60, 0), (T0 + 60, 10, 1), (T0 + 120, 1, 1)]
    assert eng.late["minute"] == 1 and eng.ts_ahead == 0


def test_engine_late_update_revisions():
    """Two late frames for the emitted minute T0 (one new user); they are against the held
    frames T0+67..69 (against 2), so T0+67 needs near >= 3 + 2: at frame T0+72 it is confirmed,
    G advances to T0+62, and the revision is emitted."""
    f = per_second(T0, 70) + [(T0 + 10, b"new"), (T0 + 10, b"u1")]
    f += per_second(T0 + 70, 130, b"v")
    eng, recs = engine(late_update=True)
    for ts, uid in f[:74]:
        eng.frame(ts, uid)
    assert len(recs) == 1                       # T0+71 has come: not yet
    eng.frame(*f[74])                           # T0+72
    assert eng.G == T0 + 62 and len(recs) == 2
    for ts, uid in f[75:]:
        eng.frame(ts, uid)
    eng.finish()
    got = [(r["start"], r["uniques"], r["frames"], r["revision"], r["late"]) for r in recs]
    assert got == [(T0, 60, 60, 0, 0), (T0, 61, 62, 1, 2), (T0 + 60, 60, 60, 0, 2),
                   (T0 + 120, 60, 60, 0, 2), (T0 + 180, 20, 20, 0, 2)]


def test_engine_refutation_and_jump():
    """A frame 10^5 s ahead is contradicted by every frame after it: refuted (ts_ahead) by the
    16th = R. A day later, J + 1 frames confirm a jump; nothing is lost."""
    eng, recs = engine()
    f = per_second(T0, 20)
    for ts, uid in f:
        eng.frame(ts, uid)
    eng.frame(T0 + 100000, b"flip")
    after = per_second(T0 + 20, 25, b"b")
    for i, (ts, uid) in enumerate(after):
        eng.frame(ts, uid)
        assert eng.ts_ahead == (1 if i >= 15 else 0), i
    jump = per_second(T0 + 86400, 30, b"c")
    for ts, uid in jump[:8]:
        eng.frame(ts, uid)
    assert eng.clock == T0 + 41                  # 8 supporters: not yet
    eng.frame(*jump[8])
    assert (eng.clock, eng.jump_at, eng.wclock) == (T0 + 86405, T0 + 86400, T0 + 41)
    assert eng.settle == 15                      # R, counted down once by this frame
    for ts, uid in jump[9:]:
        eng.frame(ts, uid)
    eng.finish()
    assert eng.ts_ahead == 1 and eng.late["minute"] == 0
    assert sum(r["frames"] for r in recs) == 20 + 25 + 30


def test_engine_pending_overflow():
    """P = 8: T0+17..19 are held (waiting for K), five frames far ahead fill H, the sixth pushes
    the oldest held frame out, whatever it is: here the clean T0+17 (ts_ahead)."""
    eng, _ = engine(max_pending=8)
    for ts, uid in per_second(T0, 20):
        eng.frame(ts, uid)
    for i in range(6):
        eng.frame(T0 + 5000 - 100 * i, b"x%d" % i)
        assert eng.ts_ahead == (1 if i == 5 else 0)
    assert [h.ts - T0 for h in eng.held] == [18, 19, 5000, 4900, 4800, 4700, 4600, 4500]


def test_engine_step_counts_only_near_supporters():
    """A frame 200 s ahead (a step) supported only by frames more than A beyond it is never
    confirmed by them; a jump counts every supporter."""
    eng, _ = engine()
    for ts, uid in per_second(T0, 20):
        eng.frame(ts, uid)
    eng.frame(T0 + 219, b"step")
    for i in range(3):
        eng.frame(T0 + 600 + i, b"far%d" % i)
    h = [h for h in eng.held if h.uid == b"step"][0]
    # the step frame itself was the third near supporter of T0+17: clock T0+17
    assert (h.support, h.near, h.against) == (3, 0, 0) and eng.clock == T0 + 17


def test_engine_rewind_and_closed_windows():
    """A newer hour, then a replay from 5 min before it: J frames far behind rewind the clock to
    their lower median (G decreases); minutes already emitted stay closed (late although their
    end > G), the others are counted."""
    eng, recs = engine()
    newer = [(T0 + 3600 + i // 4, b"n%d" % i) for i in range(400)]     # 100 s, 4 frames/s
    for ts, uid in newer:
        eng.frame(ts, uid)
    g_before = eng.G
    older = per_second(T0 + 3300, 400, b"o")                           # T0+3300 .. T0+3699
    for ts, uid in older[:7]:
        eng.frame(ts, uid)
    assert len(eng.behind) == 7 and eng.G == g_before
    eng.frame(*older[7])
    assert eng.clock == T0 + 3303 and eng.G == T0 + 3298 and eng.behind == []
    for ts, uid in older[8:]:
        eng.frame(ts, uid)
    eng.finish()
    assert eng.late["minute"] == 60                  # T0+3600 .. T0+3659, minute emitted
    final = {r["start"]: r["frames"] for r in recs}
    assert final[T0 + 3600] == 240 and final[T0 + 3660] == 160 + 40
    assert all(final[T0 + 3300 + 60 * m] == 60 for m in range(5))


def test_engine_idle_historical_and_live():
    now = T0 + 10 ** 8                                # wall time, far after the frames
    eng, recs = engine()
    for ts, uid in per_second(T0, 30):
        eng.frame(ts, uid)
    state = (eng.clock, eng.G, len(recs))
    eng.idle_tick(now)                                # historical: nothing changes
    assert (eng.clock, eng.G, len(recs)) == state
    # clock unset, held frames, historical: the clock goes to the smallest held ts
    eng, recs = engine()
    for ts, uid in [(T0 + 20, b"a"), (T0 + 7, b"b"), (T0 + 30, b"c")]:
        eng.frame(ts, uid)
    eng.idle_tick(now)
    assert (eng.clock, eng.G) == (T0 + 7, T0 + 2) and [h.ts for h in eng.held] == [T0 + 20,
                                                                                     T0 + 30]
    # live (clock within A of the wall): follows wall time, its open minutes are emitted
    eng, recs = engine()
    for ts, uid in per_second(now - 70, 20):
        eng.frame(ts, uid)
    eng.idle_tick(now)
    assert (eng.clock, eng.wclock, eng.G) == (now, now, now - 5)
    assert sum(r["frames"] for r in recs) == 20 and eng.held == []
    # live with the clock unset: every held frame within A of the wall
    eng, recs = engine()
    for ts, uid in [(now - 200, b"a"), (now - 100, b"b"), (now + 100, b"c")]:
        eng.frame(ts, uid)
    eng.idle_tick(now)
    assert eng.clock == now and [h.ts for h in eng.held] == [now + 100]
    eng, recs = engine()
    eng.frame(now - 400, b"a")
    eng.idle_tick(now)                                # not within A: historical
    assert eng.clock == now - 400


def test_engine_early_results():
    f = [(T0 + i, b"u%d" % (i % 7)) for i in range(0, 600)]
    _, recs = run_engine(f, kinds=["minute", "hour"], early=60)
    early = [r for r in recs if not r["final"]]
    final = {(r["window"], r["start"]): r for r in recs if r["final"]}
    assert {r["window"] for r in early} == {"minute", "hour"}
    # G crosses a multiple of 60 ten times (G = T0 .. T0+591); each time, the open minute and
    # the open hour are shown.
    assert len(early) == 2 * 10
    for r in early:
        f = final[(r["window"], r["start"])]
        assert r["frames"] <= f["frames"] and r["uniques"] <= f["uniques"]


def test_pipeline_summary_bytes_and_fields(tmp_path):
    """bytes: the raw bytes read, line ends included (a file's size), CRLF and a missing final
    newline too; every field kuniq prints is there."""
    data = (b'{"uid":"a","ts":1468244384}\n{"uid":"b","ts":1468244385}\r\n'
            b'{"uid":"c","ts":1468244386}')
    path = tmp_path / "three.jsonl"
    path.write_bytes(data)
    _, summary = oracle.run([str(path)])
    assert summary["bytes"] == len(data) == 84
    assert set(summary) == {"frames_read", "frames_valid", "rejected", "late", "bytes",
                            "elapsed_s", "frames_per_s", "mb_per_s", "windows_emitted",
                            "emit_errors", "out_of_memory"}
    assert (summary["windows_emitted"], summary["emit_errors"], summary["out_of_memory"]) == (
        1, 0, 0)


def test_oracle_equals_brute_force_on_generated_stream(e2e):
    path = e2e.gen(count=30000, rate=20, users=3000, frame_size=200, seed=21,
                   malformed_prob=0.02, string_ts_prob=0.2)
    kinds = ["minute", "hour", "day"]
    o = e2e.oracle(["-w", ",".join(kinds)], [path])
    truth = brute_force(valid_frames(path), kinds)
    got = {(r["window"], r["start"]): (r["uniques"], r["frames"]) for r in o.records}
    assert got == truth
    assert o.summary["frames_valid"] == len(valid_frames(path))
