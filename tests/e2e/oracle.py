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
  - The command line never goes idle (it reads to the end); Engine.idle_tick(now) is one of the
    once-a-second ticks of section 6, so a test can replay an idle period at a chosen point.
  - Section 3, step 5 is read as "if settle > 1: settle -= 1; *else* if settle == 1 and clock >
    jump_at + L: release", so a frame either counts down or releases, never both: a burst whose
    times advance (1 s apart) closes windows after exactly J + R frames, as the spec's "at least
    J + R frames" says (reading the two sentences in sequence would release one frame earlier).
    The frame that confirmed a jump already counts down in its own step 5 (settle is set to R in
    step 3). Far-behind frames (step 4) never count down.
  - Section 3, end of input: the clock moves to an added held frame's ts but the watermark does
    not (every open window is emitted next anyway).
  - Section 5 with --late update: a window created by a late frame and not emitted yet is the
    window of its (kind, start): if a frame later reaches it on time (after a rewind), it is
    counted there and the window is emitted once, revision 0, with both frames.
  - Section 4, "closed": a window is closed by its first *final* emission (revision 0); early
    results (`"final":false`) do not close a window, revisions do not move it in the ring.
  - Section 5, "was never emitted": the oracle remembers every window it emitted (not only the
    last 4096), so after a rewind a late frame for a long-forgotten window is still dropped.
  - Section 6, historical idle input with an unset clock: clock = wclock = the smallest held ts,
    settle = 0, every held frame with ts <= clock is added (normally just that one), and the
    watermark becomes wclock - L.
  - Summary `bytes`: the raw bytes read from the inputs, line ends included (a file's size; the
    decompressed size for *.gz), so a 3-line file of 84 bytes says 84. `emit_errors` and
    `out_of_memory` are always 0 here.
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
    __slots__ = ("kind", "start", "end", "frames", "users", "revision", "changed", "late")

    def __init__(self, kind, start, end):
        self.kind, self.start, self.end = kind, start, end
        self.frames = 0
        self.late = 0          # frames counted here after the window was final (--late update)
        self.users = set()
        self.revision = -1     # last emitted revision; -1 = never emitted
        self.changed = False


class Held:
    """A frame ahead of the clock, waiting for later frames to agree (section 3)."""
    __slots__ = ("ts", "uid", "support", "near", "against")

    def __init__(self, ts, uid):
        self.ts, self.uid = ts, uid
        self.support = 0       # later frames at or beyond ts
        self.near = 0          # ... of which at most A beyond it
        self.against = 0       # later frames more than S behind it


CLOSED_RING = 4096     # emitted windows remembered per kind (section 4)


