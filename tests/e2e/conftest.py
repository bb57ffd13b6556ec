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
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import oracle  # noqa: E402

# Fields compared between kuniq and the oracle (docs/semantics.md section 8).
FIELDS = ["window", "start", "end", "uniques", "frames", "exact", "final", "revision", "late"]
RUN_TIMEOUT = 600


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


def _record_diff(k, o):
    """Differences between a kuniq record and an oracle record (empty list: equal)."""
    diffs = []
    for f in FIELDS:
        kv, ov = k.get(f, "<missing>"), o.get(f)
        if f == "uniques" and not o["exact"] and not k.get("exact", True):
            err = float(k.get("error", 0)) or 0.02
            if abs(kv - ov) > max(6 * err * ov, 2):
                diffs.append("%s: kuniq %r, oracle %r (beyond 6 x error %g)" % (f, kv, ov, err))
            continue
        if kv != ov or type(kv) is not type(ov):
            diffs.append("%s: kuniq %r, oracle %r" % (f, kv, ov))
    if "start_iso" in k and _norm_iso(k["start_iso"]) != _norm_iso(o["start_iso"]):
        diffs.append("start_iso: kuniq %r, oracle %r" % (k["start_iso"], o["start_iso"]))
    if k.get("exact") is True and k.get("error", 0) != 0:
        diffs.append("error: %r on an exact record" % k.get("error"))
    return diffs


def compare_records(krecs, orecs):
    """Returns a description of the first disagreements, or '' when the lists agree."""
    msgs = []
    for i in range(max(len(krecs), len(orecs))):
        k = krecs[i] if i < len(krecs) else None
        o = orecs[i] if i < len(orecs) else None
        if k is None or o is None:
            msgs.append("record %d: kuniq %s / oracle %s" % (i, json.dumps(k), json.dumps(o)))
        else:
            d = _record_diff(k, o)
            if d:
                msgs.append("record %d (%s %s): %s\n  kuniq  %s\n  oracle %s"
                            % (i, o["window"], o["start"], "; ".join(d), json.dumps(k),
                               json.dumps(o)))
        if len(msgs) >= 8:
            msgs.append("...")
            break
    if msgs:
        msgs.insert(0, "kuniq emitted %d records, the oracle %d" % (len(krecs), len(orecs)))
    return "\n".join(msgs)


def compare_summaries(ks, os_):
    msgs = []
    for f in ["frames_read", "frames_valid"]:
        if ks.get(f) != os_[f]:
            msgs.append("summary %s: kuniq %r, oracle %r" % (f, ks.get(f), os_[f]))
    for reason, n in os_["rejected"].items():
        kn = ks.get("rejected", {}).get(reason)
        if kn != n:
            msgs.append("summary rejected.%s: kuniq %r, oracle %r" % (reason, kn, n))
    for kind, n in os_["late"].items():
        kn = ks.get("late", {}).get(kind)
        if kn != n:
            msgs.append("summary late.%s: kuniq %r, oracle %r" % (kind, kn, n))
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
        msg = compare_records(k.records, o.records)
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
