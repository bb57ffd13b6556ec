#!/usr/bin/env python3
"""oracle.py - the independent reference implementation of docs/semantics.md.

It reads the same input as kuniq, takes the same options and prints records in the same schema
(stdout) and the same summary line (stderr), so the end-to-end tests can compare the two field
by field. It shares no code with kuniq (Python 3 standard library only) and is written for
clarity, not speed: exact counting with Python sets of the raw uid bytes.

Structure (one section per part of the spec):
  1. classify()      frame validation and its reason codes (semantics section 1)
  2. Calendar        window boundaries in UTC or any IANA zone via zoneinfo (section 2)
  3./4./5. Engine    event clock, watermark, emission, late frames, early results (sections 3-7)
  6. main()          the command line, inputs (files, '-', *.gz) and the summary

Readings chosen where docs/semantics.md leaves room (docs/testing.md lists them too):
  - JSON validity is Python's json module (C scanner) plus: strict UTF-8 decoding of the whole
    frame first, NaN/Infinity rejected, numbers never converted (no overflow, no digit limit).
    Escaped lone surrogates ("\\ud800") are valid JSON (RFC 8259's grammar allows them).
  - too_deep: nesting deeper than 1024 (the top-level object is depth 1). When both a syntax
    error and too much depth are present, the one met first reading left to right wins; invalid
    UTF-8 anywhere is not_json.
  - too_long compares the frame length after the trailing '\\r' is removed; a line made only of
    whitespace is `empty` whatever its length (precedence table).
  - uid errors: no_uid, then bad_uid (any top-level uid value is not a string), then dup_uid;
    ts errors the same way (no_ts, bad_ts, dup_ts), then ts_range.
  - --late update: a window created by a late frame (never emitted before) is emitted with
    revision 0, its first emission; later re-emissions count up from there.
  - The command line never goes idle (it reads to the end); Engine.idle_tick lets a test replay
    an idle period at a chosen point of the stream.
"""

import argparse
import gzip
import json
import re
import sys
import time
from collections import deque
from datetime import date, datetime, timedelta, timezone
from json.decoder import scanstring

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9
    zoneinfo = None

sys.setrecursionlimit(20000)
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

KINDS = ["minute", "hour", "day", "week", "month", "year"]
REASONS = ["empty", "too_long", "not_json", "too_deep", "not_object", "no_uid", "bad_uid",
           "dup_uid", "no_ts", "bad_ts", "dup_ts", "ts_range", "ts_ahead"]
MAX_DEPTH = 1024
TS_MIN = 946684800       # 2000-01-01T00:00:00Z
TS_MAX = 4102444800      # 2100-01-01T00:00:00Z (exclusive)
INT63_MIN = -(1 << 63)
INT63_MAX = (1 << 63) - 1

# ---------------------------------------------------------------------------------------------
# 1. Frames
# ---------------------------------------------------------------------------------------------

JSON_WS = b" \t\r\n"
_ws_re = re.compile(r"[ \t\n\r]*")
# Lexical tokens for counting depth: whole strings (so brackets inside them are skipped) and
# brackets. An unterminated string does not match and its content is scanned as structure; such a
# frame is invalid anyway and the prefix check in _depth_reason decides.
_depth_token_re = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_number_re = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]+))?")
_digits_re = re.compile(r"[0-9]{1,18}")


class Invalid(Exception):
    """A frame that is not one valid JSON value; pos: where the error was found."""

    def __init__(self, msg, pos=None):
        super().__init__(msg)
        self.pos = pos


def _reject_constant(name):
    raise Invalid("non-standard constant " + name)


def _ignore(_):
    return None


# A decoder whose values are never converted: only validity and positions matter here.
_decoder = json.JSONDecoder(parse_float=_ignore, parse_int=_ignore,
                            parse_constant=_reject_constant, object_pairs_hook=_ignore,
                            strict=True)
_scan_once = _decoder.scan_once


def _skip_ws(text, i):
    return _ws_re.match(text, i).end()


def _scan_value(text, i):
    """Validates the JSON value starting at i; returns the index after it."""
    try:
        _, end = _scan_once(text, i)
    except StopIteration as e:
        raise Invalid("expected a value", e.value if e.value is not None else i)
    except json.JSONDecodeError as e:
        raise Invalid(str(e), e.pos)
    except Invalid as e:
        raise Invalid(str(e), i)  # NaN/Infinity: somewhere in this value
    except (ValueError, RecursionError) as e:
        raise Invalid(str(e), i)
    return end