class Engine:
    """One input (stdin/files together): semantics sections 3 to 7, exact counting.

    Names follow docs/semantics.md: L, A, J, P are the options; K = min(3, J) the margin of
    support a step needs, R = 2J the refutation (and settle) count, S = L the tolerance. The
    keep-closed duration of section 5 is `keep_closed` here (the spec calls it K too)."""

    def __init__(self, kinds, cal, lateness=5, max_ahead=300, jump_confirm=8,
                 max_pending=4096, late_update=False, keep_closed=3600, early=0,
                 mode="auto", exact_limit=1000000, emit=None):
        self.kinds = [k for k in KINDS if k in kinds]
        self.cal = cal
        self.L, self.A, self.J, self.P = lateness, max_ahead, jump_confirm, max_pending
        self.K = min(3, self.J)
        self.R = 2 * self.J
        self.S = self.L
        self.late_update, self.keep_closed, self.E = late_update, keep_closed, early
        self.mode, self.exact_limit = mode, exact_limit
        self.emit = emit or (lambda rec: None)
        # section 3: the input's clock
        self.clock = None          # unset at first
        self.wclock = None         # the clock the watermark follows
        self.settle = 0            # 0 = settled
        self.jump_at = None        # where the first jump since the input was last settled landed
        self.held = []             # H, arrival order
        self.behind = []           # B, arrival order: (ts, uid)
        # section 4: the global watermark (one input: its own watermark) and the windows
        self.G = None
        self.open = {k: {} for k in self.kinds}
        self.kept = {k: {} for k in self.kinds}
        self.closed = {k: deque() for k in self.kinds}     # the last CLOSED_RING emitted
        self.closed_set = {k: set() for k in self.kinds}
        self.emitted = {k: set() for k in self.kinds}      # every window ever emitted (final)
        self.late = {k: 0 for k in self.kinds}
        self.ts_ahead = 0
        self.windows_emitted = 0

    # -- section 3: the event clock --
    def frame(self, ts, uid):
        """One valid, in-range frame (steps 1 to 6)."""
        # 1. Evidence
        for h in self.held:
            if ts >= h.ts:
                h.support += 1
                if ts <= h.ts + self.A:
                    h.near += 1
            elif ts < h.ts - self.S:
                h.against += 1
        # 2. Refutation
        refuted = [h for h in self.held if h.against >= self.R]
        if refuted:
            self.held = [h for h in self.held if h.against < self.R]
            self.ts_ahead += len(refuted)
        # 3. Confirmation
        self._confirm()
        # 4. Far behind
        if self.clock is not None and ts < self.clock - self.A:
            self.behind.append((ts, uid))
            if len(self.behind) < self.J:
                return
            # moved back: the held frames are the tail of the period left, added where they are
            held, self.held = self.held, []
            for h in held:
                self._add(h.ts, h.uid)
            tss = sorted(t for t, _ in self.behind)
            self.clock = self.wclock = tss[(self.J - 1) // 2]
            self.settle = 0
            self._watermark(rewind=True)
            self._place_behind()
            return
        self._place_behind()
        # 5. Settling
        if self.settle > 1:
            self.settle -= 1
        elif self.settle == 1 and self.clock > self.jump_at + self.L:
            self.settle = 0
            self.wclock = self.clock
            self._watermark()
        # 6. Placement
        self._place(ts, uid)

    def _confirmed(self, h):
        """Its supporters outnumber its contradictors by need(h): J for a jump (the clock unset
        or h more than A ahead of it), K for a step, counting only supporters at most A beyond
        it."""
        if self.clock is None or h.ts > self.clock + self.A:
            return h.support >= self.J + h.against
        return h.near >= self.K + h.against

    def _confirm(self):
        while True:
            ready = [h for h in self.held if self._confirmed(h)]
            if not ready:
                return
            c = max(h.ts for h in ready)
            if self.clock is None:
                self.clock = self.wclock = c
                self.settle = 0
            elif c > self.clock + self.A:          # a jump: the watermark waits (step 5)
                if self.settle == 0:
                    self.settle = self.R
                    self.jump_at = c
                self.clock = c
            else:                                  # a step
                self.clock = c
                if self.settle == 0:
                    self.wclock = self.clock
            self._add_held_up_to_clock()
            self._watermark()

    def _add_held_up_to_clock(self):
        now = [h for h in self.held if h.ts <= self.clock]
        if now:
            self.held = [h for h in self.held if h.ts > self.clock]
            for h in now:
                self._add(h.ts, h.uid)

    def _place_behind(self):
        frames, self.behind = self.behind, []
        for ts, uid in frames:
            self._place(ts, uid)

    def _place(self, ts, uid):
        """Step 6."""
        if self.clock is not None and ts <= self.clock:
            self._add(ts, uid)
            return
        if len(self.held) >= self.P:
            self.held.pop(0)
            self.ts_ahead += 1
        self.held.append(Held(ts, uid))

    # -- section 4: watermark and emission --
    def _watermark(self, rewind=False):
        """The input's watermark becomes wclock - L; it is G (one input)."""
        g = self.wclock - self.L
        if self.G is not None and g < self.G:
            if rewind:
                self.G = g           # G only decreases on a rewind; nothing is emitted
            return
        if self.G is not None and g == self.G:
            return
        self._advance(g)

    def _advance(self, g):
        old, self.G = self.G, g
        for k in self.kinds:
            done = sorted((w for w in self.open[k].values() if w.end <= g), key=lambda w: w.start)
            for w in done:
                del self.open[k][w.start]
                self._emit_final(w)
                if self.late_update:
                    self.kept[k][w.start] = w
        self._emit_revisions()
        if self.late_update:
            for k in self.kinds:
                for s in [s for s, w in self.kept[k].items() if w.end <= g - self.keep_closed]:
                    del self.kept[k][s]
        if self.E > 0 and old is not None and g // self.E > old // self.E:
            for k in self.kinds:
                for w in sorted(self.open[k].values(), key=lambda w: w.start):
                    if w.frames > 0:
                        self._emit(w, final=False, revision=0)

    def _emit_final(self, w):
        w.revision = 0
        w.changed = False
        self._emit(w, final=True, revision=0)
        self._close(w)

    def _close(self, w):
        ring, members = self.closed[w.kind], self.closed_set[w.kind]
        self.emitted[w.kind].add(w.start)
        if w.start in members:
            return
        ring.append(w.start)
        members.add(w.start)
        if len(ring) > CLOSED_RING:
            members.discard(ring.popleft())

    def _emit_revisions(self):
        for k in self.kinds:
            for w in sorted((w for w in self.kept[k].values() if w.changed),
                            key=lambda w: w.start):
                w.changed = False
                if w.revision < 0:
                    self._emit_final(w)          # created by a late frame: revision 0
                else:
                    w.revision += 1
                    self._emit(w, final=True, revision=w.revision)

    def _emit(self, w, final, revision):
        n = len(w.users)
        exact = self.mode == "exact" or (self.mode == "auto" and n <= self.exact_limit)
        self.windows_emitted += 1
        self.emit({
            "window": w.kind, "start": w.start, "end": w.end, "start_iso": self.cal.iso(w.start),
            "uniques": n, "frames": w.frames, "exact": exact, "error": 0,
            "final": final, "revision": revision, "late": self.late[w.kind],
            "late_window": w.late,
        })

    # -- section 5: adding a frame --
    def _add(self, ts, uid):
        g = self.G
        for k in self.kinds:
            start, end = self.cal.window(k, ts)
            if (g is None or end > g) and start not in self.closed_set[k]:
                w = self.open[k].get(start)
                if w is None:
                    # One window per (kind, start): one created by a late frame and not emitted
                    # yet (possible after a rewind) takes this frame too, and is emitted once.
                    w = self.kept[k].get(start)
                    if w is not None and w.revision < 0:
                        del self.kept[k][start]
                    else:
                        w = Window(k, start, end)
                    self.open[k][start] = w
            else:
                self.late[k] += 1
                if not self.late_update:
                    continue
                w = self.kept[k].get(start)
                if w is None:
                    if start in self.emitted[k] or end <= g - self.keep_closed:
                        continue
                    w = self.kept[k][start] = Window(k, start, end)
                w.changed = True
                w.late += 1
            w.frames += 1
            w.users.add(uid)

    # -- section 6: idle input, wall time --
    def live(self, now):
        """Whether the input, idle at wall time `now`, is live (else historical)."""
        if self.clock is not None:
            return self.clock >= now - self.A
        return bool(self.held) and all(now - self.A <= h.ts <= now + self.A for h in self.held)

    def idle_tick(self, now):
        """One of the once-a-second ticks of an input idle for --idle-timeout; now: wall time
        in unix seconds. The command line never goes idle (it reads to the end)."""
        if self.live(now):
            self.clock = self.wclock = now if self.clock is None else max(self.clock, now)
            self.settle = 0
            self._place_behind()
            self._add_held_up_to_clock()
            self._watermark()
        elif self.clock is None and self.held:
            self.clock = self.wclock = min(h.ts for h in self.held)
            self.settle = 0
            self._add_held_up_to_clock()
            self._watermark()

    # -- end of input --
    def finish(self):
        self._place_behind()
        held, self.held = self.held, []
        for h in held:
            if h.against >= h.support + self.K:       # contradictors outnumber supporters by K
                self.ts_ahead += 1
            else:
                if self.clock is None or h.ts > self.clock:
                    self.clock = h.ts
                self._add(h.ts, h.uid)
        for k in self.kinds:
            for w in sorted(self.open[k].values(), key=lambda w: w.start):
                self._emit_final(w)
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
    p.add_argument("--jump-confirm", type=int, default=8)
    p.add_argument("--max-pending", type=int, default=4096)
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
            "emit_errors": 0,
            "out_of_memory": 0,
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
