"""Frames and bad input: kuniq against the oracle on generated and hand-made streams.
Every test also asserts that the stream exercised what it is about."""

import json
import os
import subprocess

import pytest

import oracle
from conftest import ROOT, brute_force, read_lines, sketch_rse, sketch_tolerance, valid_frames

ALL = "minute,hour,day,week,month,year"
SUITE = os.path.join(ROOT, "..", "shared", "conformance", "JSONTestSuite", "test_parsing")


def test_clean_stream_all_windows(e2e):
    # Default ~2 KB frames; 600 s of event time.
    path = e2e.gen(count=12000, rate=20, users=3000, seed=1)
    k, o = e2e.compare(["-w", ALL], [path])
    assert len(k.by_kind("minute")) >= 10
    assert {r["window"] for r in k.records} == set(ALL.split(","))
    assert k.summary["frames_valid"] == 12000
    assert all(r["exact"] and r["final"] for r in k.records)


def test_clean_stream_matches_brute_force(e2e):
    """Not only equal to the oracle: equal to plain counting of every frame per window."""
    path = e2e.gen(count=20000, rate=10, users=500, frame_size=150, seed=2)
    k, _ = e2e.compare(["-w", "minute,hour"], [path])
    truth = brute_force(valid_frames(path), ["minute", "hour"])
    assert {(r["window"], r["start"]): (r["uniques"], r["frames"]) for r in k.records} == truth


def test_crlf(e2e):
    path = e2e.gen(count=20000, rate=50, users=2000, frame_size=200, crlf=True, seed=3,
                   malformed_prob=0.01)
    assert open(path, "rb").read().count(b"\r\n") == 20000
    k, _ = e2e.compare(["-w", "minute,hour"], [path])
    assert k.summary["frames_valid"] > 19000
    assert k.rejected["empty"] > 0      # whitespace-only lines ending in \r\n


def test_string_and_fractional_ts(e2e):
    path = e2e.gen(count=20000, rate=50, users=2000, frame_size=200, string_ts_prob=0.4,
                   float_ts_prob=0.3, seed=4)
    data = open(path, "rb").read()
    assert data.count(b'"ts":"') > 5000 and b'e9' in data
    k, _ = e2e.compare(["-w", "minute,hour"], [path])
    assert k.summary["frames_valid"] == 20000


def test_malformed_mixed_in(e2e):
    path = e2e.gen(count=60000, rate=100, users=3000, frame_size=200, malformed_prob=0.08,
                   seed=5)
    k, o = e2e.compare(["-w", "minute,hour"], [path])
    seen = {r for r, n in o.rejected.items() if n}
    assert seen >= set(oracle.REASONS) - {"ts_ahead"}, seen
    raw = open(path, "rb").read()
    assert b"\0" in raw and b"\n\n" in raw and b"[" * 100000 in raw


def test_malformed_with_large_max_frame(e2e):
    """With --max-frame above 100000 the 100000 '[' lines are too_deep, not too_long."""
    path = e2e.gen(count=20000, rate=100, users=1000, frame_size=200, malformed_prob=0.2,
                   seed=6)
    k, o = e2e.compare(["--max-frame", "200000"], [path])
    deep = sum(1 for l in read_lines(path) if l.startswith(b"[" * 100000))
    assert deep > 0 and o.rejected["too_long"] == 0
    assert o.rejected["too_deep"] >= deep


def frame(uid, ts, extra=b""):
    return b'{"uid":"%s","ts":%d%s}' % (uid, ts, extra)


T0 = 1468244340   # 2016-07-11T13:39:00Z


