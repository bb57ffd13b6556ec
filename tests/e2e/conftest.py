"""Fixtures for the end-to-end tests: the binaries, the generator, and a helper that runs kuniq
and the independent oracle (oracle.py) on the same input and compares them field by field.

Environment:
  KUNIQ_BIN      kuniq binary to test (default build/kuniq; e.g. build/asan/kuniq)
  KUNIQ_GEN_BIN  generator (default build/kuniq-gen)
  KUNIQ_E2E_KEEP directory where the inputs and outputs of failing comparisons are kept
                 (default build/e2e-failures)
"""

import gzip
import json
import math
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import oracle  # noqa: E402

# Every field of a record (docs/semantics.md section 8, README's output schema), in kuniq's
# order. All are compared with the oracle: `uniques` of a sketch record within a tolerance,
# `error` against the sketch's formula, `start_iso` modulo Z / +00:00, the rest for equality.
RECORD_FIELDS = ["window", "start", "end", "start_iso", "uniques", "frames", "exact", "error",
                 "final", "revision", "late", "late_window"]
FIELDS = ["window", "start", "end", "uniques", "frames", "exact", "final", "revision", "late",
          "late_window"]
# Every field of the stderr summary (README). The first group must equal the oracle's; the timing
# fields cannot, and are checked for shape and consistency instead.
SUMMARY_FIELDS = ["frames_read", "frames_valid", "rejected", "late", "bytes", "windows_emitted",
                  "emit_errors", "out_of_memory"]
SUMMARY_TIMING = ["elapsed_s", "frames_per_s", "mb_per_s"]
# Summary fields an older oracle.py may lack, and the value it would give: the oracle never fails
# to emit and never runs out of memory. Used only while the oracle's summary lacks the field.
ORACLE_SUMMARY_DEFAULTS = {"emit_errors": 0, "out_of_memory": 0}
RUN_TIMEOUT = 600

# The sketch's relative standard error: ELL_RSE_CONST / sqrt(2^p) (src/exaloglog.c, ell_rse;
# docs/counting.md: 0.537 % at the default precision 12). A sketch record's `uniques` must lie
# within SKETCH_SIGMAS standard errors of the truth (the oracle's exact count); beyond 4 sigma a
# correct sketch lands once in ~16,000 records. Below 2^p uids the sketch is more accurate than
# this (docs/counting.md), so the bound is loose there, never tight.
SKETCH_RSE_CONST = 0.34375838677455064
DEFAULT_PRECISION = 12
SKETCH_SIGMAS = 4


def sketch_rse(precision=DEFAULT_PRECISION):
    return SKETCH_RSE_CONST / math.sqrt(2 ** precision)


def precision_of(args):
    """The --precision given in kuniq's arguments, or the default."""
    args = list(args)
    for i, a in enumerate(args):
        if a == "--precision" and i + 1 < len(args):
            return int(args[i + 1])
        if a.startswith("--precision="):
            return int(a.split("=", 1)[1])
    return DEFAULT_PRECISION


def sketch_tolerance(truth, precision=DEFAULT_PRECISION):
    """Largest |uniques - truth| accepted for a sketch record: SKETCH_SIGMAS x RSE x truth, and
    at least 1 (uniques is a rounded estimate)."""
    return max(SKETCH_SIGMAS * sketch_rse(precision) * truth, 1.0)


def _binary(env, default):
    path = os.environ.get(env) or os.path.join(ROOT, default)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("%s not found or not executable: %s (run `make`, or set %s)"
                    % (default, path, env), pytrace=False)
    return path


@pytest.fixture(scope="session")
def kuniq_bin():
    return _binary("KUNIQ_BIN", "build/kuniq")


@pytest.fixture(scope="session")
def gen_bin():
    return _binary("KUNIQ_GEN_BIN", "build/kuniq-gen")


