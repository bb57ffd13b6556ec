"""Independent truths for the event-time tests: exact per-window counts computed by brute force
on the frames a test wrote, with a calendar of its own (not oracle.py's Engine or Calendar), and
checks that every clean frame of a stream was counted in its window whatever corrupt frames were
mixed in.

The system under test is build/kuniq; with KUNIQ_SUT=oracle the same tests run against
tests/e2e/oracle.py instead (to check that the oracle, and the spec it implements, pass the
brute-force tests too). Idle periods are then replayed with Engine.idle_tick.
"""

import calendar as _calendar
import io
import json
import os
import queue
import subprocess
import threading
import time
from datetime import date, datetime, timedelta, timezone

import zoneinfo

import oracle
from conftest import Result, parse_summary

SUT = os.environ.get("KUNIQ_SUT", "kuniq")
KINDS = ["minute", "hour", "day", "week", "month", "year"]


def ts_of(y, mo=1, d=1, h=0, mi=0, s=0):
    """Unix seconds of a UTC date and time."""
    return _calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def line(uid, ts):
    """One frame: {"uid":"<uid>","ts":<ts>} (uid str or bytes)."""
    if isinstance(uid, str):
        uid = uid.encode()
    return b'{"uid":"%s","ts":%d}' % (uid, ts)


def lines(frames):
    """The bytes of a stream of (uid, ts) frames, one per line."""
    return b"".join(line(u, t) + b"\n" for u, t in frames)


# ---------------------------------------------------------------------------------------------
# Windows, computed here (section 2), and brute-force counts
# ---------------------------------------------------------------------------------------------

_zones = {}


def _zone(tz):
    if tz in ("UTC", None, ""):
        return timezone.utc
    if tz not in _zones:
        _zones[tz] = zoneinfo.ZoneInfo(tz)
    return _zones[tz]


def _local_midnight(d, tz):
    """Unix time of 00:00 local on date d. When 00:00 does not exist (a DST gap at midnight),
    the first instant of that day."""
    z = _zone(tz)
    naive = datetime(d.year, d.month, d.day)
    for minutes in range(0, 181):
        local = naive + timedelta(minutes=minutes)
        t = int(local.replace(tzinfo=z).timestamp())
        back = datetime.fromtimestamp(t, z).replace(tzinfo=None)
        if back == local:
            return t
    raise AssertionError("no midnight on %s in %s" % (d, tz))


def window(kind, ts, tz="UTC"):
    """(start, end) of the window of that kind holding ts."""
    if kind == "minute":
        return ts - ts % 60, ts - ts % 60 + 60
    if kind == "hour":
        return ts - ts % 3600, ts - ts % 3600 + 3600
    d = datetime.fromtimestamp(ts, _zone(tz)).date()
    if kind == "day":
        a, b = d, d + timedelta(days=1)
    elif kind == "week":
        a = d - timedelta(days=d.isoweekday() - 1)
        b = a + timedelta(days=7)
    elif kind == "month":
        a = date(d.year, d.month, 1)
        b = date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)
    elif kind == "year":
        a, b = date(d.year, 1, 1), date(d.year + 1, 1, 1)
    else:
        raise ValueError(kind)
    return _local_midnight(a, tz), _local_midnight(b, tz)


class Windows:
    """A memo of window() for long streams."""

    def __init__(self, tz="UTC"):
        self.tz = tz
        self._last = {}

    def __call__(self, kind, ts):
        w = self._last.get(kind)
        if w is None or not w[0] <= ts < w[1]:
            w = self._last[kind] = window(kind, ts, self.tz)
        return w


def brute(frames, kinds, tz="UTC"):
    """Exact counts of (uid, ts) frames per window: {(kind, start): (uniques, frames)}."""
    win = Windows(tz)
    users, counts = {}, {}
    for uid, ts in frames:
        if isinstance(uid, str):
            uid = uid.encode()
        for k in kinds:
            key = (k, win(k, ts)[0])
            users.setdefault(key, set()).add(uid)
            counts[key] = counts.get(key, 0) + 1
    return {key: (len(users[key]), counts[key]) for key in counts}


