"""Properties of build/kuniq-gen: determinism, shape, validity, clock, options, malformed kinds."""

import json
import re
import subprocess
from collections import Counter

import oracle
from conftest import read_lines

UID_RE = re.compile(rb'^[0-9a-f]{19}$')


def run_gen(gen_bin, *args):
    return subprocess.run([gen_bin] + [str(a) for a in args], stdout=subprocess.PIPE,
                          check=True, timeout=120).stdout


def top_keys(line):
    """Decoded top-level keys of a frame, in order."""
    members = oracle.parse_top(line.decode("utf-8"))
    return [k for k, _, _ in members]


def test_deterministic_for_a_seed(gen_bin):
    a = run_gen(gen_bin, "--count", 3000, "--seed", 7, "--malformed-prob", 0.1)
    b = run_gen(gen_bin, "--count", 3000, "--seed", 7, "--malformed-prob", 0.1)
    c = run_gen(gen_bin, "--count", 3000, "--seed", 8, "--malformed-prob", 0.1)
    assert a == b
    assert a != c
    # A prefix of a longer run is the shorter run.
    d = run_gen(gen_bin, "--count", 5000, "--seed", 7, "--malformed-prob", 0.1)
    assert d.startswith(a)


def test_shape_of_clean_frames(gen_bin):
    out = run_gen(gen_bin, "--count", 4000, "--users", 500, "--rate", 50, "--seed", 3)
    lines = out.split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == 4000
    sizes, uids, pre, uid_first = [], set(), Counter(), 0
    prev = None
    escapes = Counter()
    for line in lines:
        obj = json.loads(line.decode("utf-8"), object_pairs_hook=lambda p: p)
        keys = top_keys(line)
        assert keys.count("uid") == 1 and keys.count("ts") == 1
        reason, uid, ts = oracle.classify(line, 1 << 20, "uid", "ts")
        assert reason is None, (reason, line[:200])
        assert UID_RE.match(uid)
        uids.add(uid)
        i, j = keys.index("uid"), keys.index("ts")
        uid_first += i < j
        pre[min(i, j)] += 1
        assert prev is None or ts - prev in (0, 1)
        prev = ts
        sizes.append(len(line))
        for e in (b'\\"', b"\\\\", b"\\/", b"\\b", b"\\f", b"\\n", b"\\r", b"\\t", b"\\u00e9"):
            escapes[e] += e in line
        assert isinstance(obj, list)
    assert json.loads(lines[0])["ts"] == 1468244384
    assert len(uids) <= 500 and len(uids) > 450
    assert 1800 < sum(sizes) / len(sizes) < 2300
    assert set(pre) <= {0, 1, 2, 3, 4, 5} and pre[0] > 0 and pre[3] > 0
    assert 0.4 < uid_first / len(lines) < 0.6
    assert all(escapes.values()), escapes
    text = out.decode("utf-8")
    assert "\u043f\u0440\u0438\u0432\u0435\u0442" in text       # raw Cyrillic
    assert re.search(r'"(uid|ts)":\s*(\{|\[|"|true|false|null)', text)  # nested uid/ts of all types
    # ~ 4000 / 50 seconds
    assert 50 < prev - 1468244384 < 110


def test_nested_uid_ts_and_duplicate_keys(gen_bin):
    out = run_gen(gen_bin, "--count", 500, "--seed", 5)
    nested = dup = 0
    for line in out.splitlines():
        keys = top_keys(line)
        c = Counter(keys)
        dup += any(n > 1 for k, n in c.items() if k not in ("uid", "ts"))
        nested += line.count(b'"uid":') + line.count(b'"ts":') > 2
    assert nested > 100 and dup > 100


def test_small_frames_and_random_users(gen_bin):
    out = run_gen(gen_bin, "--count", 3000, "--frame-size", 150, "--users", 0, "--seed", 2)
    lines = out.splitlines()
    avg = sum(map(len, lines)) / len(lines)
    assert 100 < avg < 260, avg
    uids = {oracle.classify(l, 1 << 20, "uid", "ts")[1] for l in lines}
    assert len(uids) == 3000


def test_clock_options(gen_bin):
    # rate 1: one second per frame; step 60; max-seconds stops the stream.
    out = run_gen(gen_bin, "--count", 100000, "--rate", 1, "--step", 60, "--max-seconds", 6000,
                  "--start", 1500000000, "--frame-size", 100)
    ts = [json.loads(l)["ts"] for l in out.splitlines()]
    assert ts == [1500000000 + 60 * i for i in range(100)]
    # jump: from frame 500 on, the clock is a day ahead
    out = run_gen(gen_bin, "--count", 1000, "--rate", 10, "--jump-at", 500, "--jump-by", 86400,
                  "--frame-size", 100)
    ts = [json.loads(l)["ts"] for l in out.splitlines()]
    assert ts[499] - ts[0] < 100 and ts[500] - ts[499] >= 86400
    assert all(b - a in (0, 1) for a, b in zip(ts[500:], ts[501:]))