class Result:
    """Records and summary of one run (kuniq or oracle)."""

    def __init__(self, records, summary, stderr=""):
        self.records = records
        self.summary = summary
        self.stderr = stderr

    def by_kind(self, kind):
        return [r for r in self.records if r["window"] == kind]

    def finals(self, kind=None):
        """The last final record of each window (after revisions), keyed by (kind, start)."""
        out = {}
        for r in self.records:
            if r["final"] and (kind is None or r["window"] == kind):
                out[(r["window"], r["start"])] = r
        return out

    @property
    def rejected(self):
        return self.summary["rejected"]


def parse_summary(stderr):
    for line in reversed(stderr.splitlines()):
        line = line.strip()
        if line:
            try:
                obj = json.loads(line)
            except ValueError:
                break
            if isinstance(obj, dict) and "summary" in obj:
                return obj["summary"]
            break
    raise AssertionError("kuniq: no summary as the last stderr line:\n" + stderr[-2000:])


def _norm_iso(s):
    return s[:-1] + "+00:00" if isinstance(s, str) and s.endswith("Z") else s


def _record_diff(k, o, precision=DEFAULT_PRECISION):
    """Differences between a kuniq record and an oracle record (empty list: equal)."""
    diffs = []
    if list(k) != RECORD_FIELDS:
        diffs.append("kuniq's fields %s, want %s" % (list(k), RECORD_FIELDS))
    missing = [f for f in RECORD_FIELDS if f not in o]
    if missing:
        diffs.append("the oracle's record lacks %s" % missing)
    sketch = o.get("exact") is False and k.get("exact") is False
    for f in FIELDS:
        kv, ov = k.get(f, "<missing>"), o.get(f, "<missing>")
        if f == "uniques" and sketch and isinstance(kv, int) and isinstance(ov, int):
            tol = sketch_tolerance(ov, precision)
            if abs(kv - ov) > tol:
                diffs.append("uniques: kuniq %r, oracle (exact count) %r: off by %.3f %%, beyond "
                             "%d sigma (%.3f %%) of the sketch at p=%d"
                             % (kv, ov, 100.0 * abs(kv - ov) / max(ov, 1), SKETCH_SIGMAS,
                                100.0 * SKETCH_SIGMAS * sketch_rse(precision), precision))
            continue
        if kv != ov or type(kv) is not type(ov):
            diffs.append("%s: kuniq %r, oracle %r" % (f, kv, ov))
    if _norm_iso(k.get("start_iso")) != _norm_iso(o.get("start_iso")):
        diffs.append("start_iso: kuniq %r, oracle %r" % (k.get("start_iso"), o.get("start_iso")))
    err = k.get("error")
    if k.get("exact") is True:
        if err != 0 or type(err) is not int:
            diffs.append("error: %r on an exact record (want 0)" % (err,))
    elif k.get("exact") is False:
        # printed with 6 significant digits ("%.6g"): equal to the formula to 1e-5 relative
        want = sketch_rse(precision)
        if not isinstance(err, (int, float)) or abs(err - want) > 1e-5 * want:
            diffs.append("error: kuniq %r, want the sketch's RSE %.6g at p=%d"
                         % (err, want, precision))
    return diffs


def compare_records(krecs, orecs, precision=DEFAULT_PRECISION):
    """Returns a description of the first disagreements, or '' when the lists agree."""
    msgs = []
    for i in range(max(len(krecs), len(orecs))):
        k = krecs[i] if i < len(krecs) else None
        o = orecs[i] if i < len(orecs) else None
        if k is None or o is None:
            msgs.append("record %d: kuniq %s / oracle %s" % (i, json.dumps(k), json.dumps(o)))
        else:
            d = _record_diff(k, o, precision)
            if d:
                msgs.append("record %d (%s %s): %s\n  kuniq  %s\n  oracle %s"
                            % (i, o.get("window"), o.get("start"), "; ".join(d), json.dumps(k),
                               json.dumps(o)))
        if len(msgs) >= 8:
            msgs.append("...")
            break
    if msgs:
        msgs.insert(0, "kuniq emitted %d records, the oracle %d" % (len(krecs), len(orecs)))
    return "\n".join(msgs)