def read_frames(path):
    """(uid bytes, ts) of every line of a generated file (all must be valid: use streams
    without malformed frames)."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\r\n")
            obj = json.loads(raw)
            ts = obj["ts"]
            ts = int(ts) if isinstance(ts, str) else int(ts // 1)
            out.append((obj["uid"].encode(), ts))
    return out


def finals(records, kind=None):
    """{(kind, start): (uniques, frames)} of the last final record of every window."""
    out = {}
    for r in records:
        if r["final"] and (kind is None or r["window"] == kind):
            out[(r["window"], r["start"])] = (r["uniques"], r["frames"])
    return out


def ends(records):
    return {(r["window"], r["start"]): r["end"] for r in records}


# ---------------------------------------------------------------------------------------------
# Running the system under test
# ---------------------------------------------------------------------------------------------

def run(e2e, args, files=(), stdin=None):
    """Runs kuniq (or the oracle with KUNIQ_SUT=oracle) once; returns a conftest.Result."""
    if SUT == "oracle":
        records, summary = oracle.run(list(args) + list(files), stdin=io.BytesIO(stdin or b""))
        return Result(records, summary)
    return e2e.kuniq(args, files, stdin)


def write(e2e, name, frames):
    return e2e.write(name, lines(frames))


# ---------------------------------------------------------------------------------------------
# "Every clean frame counted in its window"
# ---------------------------------------------------------------------------------------------

def in_range(ts):
    return oracle.TS_MIN <= ts < oracle.TS_MAX


def check_clean_counted(res, clean, corrupt, kinds, tz="UTC", distinct_corrupt=False):
    """The final counts of `res` against a stream made of the frames `clean` (ordered, never late
    by the spec) and `corrupt` (any ts). For every window: clean_frames <= frames <= clean_frames
    + corrupt frames landing there, the same for uniques; no clean window missing; no window
    without a frame landing in it; late only up to the number of corrupt frames; every valid
    frame is counted or late (or rejected ts_ahead). With distinct_corrupt (the corrupt frames
    have uids of their own), the extra uniques equal the extra frames exactly. Returns a list of
    problems (empty: all good)."""
    problems = []
    got = finals(res.records)
    ok_clean = brute(clean, kinds, tz)
    valid_corrupt = [(u, t) for u, t in corrupt if in_range(t)]
    ok_corrupt = brute(valid_corrupt, kinds, tz)
    for key in sorted(set(ok_clean) | set(got)):
        cu, cf = ok_clean.get(key, (0, 0))
        xu, xf = ok_corrupt.get(key, (0, 0))
        if key not in got:
            if cf:
                problems.append("clean window %s missing (clean frames %d)" % (key, cf))
            continue
        u, f = got[key]
        if not (cf <= f <= cf + xf):
            problems.append("%s: frames %d, clean %d, corrupt landing there %d" % (key, f, cf,
                                                                                   xf))
        if not (cu <= u <= cu + xf):
            problems.append("%s: uniques %d, clean %d, corrupt landing there %d" % (key, u, cu,
                                                                                    xf))
        elif distinct_corrupt and u - cu != f - cf:
            problems.append("%s: %d extra uniques for %d extra frames" % (key, u - cu, f - cf))
    summ = res.summary
    valid = summ["frames_valid"]
    if valid != len(clean) + len(valid_corrupt) - summ["rejected"]["ts_ahead"]:
        problems.append("frames_valid %d, expected %d clean + %d in-range corrupt - %d ts_ahead"
                        % (valid, len(clean), len(valid_corrupt), summ["rejected"]["ts_ahead"]))
    if summ["rejected"]["ts_ahead"] > len(valid_corrupt):
        problems.append("ts_ahead %d > %d corrupt frames" % (summ["rejected"]["ts_ahead"],
                                                             len(valid_corrupt)))
    for k in kinds:
        late = summ["late"][k]
        if late > len(valid_corrupt):
            problems.append("late.%s = %d > %d corrupt frames" % (k, late, len(valid_corrupt)))
        counted = sum(f for (kk, _), (_, f) in got.items() if kk == k)
        if counted + late != valid:
            problems.append("%s: %d counted + %d late != %d valid" % (k, counted, late, valid))
    return problems


# ---------------------------------------------------------------------------------------------
# A stream through a pipe, with pauses (section 6)
# ---------------------------------------------------------------------------------------------

class _Reader(threading.Thread):
    """Collects (wall time of arrival, record) from kuniq's stdout."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.q = pipe, queue.Queue()

    def run(self):
        for raw in self.pipe:
            if raw.strip():
                self.q.put((time.time(), json.loads(raw)))
        self.q.put(None)