def test_delays(gen_bin):
    out = run_gen(gen_bin, "--count", 20000, "--rate", 20, "--delay", 5, "--delay-prob", 0.1,
                  "--frame-size", 100)
    ts = [json.loads(l)["ts"] for l in out.splitlines()]
    # A delayed frame is 1..5 s behind the generator's clock, which is >= the largest ts so far.
    top, behind = ts[0], 0
    for t in ts:
        assert top - t <= 5
        assert t - top <= 6
        behind += t < top
        top = max(top, t)
    assert 1000 < behind < 2100


def ts_of_line(line):
    return oracle.classify(line, 1 << 20, "uid", "ts")[2]


def test_alignment_bitflip_string_ts(gen_bin):
    """Same seed, different probabilities: only the touched frames differ, only in their ts."""
    base = run_gen(gen_bin, "--count", 20000, "--seed", 11, "--frame-size", 200).splitlines()
    flip = run_gen(gen_bin, "--count", 20000, "--seed", 11, "--frame-size", 200,
                   "--bitflip-prob", 0.01).splitlines()
    strs = run_gen(gen_bin, "--count", 20000, "--seed", 11, "--frame-size", 200,
                   "--string-ts-prob", 0.3).splitlines()
    assert len(base) == len(flip) == len(strs)
    nflip, nstr, bits = 0, 0, Counter()
    for a, b, c in zip(base, flip, strs):
        ja, jb, jc = json.loads(a), json.loads(b), json.loads(c)
        if a != b:
            nflip += 1
            x = ja["ts"] ^ jb["ts"]
            assert x & (x - 1) == 0 and 1 <= x < 1 << 32       # exactly one bit of 32
            bits[x.bit_length() - 1] += 1
            del ja["ts"], jb["ts"]
            assert ja == jb
        else:
            assert ja == jb
        # the string form carries the same number; nothing else changes
        assert int(jc["ts"]) == json.loads(a)["ts"]
        if isinstance(jc["ts"], str):
            nstr += 1
            assert c.replace(b'"ts":"%d"' % int(jc["ts"]), b'"ts":%d' % int(jc["ts"])) == a
        else:
            assert c == a
    assert 140 < nflip < 260
    assert len(bits) >= 28                     # the default range is 0..31
    assert 5000 < nstr < 7000


