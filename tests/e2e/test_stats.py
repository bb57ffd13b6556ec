"""End-to-end tests of the operations side of file mode: --stats-interval, --metrics, the log
line format, -q/-v and the warning when most frames are rejected (docs/operations.md).

What is tested:
  - stats lines: one JSON line {"stats":{...}} on stderr every --stats-interval seconds while a
    run goes on (not more often, not much less often), with every documented field; counters
    never decrease; frames_per_s is the frames read over the interval; the last stats line,
    written just before the summary, has the summary's counts (frames_read, frames_valid,
    rejected by reason, late by kind, bytes, windows_emitted) and windows_emitted is the number
    of records printed;
  - /metrics: Prometheus text (every sample declared by # TYPE, well-formed labels and values),
    scraped while a run is fed slowly through a pipe: kuniq_frames_total never above the frames
    written so far, never behind them by more than the refresh lag; the other figures agree
    with the summary at the end; once the process has exited nothing listens any more; other
    paths answer 404; a bad --metrics value (or a port in use) is a usage error (exit 2);
  - log lines: every stderr line that is not JSON is `<ISO 8601 UTC with ms> <LEVEL> kuniq: ...`;
    -q keeps warnings and drops INFO lines (the data lines stay); -v keeps INFO;
  - the rejection warning: once, when at least 1000 frames were read and at least half were
    rejected, with a hint naming the likely cause (ts in milliseconds, ts out of range, uid
    under another key, not JSON); none on a clean stream or below the thresholds.

How: the runs that must last are fed through a pipe from this process at a fixed rate, so they
last a few seconds whatever the speed of the build (these tests also run under ASan: make
e2e-asan); every time bound is generous (the machine may be busy).

"""

import datetime
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

RUN_TIMEOUT = 120
T0 = 1468244340  # 2016-07-11T13:39:00Z, a minute boundary
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (ERROR|WARN |INFO |DEBUG) "
                      r"kuniq: \S.*$")
STATS_FIELDS = ["time", "uptime_s", "frames", "bytes", "frames_per_s", "mb_per_s",
                "frames_valid", "rejected", "late", "open_windows", "counter_bytes", "rss_bytes",
                "windows_emitted"]
REJECT_REASONS = ["empty", "too_long", "not_json", "too_deep", "not_object", "no_uid", "bad_uid",
                  "dup_uid", "no_ts", "bad_ts", "dup_ts", "ts_range", "ts_ahead"]
MS_HINT = "ts looks like milliseconds since the epoch; kuniq reads unix seconds"


# -- helpers (test_kafka_stats.py uses them too) ------------------------------------------------

def frame(uid, ts):
    return json.dumps({"uid": uid, "ts": ts}, separators=(",", ":")).encode()


def stats_lines(stderr):
    """The "stats" objects of every stats line, in order."""
    out = []
    for line in stderr.splitlines():
        if line.startswith('{"stats"'):
            obj = json.loads(line)
            assert list(obj) == ["stats"], "a stats line with more than stats: %s" % line
            out.append(obj["stats"])
    return out


def check_log_lines(stderr, what):
    """Every stderr line is JSON (a data line: stats, summary, kafka) or a log line in the
    documented format, stamped within a few minutes of now (UTC). Returns the log lines."""
    logs, bad = [], []
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    for line in stderr.splitlines():
        if line.startswith("{"):
            obj = json.loads(line)  # a data line must be whole JSON
            if not (isinstance(obj, dict) and len(obj) == 1
                    and next(iter(obj)) in ("stats", "summary", "kafka")):
                bad.append("unexpected JSON line: " + line[:200])
            continue
        m = LOG_LINE.match(line)
        if not m:
            bad.append("not a log line: %r" % line[:300])
            continue
        stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
        if abs((stamp - now).total_seconds()) > 600:
            bad.append("timestamp not UTC now (%s): %r" % (now.isoformat(), line[:300]))
        logs.append(line)
    assert not bad, "%s: stderr lines not in the log format `%s`:\n  %s" % (
        what, LOG_LINE.pattern, "\n  ".join(bad[:10]))
    return logs