def _scan_key(text, i):
    """Validates the string starting at text[i] == '"'; returns (decoded, index after it)."""
    try:
        return scanstring(text, i + 1, True)
    except json.JSONDecodeError as e:
        raise Invalid(str(e), e.pos)
    except ValueError as e:
        raise Invalid(str(e), i)


def parse_top(text):
    """Validates text as one JSON value (surrounding whitespace allowed).

    Returns the list of top-level members (decoded key, value start, value end) when the value is
    an object, None when it is valid but not an object; raises Invalid otherwise."""
    n = len(text)
    i = _skip_ws(text, 0)
    if i < n and text[i] == "{":
        members = []
        i = _skip_ws(text, i + 1)
        if text[i:i + 1] == "}":
            i += 1
        else:
            while True:
                if text[i:i + 1] != '"':
                    raise Invalid("expected a key", i)
                key, j = _scan_key(text, i)
                j = _skip_ws(text, j)
                if text[j:j + 1] != ":":
                    raise Invalid("expected ':'", j)
                vstart = _skip_ws(text, j + 1)
                vend = _scan_value(text, vstart)
                members.append((key, vstart, vend))
                k = _skip_ws(text, vend)
                c = text[k:k + 1]
                if c == ",":
                    i = _skip_ws(text, k + 1)
                    continue
                if c == "}":
                    i = k + 1
                    break
                raise Invalid("expected ',' or '}'", k)
        i = _skip_ws(text, i)
        if i != n:
            raise Invalid("trailing data", i)
        return members
    end = _skip_ws(text, _scan_value(text, i))
    if end != n:
        raise Invalid("trailing data", end)
    return None


