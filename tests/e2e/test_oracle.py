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
    if not os.path.isdir(SUITE):
        pytest.fail("JSONTestSuite not found at " + SUITE)
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


def run_engine(frames, **kw):
    kinds = kw.pop("kinds", ["minute"])
    recs = []
    eng = oracle.Engine(kinds, oracle.Calendar(kw.pop("tz", "UTC")), emit=recs.append, **kw)
    for ts, uid in frames:
        eng.frame(ts, uid)
    eng.finish()
    return eng, recs


T0 = ts_of(2016, 7, 11, 13, 39, 0)


def test_engine_watermark_and_late_drop():
    f = [(T0 + i, b"u%d" % i) for i in range(0, 70)] + [(T0 + 10, b"late")]
    f += [(T0 + 130, b"x")]
    eng, recs = run_engine(f, jump_confirm=4)
    # minute T0 closes when clock - 5 >= T0 + 60: at ts T0+65; the late frame comes after.
    assert [(r["start"], r["frames"], r["late"]) for r in recs] == [
        (T0, 60, 0), (T0 + 60, 10, 1), (T0 + 120, 1, 1)]
    assert eng.late["minute"] == 1


def test_engine_late_update_revisions():
    f = [(T0 + i, b"u%d" % i) for i in range(0, 70)] + [(T0 + 10, b"new"), (T0 + 10, b"u1")]
    f += [(T0 + 190, b"x")]
    eng, recs = run_engine(f, jump_confirm=4, late_update=True)
    got = [(r["start"], r["uniques"], r["frames"], r["revision"], r["late"]) for r in recs]
    # T0 is final at ts T0+65; the two late frames reopen it; it is revised when G next
    # advances (after that advance's newly final window T0+60).
    assert got == [(T0, 60, 60, 0, 0), (T0 + 60, 10, 10, 0, 2), (T0, 61, 62, 1, 2),
                   (T0 + 180, 1, 1, 0, 2)]


def test_engine_suspects_pending_and_jump():
    f = [(T0 + i, b"a") for i in range(20)]
    f += [(T0 + 100000, b"flip")]                   # suspect, never confirmed
    f += [(T0 + 20 + i, b"b") for i in range(5)]
    f += [(T0 + 86400 + i, b"c%d" % i) for i in range(8)]   # a confirmed jump (C = 4)
    eng, recs = run_engine(f, jump_confirm=4)
    assert eng.ts_ahead == 1
    assert sum(r["frames"] for r in recs) == 20 + 5 + 8
    assert eng.late["minute"] == 0


def test_engine_pending_overflow():
    f = [(T0 + i, b"a") for i in range(20)]
    f += [(T0 + 5000 + 1000 * i, b"f") for i in range(3)]  # suspects, no run of 4 at P = 2
    f += [(T0 + 21, b"b")]
    eng, _ = run_engine(f, jump_confirm=4, max_pending=2)
    assert eng.ts_ahead == 3


def test_engine_startup_median_ignores_a_flip():
    f = [(T0 + 10**6, b"flip")] + [(T0 + i, b"u") for i in range(20)]
    eng, recs = run_engine(f)
    assert eng.ts_ahead == 1
    assert [r["start"] for r in recs] == [T0]


def test_engine_early_results():
    f = [(T0 + i, b"u%d" % (i % 7)) for i in range(0, 600)]
    _, recs = run_engine(f, kinds=["minute", "hour"], early=60)
    early = [r for r in recs if not r["final"]]
    final = {(r["window"], r["start"]): r for r in recs if r["final"]}
    assert {r["window"] for r in early} == {"minute", "hour"}
    # G crosses a multiple of 60 nine times (G = T0+2 .. T0+594); each time, the open minute
    # and the open hour are shown.
    assert len(early) == 2 * 9
    for r in early:
        f = final[(r["window"], r["start"])]
        assert r["frames"] <= f["frames"] and r["uniques"] <= f["uniques"]


def test_oracle_equals_brute_force_on_generated_stream(e2e):
    path = e2e.gen(count=30000, rate=20, users=3000, frame_size=200, seed=21,
                   malformed_prob=0.02, string_ts_prob=0.2)
    kinds = ["minute", "hour", "day"]
    o = e2e.oracle(["-w", ",".join(kinds)], [path])
    truth = brute_force(valid_frames(path), kinds)
    got = {(r["window"], r["start"]): (r["uniques"], r["frames"]) for r in o.records}
    assert got == truth
    assert o.summary["frames_valid"] == len(valid_frames(path))