def compare_summaries(ks, os_):
    """Every summary field: equal to the oracle's (the counts), or well-formed (the timings)."""
    msgs = []
    if sorted(ks) != sorted(SUMMARY_FIELDS + SUMMARY_TIMING):
        msgs.append("summary fields: kuniq %s, want %s"
                    % (sorted(ks), sorted(SUMMARY_FIELDS + SUMMARY_TIMING)))
    for f in SUMMARY_FIELDS:
        kv = ks.get(f, "<missing>")
        ov = os_.get(f, ORACLE_SUMMARY_DEFAULTS.get(f, "<missing in the oracle>"))
        if f in ("rejected", "late") and isinstance(kv, dict) and isinstance(ov, dict):
            for key in sorted(set(kv) | set(ov)):
                if kv.get(key, "<missing>") != ov.get(key, "<missing>"):
                    msgs.append("summary %s.%s: kuniq %r, oracle %r"
                                % (f, key, kv.get(key, "<missing>"), ov.get(key, "<missing>")))
        elif kv != ov or type(kv) is not type(ov):
            msgs.append("summary %s: kuniq %r, oracle %r" % (f, kv, ov))
    for f in SUMMARY_TIMING:
        v = ks.get(f)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            msgs.append("summary %s: %r is not a number >= 0" % (f, v))
    if not msgs and ks["elapsed_s"] >= 0.2:
        # the rates are the counts over the elapsed time (printed as %.3f, %.0f and %.1f)
        for f, n in (("frames_per_s", ks["frames_read"]), ("mb_per_s", ks["bytes"] / 1e6)):
            want = n / ks["elapsed_s"]
            if abs(ks[f] - want) > 0.01 * want + 0.6:
                msgs.append("summary %s: %r, but %s / elapsed_s = %.3f" % (f, ks[f], n, want))
    return "\n".join(msgs)