def parse_prometheus(text):
    """Prometheus text format 0.0.4 as {(name, ((label, value), ...)): float}. Fails on any line
    that is not a comment, a HELP/TYPE line or a sample, and on a sample whose metric was not
    declared by a # TYPE line before it."""
    types, samples = {}, {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    label = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"\s*(?:,|$)')
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] == "TYPE":
                assert len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram",
                                                        "summary", "untyped"), \
                    "line %d: bad TYPE line %r" % (n, line)
                assert parts[2] not in types, "line %d: %s declared twice" % (n, parts[2])
                types[parts[2]] = parts[3]
            elif len(parts) >= 2 and parts[1] == "HELP":
                assert len(parts) == 4 and parts[3].strip(), "line %d: empty HELP %r" % (n, line)
            continue
        m = sample.match(line)
        assert m, "line %d is not a sample: %r" % (n, line)
        name, labels_text, value = m.groups()
        labels = []
        pos = 0
        labels_text = labels_text or ""
        while pos < len(labels_text):
            lm = label.match(labels_text, pos)
            assert lm and lm.end() > pos, "line %d: bad labels %r" % (n, labels_text)
            labels.append((lm.group(1), lm.group(2)))
            pos = lm.end()
        assert name in types, "line %d: sample of %s without a # TYPE line before it" % (n, name)
        v = float(value)  # ValueError fails the test
        key = (name, tuple(sorted(labels)))
        assert key not in samples, "line %d: sample %s%s given twice" % (n, name, labels)
        if types[name] == "counter":
            assert v >= 0, "line %d: negative counter %r" % (n, line)
        samples[key] = v
    return samples