def _depth_reason(text):
    """None when nesting stays within MAX_DEPTH, else 'too_deep' or 'not_json' (whichever a
    left-to-right reader meets first)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    closers = []
    for m in _depth_token_re.finditer(text):
        tok = m.group()
        if tok == "[" or tok == "{":
            if len(closers) == MAX_DEPTH:
                # Is everything before this bracket a valid JSON prefix? Close it artificially.
                p = m.start()
                probe = text[:p] + "0" + "".join(reversed(closers))
                try:
                    parse_top(probe)
                except Invalid as e:
                    if e.pos is None or e.pos <= p:
                        return "not_json"
                return "too_deep"
            closers.append("]" if tok == "[" else "}")
        elif tok == "]" or tok == "}":
            if closers:
                closers.pop()
    return None


def floor_number(raw):
    """The floor of a JSON number literal as an int, or None when it does not fit in 63 bits."""
    m = _number_re.fullmatch(raw)
    if not m:
        return None
    sign, ipart, frac, exp = m.group(1), m.group(2), m.group(3) or "", m.group(4) or "0"
    digits = (ipart + frac).lstrip("0")
    if not digits:
        return 0
    e = int(exp) - len(frac)
    magnitude = len(digits) + e          # 10^(magnitude-1) <= |value| < 10^magnitude
    if magnitude > 20:
        return None
    if magnitude <= 0:                   # 0 < |value| < 1
        return -1 if sign else 0
    mant = int(digits)
    if e >= 0:
        q, r = mant * 10 ** e, 0
    else:
        q, r = divmod(mant, 10 ** -e)
    v = -q - (1 if r else 0) if sign else q
    return v if INT63_MIN <= v <= INT63_MAX else None


def classify(frame, max_frame, uid_field, ts_field):
    """Validates one frame (bytes, line end removed). Returns (reason, uid, ts): reason is None
    for a valid frame, uid its raw bytes between the quotes, ts the integer seconds."""
    if not frame.strip(JSON_WS):
        return "empty", None, None
    if len(frame) > max_frame:
        return "too_long", None, None
    try:
        text = frame.decode("utf-8", "strict")
    except UnicodeDecodeError:
        return "not_json", None, None
    deep = _depth_reason(text)
    if deep:
        return deep, None, None
    try:
        members = parse_top(text)
    except Invalid:
        return "not_json", None, None
    if members is None:
        return "not_object", None, None

    uids = [(s, e) for k, s, e in members if k == uid_field]
    if not uids:
        return "no_uid", None, None
    if any(text[s] != '"' for s, _ in uids):
        return "bad_uid", None, None
    if len(uids) > 1:
        return "dup_uid", None, None
    s, e = uids[0]
    uid = text[s + 1:e - 1].encode("utf-8")

    tss = [text[s:e] for k, s, e in members if k == ts_field]
    if not tss:
        return "no_ts", None, None
    values = [_ts_value(raw) for raw in tss]
    if any(v is None for v in values):
        return "bad_ts", None, None
    if len(values) > 1:
        return "dup_ts", None, None
    ts = values[0]
    if ts < TS_MIN or ts >= TS_MAX:
        return "ts_range", None, None
    return None, uid, ts


def _ts_value(raw):
    if raw[0] == '"':
        inner = raw[1:-1]
        return int(inner) if _digits_re.fullmatch(inner) else None
    if raw[0] == "-" or "0" <= raw[0] <= "9":
        return floor_number(raw)
    return None


# ---------------------------------------------------------------------------------------------
# 2. Windows
# ---------------------------------------------------------------------------------------------

class Calendar:
    """Window boundaries: minute/hour on unix time; day/week/month/year at local midnight."""

    def __init__(self, tz_name):
        self.utc = tz_name in (None, "", "UTC")
        if self.utc:
            self.tz = timezone.utc
        else:
            if zoneinfo is None:
                raise SystemExit("oracle: zoneinfo is needed for --tz")
            self.tz = zoneinfo.ZoneInfo(tz_name)
        self._cache = {}

    def _midnight(self, d):
        # fold=0: at an ambiguous local midnight the first occurrence; in a gap, the transition.
        return int(datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp())

    def window(self, kind, ts):
        if kind == "minute":
            s = ts - ts % 60
            return s, s + 60
        if kind == "hour":
            s = ts - ts % 3600
            return s, s + 3600
        hit = self._cache.get(kind)
        if hit and hit[0] <= ts < hit[1]:
            return hit
        d = datetime.fromtimestamp(ts, self.tz).date()
        if kind == "day":
            a, b = d, d + timedelta(days=1)
        elif kind == "week":
            a = d - timedelta(days=d.weekday())
            b = a + timedelta(days=7)
        elif kind == "month":
            a = d.replace(day=1)
            b = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        elif kind == "year":
            a, b = date(d.year, 1, 1), date(d.year + 1, 1, 1)
        else:
            raise ValueError(kind)
        w = (self._midnight(a), self._midnight(b))
        assert w[0] <= ts < w[1], (kind, ts, w)
        self._cache[kind] = w
        return w

    def iso(self, ts):
        if self.utc:
            return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return datetime.fromtimestamp(ts, self.tz).isoformat()


# ---------------------------------------------------------------------------------------------
# 3.-7. The engine: event clock, watermark, windows, late frames, early results
# ---------------------------------------------------------------------------------------------

class Window:
    __slots__ = ("kind", "start", "end", "frames", "users", "revision", "changed")

    def __init__(self, kind, start, end):
        self.kind, self.start, self.end = kind, start, end
        self.frames = 0
        self.users = set()
        self.revision = -1     # last emitted revision; -1 = never emitted
        self.changed = False


class Engine:
    """One input (stdin/files together): semantics sections 3 to 7, exact counting."""

    def __init__(self, kinds, cal, lateness=5, max_ahead=300, jump_confirm=16,
                 max_pending=65536, late_update=False, keep_closed=3600, early=0,
                 mode="auto", exact_limit=1000000, emit=None):
        self.kinds = [k for k in KINDS if k in kinds]
        self.cal = cal
        self.L, self.A, self.C, self.P = lateness, max_ahead, jump_confirm, max_pending
        self.late_update, self.K, self.E = late_update, keep_closed, early
        self.mode, self.exact_limit = mode, exact_limit
        self.emit = emit or (lambda rec: None)
        self.clock = None
        self.startup = []
        self.pending = deque()
        self.run = 0
        self.G = None
        self.open = {k: {} for k in self.kinds}
        self.kept = {k: {} for k in self.kinds}
        self.late = {k: 0 for k in self.kinds}
        self.ts_ahead = 0
        self.windows_emitted = 0

    # -- section 3: the clock --
    def frame(self, ts, uid):
        if self.clock is None:
            self.startup.append((ts, uid))
            if len(self.startup) >= self.C:
                self._start()
            return
        self._process([(ts, uid)])

    def _start(self):
        held, self.startup = self.startup, []
        tss = sorted(t for t, _ in held)
        self.clock = tss[(len(tss) - 1) // 2]
        self._advance()
        self._process(held)

    def _process(self, frames):
        work = deque(frames)
        while work:
            ts, uid = work.popleft()
            if ts > self.clock + self.A:
                if len(self.pending) >= self.P:
                    self.pending.popleft()
                    self.ts_ahead += 1
                self.pending.append((ts, uid))
                self.run += 1
                if self.run >= self.C:
                    last = sorted(t for t, _ in list(self.pending)[-self.C:])
                    self.clock = last[(len(last) - 1) // 2]
                    self.run = 0
                    self._advance()
                    again = list(self.pending)
                    self.pending.clear()
                    work.extendleft(reversed(again))
            else:
                self.clock = max(self.clock, ts)
                self.run = 0
                self._advance()
                self._add(ts, uid)

    # -- section 4: watermark and emission --
    def _advance(self):
        g = self.clock - self.L
        if self.G is not None and g <= self.G:
            return
        old, self.G = self.G, g
        for k in self.kinds:
            done = sorted((w for w in self.open[k].values() if w.end <= g), key=lambda w: w.start)
            for w in done:
                del self.open[k][w.start]
                self._emit(w, final=True, revision=0)
                w.revision = 0
                if self.late_update:
                    self.kept[k][w.start] = w
        self._emit_revisions()
        if self.late_update:
            for k in self.kinds:
                for s in [s for s, w in self.kept[k].items() if w.end <= g - self.K]:
                    del self.kept[k][s]
        if self.E > 0 and old is not None and g // self.E > old // self.E:
            for k in self.kinds:
                for w in sorted(self.open[k].values(), key=lambda w: w.start):
                    if w.frames > 0:
                        self._emit(w, final=False, revision=0)

    def _emit_revisions(self):
        for k in self.kinds:
            for w in sorted((w for w in self.kept[k].values() if w.changed),
                            key=lambda w: w.start):
                w.revision += 1
                w.changed = False
                self._emit(w, final=True, revision=w.revision)

    def _emit(self, w, final, revision):
        n = len(w.users)
        exact = self.mode == "exact" or (self.mode == "auto" and n <= self.exact_limit)
        self.windows_emitted += 1
        self.emit({
            "window": w.kind, "start": w.start, "end": w.end, "start_iso": self.cal.iso(w.start),
            "uniques": n, "frames": w.frames, "exact": exact, "error": 0,
            "final": final, "revision": revision, "late": self.late[w.kind],
        })

    # -- section 5: adding a frame --
    def _add(self, ts, uid):
        g = self.G
        for k in self.kinds:
            start, end = self.cal.window(k, ts)
            if g is None or end > g:
                w = self.open[k].get(start)
                if w is None:
                    w = self.open[k][start] = Window(k, start, end)
            else:
                self.late[k] += 1
                if not self.late_update or end <= g - self.K:
                    continue
                w = self.kept[k].get(start)
                if w is None:
                    w = self.kept[k][start] = Window(k, start, end)
                w.changed = True
            w.frames += 1
            w.users.add(uid)

    # -- section 6: idle input, wall time --
    def idle_tick(self, now):
        """The input has been idle for the idle timeout; now: wall time in unix seconds."""
        if self.clock is None and self.startup:
            self._start()
        if self.clock is not None:
            self.clock = max(self.clock, now)
            self._advance()

    # -- end of input --
    def finish(self):
        if self.clock is None and self.startup:
            self._start()
        self.ts_ahead += len(self.pending)
        self.pending.clear()
        for k in self.kinds:
            for w in sorted(self.open[k].values(), key=lambda w: w.start):
                self._emit(w, final=True, revision=0)
                w.revision = 0
            self.open[k].clear()
        self._emit_revisions()


# ---------------------------------------------------------------------------------------------
# 8. Command line, inputs, records and summary
# ---------------------------------------------------------------------------------------------

def read_frames(paths, stdin=None):
    """Yields (frame bytes, raw length) for every line of every input, in order. A file that does
    not end in '\\n' still ends its last frame (frames never span files)."""
    for path in paths or ["-"]:
        if path == "-":
            f = stdin if stdin is not None else sys.stdin.buffer
            close = False
        elif path.endswith(".gz"):
            f, close = gzip.open(path, "rb"), True
        else:
            f, close = open(path, "rb"), True
        try:
            for line in f:
                raw = len(line)
                if line.endswith(b"\n"):
                    line = line[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                yield line, raw
        finally:
            if close:
                f.close()


def parse_args(argv):
    p = argparse.ArgumentParser(prog="oracle.py", description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="*")
    p.add_argument("-w", "--windows", default="minute")
    p.add_argument("--uid-field", default="uid")
    p.add_argument("--ts-field", default="ts")
    p.add_argument("--tz", default="UTC")
    p.add_argument("--lateness", type=int, default=5)
    p.add_argument("--max-ahead", type=int, default=300)
    p.add_argument("--jump-confirm", type=int, default=16)
    p.add_argument("--max-pending", type=int, default=65536)
    p.add_argument("--late", choices=["drop", "update"], default="drop")
    p.add_argument("--keep-closed", type=int, default=3600)
    p.add_argument("--early", type=int, default=0)
    p.add_argument("--idle-timeout", type=float, default=10)   # accepted, no effect (see above)
    p.add_argument("--max-frame", type=int, default=65536)
    p.add_argument("--mode", choices=["exact", "approx", "auto"], default="auto")
    p.add_argument("--exact-limit", type=int, default=1000000)
    p.add_argument("--precision", type=int, default=None)      # accepted, no effect
    p.add_argument("--parser", default="auto")                 # accepted, no effect
    a = p.parse_args(argv)
    kinds = [k.strip() for k in a.windows.split(",") if k.strip()]
    for k in kinds:
        if k not in KINDS:
            p.error("unknown window kind: " + k)
    a.kinds = kinds
    return a


class Pipeline:
    """Frames in (bytes, line end removed), records out: classify + Engine + the summary."""

    def __init__(self, argv, out=None):
        self.args = a = parse_args(argv)
        self.records = []
        self.out = out
        self.engine = Engine(a.kinds, Calendar(a.tz), a.lateness, a.max_ahead, a.jump_confirm,
                             a.max_pending, a.late == "update", a.keep_closed, a.early, a.mode,
                             a.exact_limit, self._emit)
        self.rejected = dict.fromkeys(REASONS, 0)
        self.frames_read = 0
        self.nbytes = 0
        self.t0 = time.monotonic()

    def _emit(self, rec):
        self.records.append(rec)
        if self.out is not None:
            self.out.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n")

    def feed(self, frame, raw_len=None):
        a = self.args
        self.frames_read += 1
        self.nbytes += len(frame) + 1 if raw_len is None else raw_len
        reason, uid, ts = classify(frame, a.max_frame, a.uid_field, a.ts_field)
        if reason:
            self.rejected[reason] += 1
        else:
            self.engine.frame(ts, uid)

    def idle(self, now):
        self.engine.idle_tick(now)

    def finish(self):
        """Ends the input; returns the summary dict."""
        eng = self.engine
        eng.finish()
        self.rejected["ts_ahead"] = eng.ts_ahead
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        return {
            "frames_read": self.frames_read,
            "frames_valid": self.frames_read - sum(self.rejected.values()),
            "rejected": dict(self.rejected),
            "late": dict(eng.late),
            "bytes": self.nbytes,
            "elapsed_s": round(elapsed, 6),
            "frames_per_s": round(self.frames_read / elapsed, 1),
            "mb_per_s": round(self.nbytes / elapsed / 1e6, 3),
            "windows_emitted": eng.windows_emitted,
        }


def run(argv, out=None, err=None, stdin=None):
    """Runs the oracle like its command line; returns (records, summary dict)."""
    p = Pipeline(argv, out)
    for frame, raw in read_frames(p.args.files, stdin):
        p.feed(frame, raw)
    summary = p.finish()
    if err is not None:
        err.write(json.dumps({"summary": summary}, separators=(",", ":")) + "\n")
    return p.records, summary


def main():
    run(sys.argv[1:], out=sys.stdout, err=sys.stderr)


if __name__ == "__main__":
    main()
