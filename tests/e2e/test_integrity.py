"""Input integrity and how a run ends: compressed input recognised by its first bytes, truncated
and corrupt compressed files, the reader of stdout going away, a full disk, SIGINT, progress.

Every test drives the real binary. A broken compressed file must give exit status 1 and one
message naming the file and the compressed byte offset, and the records and summary of the frames
before the break must equal the oracle's over those frames (the complete lines that decompress).
"""

import gzip
import json
import os
import re
import signal
import subprocess
import time
import zlib

import pytest

from conftest import compare_records, compare_summaries, parse_summary

ARGS = ["-w", "minute,hour"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) "
                      r"(kuniq: .*)$")
GEN = dict(count=60000, frame_size=120, users=5000, rate=100, seed=7, delay=3, delay_prob=0.05,
           malformed_prob=0.002)


def log_messages(err):
    """The messages of kuniq's log lines ("<time> <LEVEL> kuniq: ..."), without time and level."""
    return [m.group(2) for m in map(LOG_LINE.match, err.splitlines()) if m]


@pytest.fixture
def stream(e2e):
    return e2e.gen("stream.jsonl", **GEN)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def decodable_prefix(data):
    """The complete lines a gzip stream cut short or damaged decompresses to."""
    d = zlib.decompressobj(wbits=31)
    out = b""
    try:
        out = d.decompress(data)
    except zlib.error:
        pass
    return out[:out.rfind(b"\n") + 1]


def run(e2e, args, files=(), stdin=b"", **kw):
    return subprocess.run([e2e.kuniq_bin] + list(args) + list(files), input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, **kw)


def records(p):
    return [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]


def assert_matches_oracle(e2e, p, plain_path):
    """kuniq's records and summary equal the oracle's over the plain file."""
    o = e2e.oracle(ARGS, [plain_path])
    err = p.stderr.decode()
    msg = compare_records(records(p), o.records)
    msg += compare_summaries(parse_summary(err), o.summary)
    assert not msg, msg


def test_gzip_recognised_by_magic_on_files_and_stdin(e2e, stream):
    k, _ = e2e.compare(ARGS, [stream])
    data = gzip.compress(read(stream))
    named = e2e.path("no-suffix.jsonl")
    with open(named, "wb") as f:
        f.write(data)
    for p in (run(e2e, ARGS, [named]), run(e2e, ARGS, stdin=data)):
        assert p.returncode == 0, p.stderr.decode()
        assert records(p) == k.records
        assert parse_summary(p.stderr.decode())["rejected"]["not_json"] == \
            k.summary["rejected"]["not_json"]


def test_concatenated_members(e2e, stream):
    lines = read(stream).splitlines(keepends=True)
    half = len(lines) // 2
    cat = e2e.path("cat.gz")
    with open(cat, "wb") as f:  # gzip -c a >> b
        f.write(gzip.compress(b"".join(lines[:half])))
        f.write(gzip.compress(b"".join(lines[half:])))
    k, _ = e2e.compare(ARGS, [stream])
    p = run(e2e, ARGS, [cat])
    assert p.returncode == 0, p.stderr.decode()
    assert records(p) == k.records


def test_zstd(e2e, stream):
    if subprocess.run(["which", "zstd"], stdout=subprocess.DEVNULL).returncode != 0:
        pytest.skip("no zstd command")
    z = e2e.path("s.zst")
    subprocess.run(["zstd", "-q", "-f", stream, "-o", z], check=True)
    k, _ = e2e.compare(ARGS, [stream])
    p = run(e2e, ARGS, stdin=read(z))
    assert p.returncode == 0 and records(p) == k.records


def broken_case(e2e, name, data):
    path = e2e.path(name)
    with open(path, "wb") as f:
        f.write(data)
    plain = e2e.path(name + ".prefix.jsonl")
    with open(plain, "wb") as f:
        f.write(decodable_prefix(data))
    p = run(e2e, ARGS, [path])
    return path, plain, p


def test_truncated_gzip(e2e, stream):
    data = gzip.compress(read(stream))
    cut = len(data) * 2 // 3
    path, plain, p = broken_case(e2e, "cut.jsonl.gz", data[:cut])
    err = p.stderr.decode()
    assert p.returncode == 1, err
    msgs = log_messages(err)
    assert msgs == ["kuniq: %s: truncated gzip input: it ends at byte %d inside a compressed "
                    "member" % (path, cut)], err
    assert parse_summary(err)["frames_read"] > 10000
    assert_matches_oracle(e2e, p, plain)


def test_corrupt_gzip(e2e, stream):
    lines = read(stream).splitlines(keepends=True)
    first = gzip.compress(b"".join(lines[:20000]))
    second = bytearray(gzip.compress(b"".join(lines[20000:])))
    second[3] = 0xff  # reserved header flags: the second member is not gzip
    path, plain, p = broken_case(e2e, "bad.gz", first + bytes(second))
    err = p.stderr.decode()
    assert p.returncode == 1, err
    m = re.findall(r"^kuniq: (.*): corrupt gzip input at byte (\d+)", "\n".join(log_messages(err)),
                   re.M)
    assert m == [(path, str(len(first) + 4))], err
    assert parse_summary(err)["frames_read"] == 20000
    assert_matches_oracle(e2e, p, plain)