def metric(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def label_values(samples, name, label):
    return sorted(dict(k[1])[label] for k in samples if k[0] == name)


def scrape(port, path="/metrics", timeout=10):
    """(status, content type, body) of a GET; an HTTPError's status too."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def metrics_port(stderr):
    m = re.search(r"INFO  kuniq: metrics: GET /metrics on \S+ \(port (\d+)\)", stderr)
    return int(m.group(1)) if m else None


def check_monotonic(lines, what):
    """Counters of consecutive stats lines never decrease; uptime increases."""
    def counters(s):
        c = {"frames": s["frames"], "bytes": s["bytes"], "frames_valid": s["frames_valid"],
             "windows_emitted": s["windows_emitted"]}
        c.update(("rejected." + k, v) for k, v in s["rejected"].items())
        c.update(("late." + k, v) for k, v in s["late"].items())
        for k in ("results_produced", "results_delivered"):
            if k in s:
                c[k] = s[k]
        return c

    for i in range(1, len(lines)):
        a, b = counters(lines[i - 1]), counters(lines[i])
        assert sorted(a) == sorted(b), "%s: stats line %d has other counters: %s / %s" % (
            what, i, sorted(a), sorted(b))
        down = ["%s %d -> %d" % (k, a[k], b[k]) for k in a if b[k] < a[k]]
        assert not down, "%s: counters went down from stats line %d to %d: %s" % (
            what, i - 1, i, ", ".join(down))
        assert lines[i]["uptime_s"] >= lines[i - 1]["uptime_s"], \
            "%s: uptime_s went down: %s" % (what, [s["uptime_s"] for s in lines])


def check_last_equals_summary(last, summary, nrecords, what):
    diffs = []
    for sf, lf in (("frames_read", "frames"), ("frames_valid", "frames_valid"),
                   ("rejected", "rejected"), ("late", "late"), ("bytes", "bytes"),
                   ("windows_emitted", "windows_emitted")):
        if summary[sf] != last[lf]:
            diffs.append("summary %s %r, last stats line %s %r" % (sf, summary[sf], lf, last[lf]))
    if nrecords is not None and last["windows_emitted"] != nrecords:
        diffs.append("last stats line windows_emitted %d, records printed %d"
                     % (last["windows_emitted"], nrecords))
    assert not diffs, "%s: the last stats line is not the summary:\n  %s\nlast: %s" % (
        what, "\n  ".join(diffs), json.dumps(last))


class PipeRun:
    """kuniq reading stdin from this process; stderr lines collected with their arrival time
    (monotonic), stdout to a file."""

    def __init__(self, binary, args, tmp):
        self.out_path = os.path.join(str(tmp), "kuniq-%d.out" % id(self))
        self.out = open(self.out_path, "wb")
        self.cmd = [binary] + list(args)
        self.p = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=self.out,
                                  stderr=subprocess.PIPE)
        self.t0 = time.monotonic()
        self.lines = []  # (arrival, text)
        self.written = [(self.t0, 0)]  # (time, frames written so far)
        self.n = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.p.stderr:
            self.lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))

    def stderr(self):
        return "\n".join(t for _, t in list(self.lines))

    def write(self, frames):
        self.p.stdin.write(b"".join(f + b"\n" for f in frames))
        self.p.stdin.flush()
        self.n += len(frames)
        self.written.append((time.monotonic(), self.n))

    def feed(self, frames, rate, on_tick=None):
        """Writes frames at `rate` per second, a chunk every 50 ms; on_tick() after each."""
        start = time.monotonic()
        i = 0
        while i < len(frames):
            due = min(len(frames), int((time.monotonic() - start) * rate) + 1)
            if due > i:
                self.write(frames[i:due])
                i = due
            if on_tick:
                on_tick()
            time.sleep(0.05)

    def written_at(self, t):
        """Frames written by time t."""
        n = 0
        for when, count in self.written:
            if when <= t:
                n = count
        return n

    def wait_line(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, text in list(self.lines):
                if re.search(pattern, text):
                    return text
            assert self.p.poll() is None, "kuniq exited with %s:\n%s" % (
                self.p.returncode, self.stderr()[-3000:])
            time.sleep(0.05)
        raise AssertionError("no stderr line matching %r within %d s:\n%s"
                             % (pattern, timeout, self.stderr()[-3000:]))

    def close(self):
        """Closes stdin (the end of input), waits for the exit; returns (rc, records)."""
        self.p.stdin.close()
        try:
            rc = self.p.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("kuniq did not exit within %d s of the end of its input"
                                 % RUN_TIMEOUT)
        self._reader.join(10)
        self.out.close()
        with open(self.out_path, "rb") as f:
            records = [json.loads(l) for l in f.read().decode().splitlines() if l.strip()]
        return rc, records

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def pipe_runs():
    runs = []
    yield runs
    for r in runs:
        r.kill()


def start(pipe_runs, binary, args, tmp):
    r = PipeRun(binary, args, tmp)
    pipe_runs.append(r)
    return r


def summary_of(stderr):
    for line in reversed(stderr.splitlines()):
        if line.startswith('{"summary"'):
            return json.loads(line)["summary"]
    raise AssertionError("no summary line:\n" + stderr[-3000:])


def run(binary, args, stdin=b"", timeout=RUN_TIMEOUT):
    p = subprocess.run([binary] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode("utf-8", "replace")


def ms_stream(n, users=50):
    """n valid frames whose ts are milliseconds since the epoch (2016)."""
    return [frame("u%d" % (i % users), (T0 + i // 10) * 1000 + i % 1000) for i in range(n)]


# -- stats lines ---------------------------------------------------------------------------------

def test_stats_lines_during_a_slow_run_and_the_last_equals_the_summary(e2e, kuniq_bin,
                                                                       tmp_path, pipe_runs):
    """A generated stream (2 % malformed frames, 5 % delayed by up to 40 s: late for the minute)
    fed through a pipe at 2500 frames/s for ~4 s, --stats-interval 0.5: a stats line about
    every 0.5 s, every field there, counters never decreasing, the rate of each line equal to
    the frames of its interval, open windows while frames flow; the last line (written at the
    end) has the summary's counts, and windows_emitted is the number of records printed."""
    path = e2e.gen("s.jsonl", count=10000, rate=10, start=T0, users=500, delay=40,
                   delay_prob=0.05, malformed_prob=0.02, frame_size=150, seed=7)
    with open(path, "rb") as f:
        frames = f.read().split(b"\n")[:-1]
    interval = 0.5
    r = start(pipe_runs, kuniq_bin, ["--stats-interval", str(interval), "-w", "minute,hour"],
              tmp_path)
    r.feed(frames, 2500)
    fed = time.monotonic() - r.t0
    rc, records = r.close()
    err = r.stderr()
    assert rc == 0, "kuniq exited with %d:\n%s" % (rc, err[-3000:])
    check_log_lines(err, "stats run")
    timed = [(t, json.loads(text)["stats"]) for t, text in r.lines
             if text.startswith('{"stats"')]
    lines = [s for _, s in timed]
    summary = summary_of(err)
    assert summary["frames_read"] == len(frames)
    assert sum(summary["rejected"].values()) > 50 and summary["late"]["minute"] > 0, \
        "the stream should have rejected and late frames: %s" % json.dumps(summary)

    # every field, of the right type
    for s in lines:
        missing = [f for f in STATS_FIELDS if f not in s]
        assert not missing, "stats line without %s: %s" % (missing, json.dumps(s))
        assert sorted(s["rejected"]) == sorted(REJECT_REASONS), s["rejected"]
        assert sorted(s["late"]) == ["hour", "minute"], s["late"]
        assert "partitions" not in s and "results_produced" not in s, \
            "Kafka fields in a file run: %s" % json.dumps(s)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", s["time"]), s["time"]
        assert s["frames_valid"] == s["frames"] - sum(s["rejected"].values()), s
        assert s["rss_bytes"] > 1 << 20, "rss_bytes %r: not the process's memory" % s["rss_bytes"]
    check_monotonic(lines, "stats run")

    # at the interval: the run lasted ~4 s; lines during it (all but the last, written at the
    # end) are at least ~interval apart by uptime, and none is missing for long
    during = timed[:-1]
    assert len(during) >= int(fed / interval * 0.5), (
        "%d stats lines in a %.1f s run at --stats-interval %.1f:\n%s"
        % (len(during), fed, interval, "\n".join(json.dumps(s) for s in lines)))
    ups = [s["uptime_s"] for _, s in during]
    gaps = [b - a for a, b in zip(ups, ups[1:])]
    assert min(gaps) >= interval - 0.11, "stats lines closer than the interval: uptimes %s" % ups
    arrivals = [t for t, _ in during]
    late_gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert max(late_gaps) < interval + 2.0, "a gap of %.1f s between stats lines: uptimes %s" % (
        max(late_gaps), ups)

    # frames_per_s: the frames of the interval over its length (uptime has 0.1 s resolution)
    for a, b in zip(lines, lines[1:-1]):
        dt = b["uptime_s"] - a["uptime_s"]
        if dt >= 0.4:
            want = (b["frames"] - a["frames"]) / dt
            assert abs(b["frames_per_s"] - want) <= 0.35 * want + 100, (
                "frames_per_s %r, but %d frames in %.1f s: %s"
                % (b["frames_per_s"], b["frames"] - a["frames"], dt, json.dumps(b)))
    mid = lines[len(lines) // 4:-1]
    assert any(s["frames_per_s"] > 500 for s in mid), \
        "frames_per_s never near the feeding rate (2500/s): %s" % [s["frames_per_s"] for s in lines]

    # while frames flow, windows are open and hold memory, and the watermark is a stream time
    for s in mid:
        assert s["open_windows"] >= 1 and s["counter_bytes"] > 0, json.dumps(s)
        assert T0 - 3600 <= s.get("watermark", -1) <= T0 + 1000 + 60, \
            "watermark %r outside the stream's times: %s" % (s.get("watermark"), json.dumps(s))
    assert lines[len(lines) // 2]["windows_emitted"] > 0, "no window emitted mid-run"

    last = lines[-1]
    assert last["open_windows"] == 0, "windows left open at the end: %s" % json.dumps(last)
    check_last_equals_summary(last, summary, len(records), "stats run")
    # the last stats line comes right before the summary
    tail = [t for _, t in r.lines if t.startswith("{")][-2:]
    assert tail[0].startswith('{"stats"') and tail[1].startswith('{"summary"'), tail


def test_stats_lines_on_a_file_at_full_speed(e2e, kuniq_bin):
    """A file read at full speed with --stats-interval 0.1: lines with non-decreasing counters,
    the last one equal to the summary and to the records printed (no line at all without the
    option)."""
    path = e2e.gen("f.jsonl", count=60000, rate=100, start=T0, users=2000, frame_size=150,
                   malformed_prob=0.01, seed=3)
    rc, out, err = run(kuniq_bin, ["--stats-interval", "0.1", path])
    assert rc == 0, err[-3000:]
    lines = stats_lines(err)
    assert len(lines) >= 1
    check_monotonic(lines, "file run")
    records = [json.loads(l) for l in out.splitlines()]
    check_last_equals_summary(lines[-1], summary_of(err), len(records), "file run")
    check_log_lines(err, "file run")
    rc, _, err = run(kuniq_bin, [path])
    assert rc == 0 and not stats_lines(err), "stats lines without --stats-interval"


@pytest.mark.parametrize("value", ["0", "0.05", "-1", "abc", ""])
def test_bad_stats_interval_is_a_usage_error(kuniq_bin, value):
    rc, out, err = run(kuniq_bin, ["--stats-interval", value], stdin=frame("a", T0) + b"\n")
    assert rc == 2 and "--stats-interval" in err and out == "", (rc, err)
    assert '{"summary"' not in err


def test_stats_go_on_while_the_input_is_silent(kuniq_bin, tmp_path, pipe_runs):
    """2000 frames, then 3 s without input (stdin open): stats lines go on at the interval
    (frames_per_s 0) and /metrics catches up with the 2000 frames within its refresh lag."""
    r = start(pipe_runs, kuniq_bin, ["--stats-interval", "0.5", "--metrics", "0"], tmp_path)
    port = metrics_port(r.wait_line(r"metrics: GET /metrics"))
    r.feed([frame("u%d" % (i % 50), T0 + i // 100) for i in range(2000)], 4000)
    time.sleep(0.3)
    before = len(stats_lines(r.stderr()))
    time.sleep(3.0)
    silent = stats_lines(r.stderr())[before:]
    status, _, body = scrape(port)
    r.close()
    assert len(silent) >= 3, "%d stats lines in 3 s of silence at --stats-interval 0.5" % len(
        silent)
    assert any(s["frames_per_s"] == 0 for s in silent), silent
    assert metric(parse_prometheus(body), "kuniq_frames_total") == 2000, body[:400]


# -- /metrics ------------------------------------------------------------------------------------

def test_metrics_scraped_during_a_slow_run(kuniq_bin, tmp_path, pipe_runs):
    """--metrics 0 (a free port, told by the log line) on a stream fed at 1500 frames/s for
    ~4 s (every 20th frame not JSON): every scrape is 200 and Prometheus text; kuniq_frames_total
    is never above the frames written before the scrape, never below those written 4 s before
    it (refreshed about once a second; the machine may be busy); the labels are the documented
    ones; a scrape after the end (stats of the last second flushed into the page) matches the
    summary; once kuniq has exited nothing listens on the port."""
    frames = [b"not json %d" % i if i % 20 == 7 else frame("u%d" % (i % 300), T0 + i // 50)
              for i in range(6000)]
    r = start(pipe_runs, kuniq_bin, ["--metrics", "0", "-w", "minute,hour"], tmp_path)
    port = metrics_port(r.wait_line(r"metrics: GET /metrics"))
    assert port and port > 0, r.stderr()
    scrapes = []
    last = [0.0]

    def on_tick():
        if time.monotonic() - last[0] < 0.3:
            return
        t = time.monotonic()
        status, ctype, body = scrape(port)
        scrapes.append((t, time.monotonic(), status, ctype, body))
        last[0] = time.monotonic()

    r.feed(frames, 1500, on_tick)
    time.sleep(1.5)
    # the pipe is still open: the page may lag behind the last batch; it is not checked here
    rc, records = r.close()
    err = r.stderr()
    assert rc == 0, err[-3000:]
    summary = summary_of(err)
    assert len(scrapes) >= 6, "only %d scrapes in the run" % len(scrapes)

    seen = []
    for t_sent, t_back, status, ctype, body in scrapes:
        assert status == 200, (status, body[:300])
        assert ctype.startswith("text/plain"), ctype
        if body == "":
            assert not seen, "an empty page after a full one"
            continue  # before the first report
        s = parse_prometheus(body)
        n = metric(s, "kuniq_frames_total")
        hi, lo = r.written_at(t_back), r.written_at(t_sent - 4.0)
        assert n is not None and lo <= n <= hi, (
            "kuniq_frames_total %r, but %d frames were written before the scrape and %d 4 s "
            "before it" % (n, hi, lo))
        seen.append(n)
        assert label_values(s, "kuniq_frames_rejected_total", "reason") == sorted(REJECT_REASONS)
        assert label_values(s, "kuniq_frames_late_total", "window") == ["hour", "minute"]
        for name in ("kuniq_bytes_total", "kuniq_open_windows", "kuniq_counter_bytes",
                     "kuniq_resident_bytes", "kuniq_windows_emitted_total",
                     "kuniq_uptime_seconds"):
            assert metric(s, name) is not None, "%s missing:\n%s" % (name, body)
        rejected = metric(s, "kuniq_frames_rejected_total", reason="not_json")
        assert abs(rejected - n / 20) <= 1, "not_json %r of %r frames" % (rejected, n)
        wm = metric(s, "kuniq_watermark_seconds")
        assert wm is None or T0 - 3600 <= wm <= T0 + 6000 // 50, wm
        assert not any(k[0].startswith("kuniq_partition") for k in s), "Kafka metrics in a file run"
    assert len(seen) >= 4 and seen == sorted(seen) and seen[-1] > seen[0], \
        "kuniq_frames_total over the run: %s" % seen
    assert seen[-1] >= 0.5 * len(frames), "the page lagged: %s of %d" % (seen, len(frames))
    assert summary["frames_read"] == len(frames) and len(records) == summary["windows_emitted"]

    with pytest.raises(urllib.error.URLError):
        scrape(port, timeout=3)


def test_metrics_other_paths_404(kuniq_bin, tmp_path, pipe_runs):
    r = start(pipe_runs, kuniq_bin, ["--metrics", "127.0.0.1:0"], tmp_path)
    port = metrics_port(r.wait_line(r"metrics: GET /metrics"))
    r.write([frame("a", T0)])
    for path in ("/", "/metric", "/metrics/x", "/favicon.ico"):
        status, _, body = scrape(port, path)
        assert status == 404, "GET %s: %d %r" % (path, status, body[:200])
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code in (404, 405), e.value.code
    status, _, _ = scrape(port)
    assert status == 200
    rc, _ = r.close()
    assert rc == 0


@pytest.mark.parametrize("value, says", [
    ("abc", "bad port"), ("70000", "bad port"), ("-1", "bad port"), ("", "bad port"),
    ("127.0.0.1:x", "bad port"), (":9100", "bad address"),
    ("1.2.3.4.5:9100", "not an IPv4 address"), ("example.com:9100", "not an IPv4 address"),
])
def test_bad_metrics_value_is_a_usage_error(kuniq_bin, value, says):
    rc, out, err = run(kuniq_bin, ["--metrics", value], stdin=frame("a", T0) + b"\n")
    assert rc == 2, "--metrics %r: exit %d:\n%s" % (value, rc, err)
    assert "--metrics %s" % value in err and says in err, err
    assert out == "" and '{"summary"' not in err, "it ran anyway:\n" + err
    assert any(" ERROR kuniq: " in l for l in check_log_lines(err, "--metrics " + value)), err


def test_metrics_port_in_use_is_a_usage_error(kuniq_bin):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, out, err = run(kuniq_bin, ["--metrics", str(port)], stdin=frame("a", T0) + b"\n")
    assert rc == 2 and "--metrics %d" % port in err and "cannot listen" in err, (rc, err)
    assert out == ""


# -- log lines, -q, -v ----------------------------------------------------------------------------

def test_log_lines_and_levels(kuniq_bin, e2e):
    """Every non-JSON stderr line of a run with the metrics log line and the warning is a log
    line; -q drops the INFO line but keeps the warning and the data lines; -v keeps both."""
    path = e2e.write("ms.jsonl", b"".join(f + b"\n" for f in ms_stream(3000)))
    args = ["--metrics", "0", "--stats-interval", "0.2", path]
    rc, _, err = run(kuniq_bin, args)
    assert rc == 0, err
    logs = check_log_lines(err, "default")
    assert [l for l in logs if " INFO  kuniq: metrics: GET /metrics on 0 (port " in l], logs
    assert [l for l in logs if " WARN  kuniq: warning: " in l], logs

    rc, _, err = run(kuniq_bin, ["-q"] + args)
    assert rc == 0, err
    logs = check_log_lines(err, "-q")
    assert not [l for l in logs if " INFO  " in l or " DEBUG " in l], "-q shows:\n" + err
    assert len([l for l in logs if " WARN  kuniq: warning: " in l]) == 1, "-q hides:\n" + err
    assert stats_lines(err) and summary_of(err)["frames_read"] == 3000, "-q hides data lines"

    rc, _, err = run(kuniq_bin, ["-v"] + args)
    assert rc == 0, err
    logs = check_log_lines(err, "-v")
    assert [l for l in logs if " INFO  kuniq: metrics:" in l], "-v hides INFO:\n" + err


def test_error_lines_are_log_lines(kuniq_bin, tmp_path):
    missing = os.path.join(str(tmp_path), "missing.jsonl")
    rc, _, err = run(kuniq_bin, [missing])
    assert rc == 1 and "missing.jsonl" in err, err
    logs = check_log_lines(err, "missing file")
    assert any(" ERROR kuniq: " in l and "missing.jsonl" in l for l in logs), err


# -- the rejection warning -----------------------------------------------------------------------

def _warnings(err):
    return [l for l in check_log_lines(err, "warning run") if " WARN  " in l]


@pytest.mark.parametrize("name, make, reason, hint", [
    ("ms", lambda n: ms_stream(n), "ts_range", MS_HINT),
    ("far", lambda n: [frame("u%d" % (i % 50), 4102444800 + 86400 * 365 + i) for i in range(n)],
     "ts_range", "ts is outside 2000..2100: is it unix seconds?"),
    ("user", lambda n: [json.dumps({"user": "u%d" % i, "ts": T0 + i}).encode() for i in range(n)],
     "no_uid", "see --uid-field"),
    ("csv", lambda n: [b"u%d,%d" % (i, T0 + i) for i in range(n)], "not_json",
     "is the input JSON lines"),
])
def test_warning_when_most_frames_are_rejected(kuniq_bin, name, make, reason, hint):
    """3000 frames, 2/3 of them bad in one way and 1/3 valid: one warning, `N of M frames
    rejected so far, mostly <reason>: <hint>` with N and M as counted when it was given."""
    bad = make(2000)
    good = [frame("g%d" % i, T0 + i // 10) for i in range(1000)]
    stream = [x for pair in zip(bad[0::2], bad[1::2], good) for x in pair]
    rc, _, err = run(kuniq_bin, [], stdin=b"".join(f + b"\n" for f in stream))
    assert rc == 0, err
    warns = _warnings(err)
    assert len(warns) == 1, "want one warning:\n" + err
    m = re.search(r"WARN  kuniq: warning: (\d+) of (\d+) frames rejected so far, mostly (\w+): "
                  r"(.*)$", warns[0])
    assert m, warns[0]
    n, total = int(m.group(1)), int(m.group(2))
    assert 1000 <= total <= 3000 and 2 * n >= total and abs(n - 2 * total / 3) <= 2, warns[0]
    assert m.group(3) == reason and hint in m.group(4), warns[0]
    summary = summary_of(err)
    assert summary["rejected"][reason] == 2000 and summary["frames_valid"] == 1000, summary
    # the warning comes before the summary
    assert err.index(warns[0]) < err.index('{"summary"')


def test_ms_warning_on_a_file_of_valid_millisecond_frames(kuniq_bin, e2e):
    """Every frame valid JSON with uid and ts, but ts in milliseconds: no record, every frame
    ts_range, the warning with the milliseconds hint, once, also when frames keep coming
    (100,000 frames: checked again later, not repeated)."""
    path = e2e.write("ms.jsonl", b"".join(f + b"\n" for f in ms_stream(100000, users=1000)))
    rc, out, err = run(kuniq_bin, [path])
    assert rc == 0 and out == "", err
    warns = _warnings(err)
    assert len(warns) == 1, err
    assert "frames rejected so far, mostly ts_range: " + MS_HINT in warns[0], warns[0]
    assert summary_of(err)["rejected"]["ts_range"] == 100000


@pytest.mark.parametrize("what, bad, good", [
    ("clean", 0, 5000),
    ("999 bad frames", 999, 0),     # below 1000 frames read
    ("40 % bad", 2000, 3000),       # less than half rejected
])
def test_no_warning_below_the_thresholds(kuniq_bin, what, bad, good):
    bads = ms_stream(bad)
    goods = [frame("g%d" % (i % 100), T0 + i // 20) for i in range(good)]
    stream = []  # mixed evenly: "so far" is below the threshold at every moment
    for i in range(bad + good):
        if bads and (not goods or len(bads) * (bad + good) > (bad + good - i) * bad):
            stream.append(bads.pop(0))
        else:
            stream.append(goods.pop(0))
    rc, _, err = run(kuniq_bin, [], stdin=b"".join(f + b"\n" for f in stream))
    assert rc == 0, err
    assert not _warnings(err), "%s: a warning:\n%s" % (what, err)
    assert summary_of(err)["frames_read"] == bad + good


def test_no_warning_on_a_generated_stream(e2e, kuniq_bin):
    path = e2e.gen("clean.jsonl", count=20000, rate=50, start=T0, users=1000, frame_size=200)
    rc, _, err = run(kuniq_bin, ["-v", path])
    assert rc == 0, err
    assert not _warnings(err) and not [l for l in check_log_lines(err, "clean") if "ERROR" in l]


def test_warning_while_a_slow_stream_goes_on(kuniq_bin, tmp_path, pipe_runs):
    """3000 millisecond frames fed over ~1.5 s through a pipe left open: the warning comes
    while the run goes on, not only at its end."""
    r = start(pipe_runs, kuniq_bin, [], tmp_path)
    r.feed(ms_stream(3000), 2000)
    try:
        r.wait_line(r"WARN  kuniq: warning: \d+ of \d+ frames rejected", timeout=5)
    finally:
        r.close()