def test_50mb_line_and_neighbours(e2e):
    lines = [frame(b"u%d" % i, T0 + i // 10) for i in range(300)]
    big = b'{"uid":"big","ts":%d,"pad":"%s"}' % (T0 + 10, b"x" * (50 << 20))
    data = b"\n".join(lines[:150] + [big] + lines[150:]) + b"\n"
    path = e2e.write("big.jsonl", data)
    k, o = e2e.compare([], [path])
    assert o.rejected["too_long"] == 1
    assert sum(r["frames"] for r in k.records) == 300
    # A limit above the line's size accepts it.
    k, o = e2e.compare(["--max-frame", str(60 << 20), "-w", "hour"], [path])
    assert o.rejected["too_long"] == 0 and k.records[0]["uniques"] == 301


def test_nesting_nul_empty_and_garbage(e2e):
    good = [frame(b"g%d" % i, T0 + i) for i in range(40)]
    bad = [
        b"[" * 100000,                                   # too_long at the default limit
        b"[" * 2000,                                      # too_deep
        b"[" * 1025 + b"]" * 1025,                        # too_deep
        b"[" * 1024 + b"]" * 1024,                        # not_object
        b'{"uid":"a","ts":%d,"d":' % T0 + b"[" * 1023 + b"]" * 1023 + b"}",   # depth 1024: ok
        b'{"uid":"a","ts":%d,"d":' % T0 + b"[" * 1024 + b"]" * 1024 + b"}",   # too_deep
        b"\0\0\0",
        b'{"uid":"a\0b","ts":%d}' % T0,
        b"",
        b"   ",
        b"\t",
        b"\xff\xfe{}",
        b'{"uid":"\xc3","ts":%d}' % T0,
        b"\r",
    ]
    data = b""
    for i, b in enumerate(bad):
        data += good[2 * i] + b"\n" + b + b"\n" + good[2 * i + 1] + b"\n"
    path = e2e.write("mixed.jsonl", data)
    k, o = e2e.compare([], [path])
    # hand-computed from the comments above (NUL bytes, invalid UTF-8: not_json; "\r": empty)
    want = dict.fromkeys(oracle.REASONS, 0) | {
        "too_long": 1, "too_deep": 3, "not_object": 1, "empty": 4, "not_json": 4}
    assert k.rejected == want
    assert sum(x["frames"] for x in k.records) == 2 * len(bad) + 1
    # above 100000 bytes the 100000 '[' line is read: too deep, not too long
    k, o = e2e.compare(["--max-frame", "200000"], [path])
    assert k.rejected == want | {"too_long": 0, "too_deep": 4}


def test_nested_uid_ts_ignored(e2e):
    lines = []
    for i in range(200):
        lines.append(b'{"a":{"uid":"nested%d","ts":1},"uid":"u%d","b":[{"ts":"x","uid":5}],'
                     b'"ts":%d,"c":{"d":{"uid":"deep"}}}' % (i, i % 7, T0 + i))
    lines.append(b'{"a":{"uid":"x","ts":%d}}' % T0)              # no_uid
    lines.append(b'{"uid":"y","a":{"ts":%d}}' % T0)              # no_ts
    path = e2e.write("nested.jsonl", b"\n".join(lines) + b"\n")
    k, o = e2e.compare(["-w", "minute,hour"], [path])
    hour = k.by_kind("hour")
    assert len(hour) == 1 and hour[0]["uniques"] == 7 and hour[0]["frames"] == 200
    assert o.rejected["no_uid"] == 1 and o.rejected["no_ts"] == 1


def test_uid_identity_is_raw_bytes(e2e):
    """"ab", "a\\u0062" and "\\u0061b" are three users; escaped keys are the key."""
    lines = [
        b'{"uid":"ab","ts":%d}' % T0,
        b'{"uid":"a\\u0062","ts":%d}' % T0,
        b'{"uid":"\\u0061b","ts":%d}' % T0,
        b'{"u\\u0069d":"ab","ts":%d}' % T0,
        b'{"uid":"ab","t\\u0073":"%d"}' % T0,
        b' { "uid" : "\xd0\xbf" , "ts" : %d.9 } ' % T0,
        b'{"uid":"\\u043f","ts":%d}' % T0,
        b'{"uid":"","ts":%d}' % T0,
    ]
    path = e2e.write("ids.jsonl", b"\n".join(lines) + b"\n")
    k, _ = e2e.compare([], [path])
    assert [(r["uniques"], r["frames"]) for r in k.records] == [(6, 8)]


def test_custom_fields(e2e):
    path = e2e.gen(count=10000, rate=50, users=500, frame_size=200, uid_key="user",
                   ts_key="time", seed=7, malformed_prob=0.05)
    k, o = e2e.compare(["--uid-field", "user", "--ts-field", "time", "-w", "minute,hour"],
                       [path])
    assert k.summary["frames_valid"] > 9000
    # The default fields are absent from these frames (nested ones do not count).
    k, o = e2e.compare([], [path])
    assert o.summary["frames_valid"] == 0 and o.rejected["no_uid"] > 9000


def test_edge_precedence_and_limits(e2e):
    """Corner cases of the precedence table and of --max-frame (docs/testing.md lists the
    readings the oracle takes)."""
    f = frame(b"x", T0)
    lines = [
        f,
        b" " * 70000,                                  # empty beats too_long
        b"\t" * 10 + b" " * 10,
        f + b" " * (100 - len(f)),                     # exactly --max-frame bytes: valid
        f + b" " * (101 - len(f)),                     # one more: too_long
        b'{"uid":1,"ts":true}',                        # bad_uid before bad_ts
        b'{"ts":"x"}',                                 # no_uid before bad_ts
        b'{"uid":"a","uid":"b","ts":1}',               # dup_uid before ts_range
        b'{"uid":"a","ts":1,"ts":2}',                  # dup_ts before ts_range
        b'{"uid":"a","ts":99999999999999999999}',      # bad_ts (does not fit in 63 bits)
        b'{"uid":"a","ts":9223372036854775807}',       # ts_range
        b'{"uid":"a","ts":"0001468244340"}',           # valid digit string
        b'{"uid":"a","ts":1.46824434e9}',              # valid: 1468244340
        b'{"uid":"a","ts":146824434099e-2}',           # valid: floor(1468244340.99)
        b'{"uid":"a","ts":946684799.5}',               # ts_range
        b'{"uid":"\\ud800","ts":1468244340}',          # lone surrogate escape: valid JSON
        b'[{"uid":"a","ts":1468244340}]',              # not_object
        b'{"uid":"a","ts":1468244340}\x00',            # not_json (trailing NUL)
        b'{"uid":"a","ts":1468244340,}',               # not_json
        b'\xef\xbb\xbf{"uid":"a","ts":1468244340}',    # BOM: not_json
        f,
    ]
    path = e2e.write("edge.jsonl", b"\n".join(lines) + b"\n")
    k, o = e2e.compare(["--max-frame", "100"], [path])
    # hand-computed: every line's reason (the comments above), and the 7 valid frames' users
    # "x" (3 frames), "a" (3: digit string, 1.46824434e9, 146824434099e-2) and "\ud800"
    assert k.rejected == dict.fromkeys(oracle.REASONS, 0) | {
        "empty": 2, "too_long": 1, "bad_uid": 1, "no_uid": 1, "dup_uid": 1, "dup_ts": 1,
        "bad_ts": 1, "ts_range": 2, "not_object": 1, "not_json": 3}
    assert [(r["window"], r["start"], r["uniques"], r["frames"]) for r in k.records] == \
        [("minute", T0, 3, 7)]


def test_json_test_suite_wrapped(e2e):
    """Every JSONTestSuite case (one line) as the value of an otherwise valid frame, one case per
    minute: the records show which cases kuniq accepted; the oracle says which it should, and the
    suite's own labels too: every y_ case is accepted, every n_ case rejected."""
    if not os.path.isdir(os.path.join(ROOT, "..", "shared")):
        pytest.skip("../shared is absent (a clone of the repository alone): no JSONTestSuite")
    names = sorted(n for n in os.listdir(SUITE) if n[0] in "yni")
    lines, bare, minute = [], [], {}
    for i, name in enumerate(names):
        data = open(os.path.join(SUITE, name), "rb").read()
        if b"\n" in data.rstrip(b"\n") or b"\r" in data or not data.strip():
            continue
        data = data.rstrip(b"\n")
        lines.append(b'{"uid":"%s","ts":%d,"v":%s}' % (name.encode(), T0 + 60 * i, data))
        bare.append(data)
        minute[name] = T0 + 60 * i
    path = e2e.write("suite.jsonl", b"\n".join(lines) + b"\n")
    # a lateness longer than the stream: no frame is late, every accepted case has its record
    k, o = e2e.compare(["--max-frame", "1000000", "--lateness", "100000"], [path])
    assert k.summary["late"]["minute"] == 0
    accepted = {r["start"] for r in k.records if r["frames"] == 1}
    assert len(accepted) == len(k.records) == k.summary["frames_valid"]
    y = [n for n in minute if n[0] == "y"]
    n_ = [n for n in minute if n[0] == "n"]
    # the suite is all there: 95 y_ and 188 n_ cases, less those that cannot be one line
    # (a newline or CR inside, or nothing but whitespace): 2 y_ and 5 n_
    assert (len(y), len(n_)) == (93, 183)
    assert [n for n in y if minute[n] not in accepted] == []
    assert [n for n in n_ if minute[n] in accepted] == []
    path = e2e.write("bare.jsonl", b"\n".join(bare) + b"\n")
    k, _ = e2e.compare(["--max-frame", "1000000"], [path])
    # bare cases are no frames (no uid/ts): every n_ case is invalid JSON (empty, not_json or
    # too_deep), every y_ case valid JSON rejected for what it lacks; i_ cases go either way
    assert k.summary["frames_valid"] == 0 and k.records == []
    i_ = len(minute) - len(y) - len(n_)
    invalid = k.rejected["not_json"] + k.rejected["too_deep"] + k.rejected["empty"]
    assert len(n_) <= invalid <= len(n_) + i_


def test_summary_shape(e2e):
    """The summary line and the records, field by field in the documented order (README), with
    the counts checked against the input itself (its size, its lines)."""
    path = e2e.gen(count=2000, rate=100, frame_size=150, malformed_prob=0.1, seed=8, crlf=True)
    k, _ = e2e.compare(["-w", "minute,day"], [path])
    s = k.summary
    assert list(s) == ["frames_read", "frames_valid", "rejected", "late", "bytes", "elapsed_s",
                       "frames_per_s", "mb_per_s", "windows_emitted", "emit_errors",
                       "out_of_memory"]
    assert list(s["rejected"]) == list(oracle.REASONS)      # the order of semantics.md's table
    assert list(s["late"]) == ["minute", "day"]
    raw = open(path, "rb").read()
    assert s["bytes"] == len(raw) == os.path.getsize(path)  # every byte read, line ends included
    assert s["frames_read"] == raw.count(b"\n")            # one frame per line
    assert s["windows_emitted"] == len(k.records) > 0
    assert s["emit_errors"] == 0 and s["out_of_memory"] == 0
    assert s["frames_valid"] == s["frames_read"] - sum(s["rejected"].values())
    assert 0 < s["frames_valid"] < s["frames_read"]        # malformed frames were mixed in
    for r in k.records:
        assert list(r) == ["window", "start", "end", "start_iso", "uniques", "frames", "exact",
                           "error", "final", "revision", "late", "late_window"], r
    out = subprocess.run([e2e.kuniq_bin, "-w", "minute,day", path], capture_output=True,
                         check=True).stdout
    # one compact JSON object per line, nothing else on stdout
    assert out == b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n"
                           for r in k.records)


def cpu_has_avx2():
    try:
        return " avx2" in open("/proc/cpuinfo").read()
    except OSError:
        return False


def test_parsers_agree(e2e):
    """--parser scalar and --parser avx2 (when the CPU has it) on the same bad-input stream."""
    path = e2e.gen(count=30000, rate=100, users=2000, frame_size=400, malformed_prob=0.1,
                   string_ts_prob=0.2, float_ts_prob=0.1, seed=9)
    scalar, _ = e2e.compare(["--parser", "scalar", "-w", "minute,hour"], [path])
    if not cpu_has_avx2():
        pytest.skip("this CPU has no AVX2: only the scalar parser was compared")
    avx2, _ = e2e.compare(["--parser", "avx2", "-w", "minute,hour"], [path])
    assert avx2.records == scalar.records


def test_counting_modes(e2e):
    """auto switches to the sketch past --exact-limit (n > limit); a sketch record's uniques lies
    within 4 standard errors of the exact count and its `error` is the sketch's RSE for the
    precision (conftest.sketch_tolerance: 0.537 % at p = 12, 0.269 % at p = 14)."""
    lines = [b'{"uid":"u%d","ts":%d}' % (i, T0) for i in range(5000)]
    lines += [b'{"uid":"u%d","ts":%d}' % (i, T0 + 60) for i in range(5001)]
    path = e2e.write("limit.jsonl", b"\n".join(lines) + b"\n")
    for p in (12, 14):
        k, _ = e2e.compare(["--exact-limit", "5000", "--precision", str(p)], [path])
        assert [(r["exact"], r["frames"]) for r in k.records] == [(True, 5000), (False, 5001)]
        assert k.records[0]["uniques"] == 5000
        assert abs(k.records[1]["error"] - sketch_rse(p)) < 1e-5 * sketch_rse(p)
        assert abs(k.records[1]["uniques"] - 5001) <= sketch_tolerance(5001, p)
    path = e2e.gen(count=100000, rate=1000, users=0, frame_size=100, seed=10)
    k, o = e2e.compare(["--mode", "approx", "-w", "minute,hour"], [path])
    assert all(not r["exact"] and abs(r["error"] - sketch_rse()) < 1e-5 * sketch_rse()
               for r in k.records)
    # well above 2^12 distinct users per window: the regime where the stated error holds
    assert min(r["uniques"] for r in o.records) > 3 * 4096
    k, _ = e2e.compare(["--mode", "exact", "-w", "minute,hour", "--exact-limit", "10"], [path])
    assert all(r["exact"] for r in k.records)