class E2E:
    """Per-test helper: generates streams, runs kuniq and the oracle, compares them."""

    def __init__(self, kuniq, gen, tmp, name):
        self.kuniq_bin, self.gen_bin, self.tmp, self.name = kuniq, gen, str(tmp), name
        self._n = 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def gen(self, name="stream.jsonl", **opts):
        """Runs kuniq-gen with --key value options (underscores become dashes; True = flag);
        returns the output path."""
        args = [self.gen_bin]
        for k, v in opts.items():
            flag = "--" + k.replace("_", "-")
            if v is True:
                args.append(flag)
            elif v is not False and v is not None:
                args += [flag, str(v)]
        out = self.path(name)
        with open(out, "wb") as f:
            subprocess.run(args, stdout=f, check=True, timeout=RUN_TIMEOUT)
        return out

    def write(self, name, data):
        out = self.path(name)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(out, "wb") as f:
            f.write(data)
        return out

    def kuniq(self, args, files=(), stdin=None, check=True):
        cmd = [self.kuniq_bin] + list(args) + list(files)
        p = subprocess.run(cmd, input=stdin if stdin is not None else b"",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
        err = p.stderr.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise AssertionError("kuniq exited with %d: %s\nstderr:\n%s"
                                 % (p.returncode, " ".join(cmd), err[-3000:]))
        records = [json.loads(l) for l in p.stdout.decode("utf-8").splitlines() if l.strip()]
        return Result(records, parse_summary(err), err)

    def oracle(self, args, files=(), stdin=None):
        import io
        s = io.BytesIO(stdin) if stdin is not None else io.BytesIO(b"")
        records, summary = oracle.run(list(args) + list(files), stdin=s)
        return Result(records, summary)

    def compare(self, args, files=(), stdin=None, summary=True):
        """Runs both on the same input; fails with a reproducer when any record or summary count
        differs. Returns (kuniq result, oracle result)."""
        k = self.kuniq(args, files, stdin)
        o = self.oracle(args, files, stdin)
        msg = compare_records(k.records, o.records, precision_of(args))
        if summary:
            sm = compare_summaries(k.summary, o.summary)
            msg = "\n".join(m for m in (msg, sm) if m)
        if msg:
            where = self._keep(args, files, stdin, k, o)
            raise AssertionError("kuniq and the oracle disagree (inputs kept in %s; reproduce "
                                 "with `%s`)\n%s" % (where, self._repro(args, files, stdin, where),
                                                     msg))
        return k, o

    def _keep(self, args, files, stdin, k, o):
        base = os.environ.get("KUNIQ_E2E_KEEP") or os.path.join(ROOT, "build", "e2e-failures")
        self._n += 1
        where = os.path.join(base, "%s-%d" % (self.name, self._n))
        shutil.rmtree(where, ignore_errors=True)
        os.makedirs(where)
        for f in files:
            if f != "-":
                shutil.copy(f, where)
        if stdin is not None:
            with open(os.path.join(where, "stdin"), "wb") as fh:
                fh.write(stdin)
        with open(os.path.join(where, "kuniq.out"), "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in k.records)
            fh.write(k.stderr)
        with open(os.path.join(where, "oracle.out"), "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in o.records)
            fh.write(json.dumps({"summary": o.summary}) + "\n")
        with open(os.path.join(where, "args"), "w") as fh:
            fh.write(" ".join(args) + "\n")
        return where

    def _repro(self, args, files, stdin, where):
        names = [f if f == "-" else os.path.join(where, os.path.basename(f)) for f in files]
        a = " ".join(list(args) + names)
        pre = "< %s/stdin " % where if stdin is not None else ""
        return "build/kuniq %s %s; python3 tests/e2e/oracle.py %s %s" % (a, pre, a, pre)


@pytest.fixture
def e2e(kuniq_bin, gen_bin, tmp_path, request):
    return E2E(kuniq_bin, gen_bin, tmp_path, request.node.name.replace("/", "_"))


@pytest.fixture(scope="session")
def kafka():
    """One Kafka broker for the whole session (kafka_broker.py), whatever module asks for it."""
    import kafka_broker
    yield from kafka_broker.broker_session()


@pytest.fixture(autouse=True)
def kafka_cleanup():
    """After each test: a kuniq left running by a failed Kafka test is killed, and a broker it
    left stopped is started again, so one failure does not fail the tests after it."""
    yield
    kb = sys.modules.get("kafka_broker")
    if kb is None:
        return
    while kb.Kuniq.running:
        k = kb.Kuniq.running.pop()
        if k.p.poll() is None:
            k.p.kill()
            k.p.wait()
    for b in list(kb.Broker.instances):
        if b.down:
            b.start()


def read_lines(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n")[:-1]


def valid_frames(path, uid_field="uid", ts_field="ts", max_frame=65536):
    """(uid bytes, ts) of every valid frame of a file, in order (oracle.classify)."""
    out = []
    for line in read_lines(path):
        if line.endswith(b"\r"):
            line = line[:-1]
        reason, uid, ts = oracle.classify(line, max_frame, uid_field, ts_field)
        if reason is None:
            out.append((uid, ts))
    return out


def brute_force(frames, kinds, tz="UTC"):
    """Exact counts of all given frames per window: {(kind, start): (uniques, frames)}."""
    cal = oracle.Calendar(tz)
    sets, counts = {}, {}
    for uid, ts in frames:
        for k in kinds:
            s, _ = cal.window(k, ts)
            sets.setdefault((k, s), set()).add(uid)
            counts[(k, s)] = counts.get((k, s), 0) + 1
    return {key: (len(v), counts[key]) for key, v in sets.items()}