def test_bitflip_bits_and_direction(gen_bin):
    """--bitflip-bits LO-HI chooses the bit uniformly in the range; --bitflip-dir up adds 2^bit,
    down subtracts it, any XORs it (so the direction is the bit's value); every other byte of
    the frame is the clean frame's."""
    common = ["--count", 20000, "--seed", 12, "--frame-size", 100, "--rate", 100]
    base = run_gen(gen_bin, *common).splitlines()
    for rng_, lo, hi in (("0-31", 0, 31), ("5", 5, 5), ("3-8", 3, 8)):
        for direction in ("up", "down", "any"):
            out = run_gen(gen_bin, *common, "--bitflip-prob", 0.05, "--bitflip-bits", rng_,
                          "--bitflip-dir", direction).splitlines()
            assert len(out) == len(base)
            seen, n = Counter(), 0
            for a, b in zip(base, out):
                if a == b:
                    continue
                n += 1
                ta, tb = json.loads(a)["ts"], json.loads(b)["ts"]
                d = tb - ta
                if direction == "any":
                    x = ta ^ tb
                    assert x & (x - 1) == 0
                    k = x.bit_length() - 1
                    assert d == ((1 << k) if not ta >> k & 1 else -(1 << k))
                else:
                    k = abs(d).bit_length() - 1
                    assert abs(d) == 1 << k
                    assert (d > 0) == (direction == "up")
                assert lo <= k <= hi
                seen[k] += 1
                assert b.replace(b'"ts":%d' % tb, b'"ts":%d' % ta) == a
            assert 800 < n < 1200
            assert set(seen) == set(range(lo, hi + 1)), seen
            assert max(seen.values()) < 3 * min(seen.values())
    for bad in ("32", "5-3", "-1", "0-32", "a", "1-", "3-+4"):
        r = subprocess.run([gen_bin, "--bitflip-bits", bad, "--count", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 2, bad
    r = subprocess.run([gen_bin, "--bitflip-dir", "sideways", "--count", "1"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 2


def test_pauses(gen_bin):
    """Every N frames the clock jumps S seconds; nothing else changes."""
    common = ["--count", 3000, "--seed", 13, "--frame-size", 100, "--rate", 50]
    base = run_gen(gen_bin, *common).splitlines()
    out = run_gen(gen_bin, *common, "--pause-every", 500, "--pause", 7200).splitlines()
    assert len(out) == len(base)
    for i, (a, b) in enumerate(zip(base, out)):
        ta, tb = json.loads(a)["ts"], json.loads(b)["ts"]
        assert tb - ta == 7200 * (i // 500), i
        assert b.replace(b'"ts":%d' % tb, b'"ts":%d' % ta) == a
    ts = [json.loads(l)["ts"] for l in out]
    gaps = [i for i in range(1, len(ts)) if ts[i] - ts[i - 1] >= 7200]
    assert gaps == [500, 1000, 1500, 2000, 2500]


def test_garbage_burst(gen_bin):
    """M frames with ts T inserted before frame N, valid, with uids of their own; every other
    line is the stream without them, byte for byte."""
    common = ["--count", 5000, "--seed", 14, "--frame-size", 150, "--users", 200]
    base = run_gen(gen_bin, *common).splitlines()
    T = 4070908800 + 12345
    out = run_gen(gen_bin, *common, "--garbage-at", 1234, "--garbage-count", 30,
                  "--garbage-ts", T).splitlines()
    assert out[:1234] == base[:1234] and out[1264:] == base[1234:]
    users = {oracle.classify(l, 1 << 20, "uid", "ts")[1] for l in base}
    guids = set()
    for line in out[1234:1264]:
        reason, uid, ts = oracle.classify(line, 1 << 20, "uid", "ts")
        assert reason is None and ts == T and UID_RE.match(uid)
        guids.add(uid)
    assert len(guids) == 30 and not guids & users
    # default ts (2099-01-01), and a burst beyond the end of the stream comes last
    out = run_gen(gen_bin, *common, "--garbage-at", 99999, "--garbage-count", 3).splitlines()
    assert out[:5000] == base and [ts_of_line(l) for l in out[5000:]] == [4070908800] * 3
    # deterministic, and independent of where it is inserted
    again = run_gen(gen_bin, *common, "--garbage-at", 0, "--garbage-count", 3).splitlines()
    assert again[:3] == out[5000:] and again[3:] == base


def test_crlf(gen_bin):
    out = run_gen(gen_bin, "--count", 100, "--crlf", "--frame-size", 100)
    assert out.count(b"\r\n") == 100 and out.count(b"\n") == 100


def test_float_ts(gen_bin):
    out = run_gen(gen_bin, "--count", 2000, "--float-ts-prob", 0.5, "--frame-size", 100)
    n = 0
    for line in out.splitlines():
        reason, _, ts = oracle.classify(line, 65536, "uid", "ts")
        assert reason is None
        raw = json.loads(line)["ts"]
        n += isinstance(raw, float)
        assert ts == int(raw // 1) or raw == 1.468244384e9
    assert 800 < n < 1200


def test_custom_key_names(gen_bin):
    out = run_gen(gen_bin, "--count", 300, "--uid-key", "user", "--ts-key", "time")
    for line in out.splitlines():
        keys = top_keys(line)
        assert keys.count("user") == 1 and keys.count("time") == 1
        assert "uid" not in keys and "ts" not in keys


def test_malformed_kinds_cover_every_reason(gen_bin, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(run_gen(gen_bin, "--count", 30000, "--malformed-prob", 0.5, "--seed", 4,
                             "--frame-size", 300))
    reasons = Counter()
    for line in read_lines(str(path)):
        reasons[oracle.classify(line, 65536, "uid", "ts")[0]] += 1
    expected = set(oracle.REASONS) - {"ts_ahead"}
    assert expected <= set(reasons), reasons
    assert 14000 < sum(n for r, n in reasons.items() if r) < 16000
    raw = path.read_bytes()
    assert b"\0" in raw and b"[" * 100000 in raw and b"\n\n" in raw


def test_malformed_with_crlf_keeps_lines(gen_bin):
    out = run_gen(gen_bin, "--count", 5000, "--malformed-prob", 0.3, "--crlf", "--frame-size",
                  150)
    lines = out.split(b"\n")[:-1]
    assert len(lines) == 5000
    assert all(l.endswith(b"\r") for l in lines)


def test_long_line_bytes(gen_bin):
    out = run_gen(gen_bin, "--count", 3000, "--malformed-prob", 1, "--long-line-bytes", 300000,
                  "--frame-size", 150, "--seed", 9)
    longest = max(out.split(b"\n"), key=len)
    assert 299000 <= len(longest) <= 301000
    # Shorter than the limit: a valid frame.
    assert oracle.classify(longest, 1 << 20, "uid", "ts")[0] is None


def test_help(gen_bin):
    out = subprocess.run([gen_bin, "--help"], stdout=subprocess.PIPE, check=True).stdout
    for opt in ("--count", "--rate", "--step", "--users", "--start", "--max-seconds", "--delay",
                "--delay-prob", "--seed", "--crlf", "--frame-size", "--string-ts-prob",
                "--bitflip-prob", "--bitflip-bits", "--bitflip-dir", "--malformed-prob",
                "--long-line-bytes", "--jump-at", "--jump-by", "--pause-every", "--pause",
                "--garbage-at", "--garbage-count", "--garbage-ts"):
        assert opt.encode() in out
    bad = subprocess.run([gen_bin, "--rate", "0"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert bad.returncode == 2