class Pipe:
    """kuniq reading frames from a pipe that the test writes to and pauses; with
    KUNIQ_SUT=oracle, the oracle fed the same frames, a pause replayed by Engine.idle_tick once
    a (simulated) second after the idle timeout, as section 6 describes."""

    def __init__(self, kuniq_bin, args, idle_timeout):
        self.args = list(args) + ["--idle-timeout", str(idle_timeout)]
        self.T = idle_timeout
        self.got = []              # (wall time of arrival, record)
        self.last_send = None
        if SUT == "oracle":
            self.pl = oracle.Pipeline(self.args)
            self.pl.out = None
            self.p = None
        else:
            self.p = subprocess.Popen([kuniq_bin] + self.args, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.reader = _Reader(self.p.stdout)
            self.reader.start()

    def send(self, data):
        if self.p is None:
            for raw in data.split(b"\n"):
                if raw:
                    self.pl.feed(raw)
            self._collect(time.time())
        else:
            self.p.stdin.write(data)
            self.p.stdin.flush()
        self.last_send = time.time()

    def _collect(self, at):
        while len(self.got) < len(self.pl.records):
            self.got.append((at, self.pl.records[len(self.got)]))

    def wait_for(self, pred, timeout):
        """Waits (at most timeout seconds) for a record matching pred; returns (arrival, record)
        or fails. The oracle replays the idle ticks instead of waiting."""
        for at, r in self.got:
            if pred(r):
                return at, r
        if self.p is None:
            t = self.last_send + self.T
            while t <= self.last_send + timeout:
                self.pl.idle(int(t))
                self._collect(t)
                for at, r in self.got:
                    if pred(r):
                        return at, r
                t += 1
            raise AssertionError("oracle: no such record within %s s" % timeout)
        deadline = time.time() + timeout
        while True:
            try:
                item = self.reader.q.get(timeout=max(deadline - time.time(), 0.01))
            except queue.Empty:
                raise AssertionError("kuniq: no such record within %s s; got %s"
                                     % (timeout, [r for _, r in self.got][-5:]))
            if item is None:
                raise AssertionError("kuniq ended early: " + self.p.stderr.read().decode())
            self.got.append(item)
            if pred(item[1]):
                return item

    def close(self):
        """Ends the input; returns a conftest.Result with every record."""
        if self.p is None:
            summary = self.pl.finish()
            self._collect(time.time())
            return Result([r for _, r in self.got], summary)
        try:
            self.p.stdin.close()
            self.p.wait(timeout=120)
            self.reader.join(timeout=30)
            while True:
                item = self.reader.q.get(timeout=30)
                if item is None:
                    break
                self.got.append(item)
            err = self.p.stderr.read().decode("utf-8", "replace")
        finally:
            if self.p.poll() is None:
                self.p.kill()
        assert self.p.returncode == 0, err
        return Result([r for _, r in self.got], parse_summary(err), err)