def test_head_on_a_long_input(e2e):
    big = e2e.gen("big.jsonl", count=400000, frame_size=100, users=5000, rate=1000, seed=3)
    t = time.monotonic()
    p = subprocess.run("'%s' -w minute '%s' | head -1; echo \"rc=${PIPESTATUS[0]}\" >&2"
                       % (e2e.kuniq_bin, big), shell=True, executable="/bin/bash",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode()
    assert len(p.stdout.decode().splitlines()) == 1
    assert "rc=0" in err and "Broken pipe" not in err, err
    s = parse_summary(err.replace("rc=0", ""))
    assert s["frames_read"] < 400000  # it stopped reading at once
    assert time.monotonic() - t < 60


def test_head_on_an_endless_input(e2e):
    writer = ("import sys\nt = 1468244340\ni = 0\nwhile True:\n"
              "    sys.stdout.write('{\"uid\":\"u%d\",\"ts\":%d}\\n' % (i % 97, t + i // 50))\n"
              "    i += 1\n")
    script = e2e.path("writer.py")
    with open(script, "w") as f:
        f.write(writer)
    cmd = ("python3 '%s' 2>/dev/null | '%s' -w minute | head -1; echo \"rc=${PIPESTATUS[1]}\" >&2"
           % (script, e2e.kuniq_bin))
    t = time.monotonic()
    p = subprocess.run(cmd, shell=True, executable="/bin/bash", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    took = time.monotonic() - t
    err = p.stderr.decode()
    assert len(p.stdout.decode().splitlines()) == 1
    assert "rc=0" in err and "Broken pipe" not in err, err
    assert took < 15, took


def test_dev_full(e2e, stream):
    with open("/dev/full", "wb") as full:
        p = subprocess.run([e2e.kuniq_bin] + ARGS + [stream], stdout=full,
                           stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode()
    assert p.returncode == 1
    msgs = log_messages(err)
    assert msgs == ["kuniq: writing results: No space left on device"], err


def test_sigint_mid_file(e2e):
    big = e2e.gen("big.jsonl", count=3000000, frame_size=100, users=5000, rate=1000, seed=5)
    out = e2e.path("out.jsonl")
    with open(out, "wb") as f:
        k = subprocess.Popen([e2e.kuniq_bin, "-w", "minute,hour", "--threads", "1", big],
                             stdout=f, stderr=subprocess.PIPE)
        time.sleep(1.0)
        k.send_signal(signal.SIGINT)
        _, errb = k.communicate(timeout=60)
    err = errb.decode()
    assert k.returncode == 0, err
    s = parse_summary(err)
    assert s.get("interrupted") is True
    assert 0 < s["frames_read"] < 3000000, "SIGINT came too late to test anything"
    recs = [json.loads(l) for l in read(out).decode().splitlines()]
    open_recs = [r for r in recs if not r["final"]]
    assert open_recs, recs[-3:]
    # the open windows come last, one per kind at least (the hour in progress)
    assert all(not r["final"] for r in recs[len(recs) - len(open_recs):])
    assert any(r["window"] == "hour" for r in open_recs)
    assert sum(r["frames"] for r in recs if r["window"] == "hour") <= s["frames_valid"]


def test_progress(e2e, stream):
    p = run(e2e, ARGS + ["--progress"], [stream])
    err = p.stderr.decode()
    assert p.returncode == 0
    parse_summary(err)
    # a run this short may end before the first update; a slow stdin shows it for sure
    slow = subprocess.Popen("(head -c 100000 '%s'; sleep 1.2; cat '%s') | '%s' --progress -w minute"
                            % (stream, stream, e2e.kuniq_bin), shell=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, errb = slow.communicate(timeout=60)
    lines = errb.decode().splitlines()
    prog = [l for l in lines if re.match(r"kuniq: [\d.]+ \w*B read, \d+ frames, ", l)]
    assert prog, lines
    # without a terminal and without --progress: nothing but the summary
    p = run(e2e, ARGS, [stream])
    assert [l for l in p.stderr.decode().splitlines() if l.strip()] == \
        [p.stderr.decode().strip().splitlines()[-1]]
    p = run(e2e, ARGS + ["--no-progress"], [stream])
    assert p.returncode == 0 and len(p.stderr.decode().strip().splitlines()) == 1


def test_progress_on_a_terminal(e2e, stream):
    import pty
    master, slave = pty.openpty()
    gz = e2e.path("s.gz")
    with open(gz, "wb") as f:
        f.write(gzip.compress(read(stream) * 4))
    p = subprocess.Popen([e2e.kuniq_bin, "-w", "minute", "--threads", "1", gz],
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    buf = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    p.wait(timeout=60)
    os.close(master)
    text = buf.decode("utf-8", "replace")
    assert p.returncode == 0
    assert '{"summary"' in text
    if "ETA" in text:  # the run lasted long enough for an update: drawn in place, erased
        assert "\r" in text and "\x1b[K" in text
        assert re.search(r"of [\d.]+ \w*B \([\d.]+ %\)", text)
