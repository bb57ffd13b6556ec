"""Resumable file runs: `--checkpoint FILE` (docs/state.md, "Files: --checkpoint FILE").

Every test drives the real binary. The stream of the module (500,000 short frames with delays,
malformed frames, bit flips, inserted garbage and late frames, split across three files, the
middle one gzipped) is generated once; the reference for every run is kuniq's own uninterrupted
run without --checkpoint, and that reference is compared with the oracle (oracle.py, run in the
background while the other tests run) by the last test of the module. So "byte-identical to the
uninterrupted run" below also means "equal to the oracle's records".

  test_sigkill_loop_*      SIGKILL at seeded random moments (some right after a checkpoint was
                           saved, some during the start), then a run to the end: the appended
                           stdout file is byte-identical, the summary counts every frame once
  test_pause_*             SIGTERM / SIGINT is a pause (exit 0, open windows stay open), also
                           with --late update; the runs together give identical output
  test_pipe_* / test_stdin_*  pipes and FIFOs are refused (exit 2), stdin from a file resumes
  test_damaged_* / test_other_options_*  a damaged or foreign checkpoint is refused (exit 1)
                           before anything is written, and is left as it was
  test_finished_*          a run that reached the end: running it again emits nothing
  test_resume_onto_pipe_*  stdout not a regular file when resuming: a warning, exit 0
"""

import gzip
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from conftest import HERE, RUN_TIMEOUT, compare_records, compare_summaries, parse_summary

KINDS = "minute,hour,day"
T0 = 1468244384  # the generator's first ts
# Summary counters that must be the same whether the input was read in one run or in many
# (`bytes` included: the input bytes consumed, each once, decompressed for .gz).
COUNTERS = ["frames_read", "frames_valid", "rejected", "late", "bytes", "windows_emitted",
            "emit_errors", "out_of_memory"]
RESUME_RE = re.compile(r"resuming at file (\d+), byte (\d+) \(line (\d+)\)")
GEN = dict(count=500000, frame_size=100, users=20000, rate=200, seed=2024, delay=30,
           delay_prob=0.01, bitflip_prob=0.0005, malformed_prob=0.004, long_line_bytes=70000,
           string_ts_prob=0.01)
SPLIT = (120000, 380000)       # generated lines per file: [0, a), [a, b), [b, end)
MAX_KILL_RUNS = 30             # SIGKILLed runs at most per kill loop, then a run to the end
WAIT = 60                      # seconds a poll for a condition may take before the test fails


# ---------------------------------------------------------------------------------------------
# The module's stream, references, and the oracle in the background
# ---------------------------------------------------------------------------------------------

class Stream:
    def __init__(self, kuniq_bin, gen_bin, d):
        self.kuniq_bin, self.dir = kuniq_bin, d
        raw = d / "gen.jsonl"
        args = [gen_bin]
        for k, v in GEN.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        with open(raw, "wb") as f:
            subprocess.run(args, stdout=f, check=True, timeout=RUN_TIMEOUT)
        with open(raw, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        os.unlink(raw)
        a, b = SPLIT
        late = [b'{"uid":"late-%d","ts":%d}\n' % (i, T0 + 7 * i) for i in range(5)]
        # file 1 ends in garbage; the .gz starts with a frame of the first minute (late for
        # minute and hour) and two rejected frames; file 3 carries late frames mid-way and ends
        # in a CRLF frame
        parts = [
            lines[:a] + [b"\x00\xffnot json\n", b'{"uid":"cut","ts":14682\n', b"\n", b" \t\n"],
            late[:1] + [b"[1,2,3]\n", b'{"ts":%d}\n' % (T0 + 10)] + lines[a:b],
            lines[b:b + 50000] + late[1:] + lines[b + 50000:]
            + [b'{"uid":"crlf","ts":%d}\r\n' % (T0 + 4600)],
        ]
        self.files = [str(d / "part1.jsonl"), str(d / "part2.jsonl.gz"), str(d / "part3.jsonl")]
        for path, part in zip(self.files, parts):
            if path.endswith(".gz"):
                with gzip.open(path, "wb", compresslevel=1) as f:
                    f.writelines(part)
            else:
                with open(path, "wb") as f:
                    f.writelines(part)
        self.frames = sum(len(p) for p in parts)
        self.first_frames = len(parts[0])
        self._refs = {}
        self.kill_outputs = {}

    def reference(self, args, files=None):
        """stdout bytes and summary of an uninterrupted run without --checkpoint (cached)."""
        files = list(files or self.files)
        key = (tuple(args), tuple(files))
        if key not in self._refs:
            p = subprocess.run([self.kuniq_bin] + list(args) + files, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=RUN_TIMEOUT)
            assert p.returncode == 0, p.stderr.decode()[-2000:]
            self._refs[key] = (p.stdout, parse_summary(p.stderr.decode()))
        return self._refs[key]


@pytest.fixture(scope="module")
def stream(kuniq_bin, gen_bin, tmp_path_factory):
    return Stream(kuniq_bin, gen_bin, tmp_path_factory.mktemp("resume"))


class OracleJob:
    """oracle.py over the module's stream, in a background process (~10-15 s)."""

    def __init__(self, stream):
        self.out, self.err = stream.dir / "oracle.out", stream.dir / "oracle.err"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "oracle.py"),
                                       "-w", KINDS] + stream.files, stdout=o, stderr=e,
                                      stdin=subprocess.DEVNULL)

    def result(self):
        rc = self.p.wait(timeout=RUN_TIMEOUT)
        err = self.err.read_text()
        assert rc == 0, "oracle.py exited with %d:\n%s" % (rc, err[-2000:])
        with open(self.out) as f:
            records = [json.loads(l) for l in f if l.strip()]
        return records, parse_summary(err)


@pytest.fixture(scope="module")
def oracle_job(stream):
    job = OracleJob(stream)
    yield job
    if job.p.poll() is None:
        job.p.kill()
        job.p.wait()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def counters(summary):
    return {k: summary.get(k, "<missing>") for k in COUNTERS}


def stat_key(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def wait_for_save(p, ck, before):
    """Polls until the checkpoint file was replaced since `before` (a stat_key) or p ended;
    returns the new stat_key."""
    deadline = time.monotonic() + WAIT
    while stat_key(ck) == before and p.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint saved to %s within %d s" % (ck, WAIT)
        time.sleep(0.001)
    return stat_key(ck)


def wait_for_handlers(p):
    """Polls until p catches SIGINT and SIGTERM (/proc/PID/status SigCgt), or ended: a signal
    sent before kuniq installs its handlers would kill it instead of pausing it."""
    mask = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    deadline = time.monotonic() + WAIT
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                m = re.search(r"^SigCgt:\s*([0-9a-fA-F]+)", f.read(), re.M)
        except FileNotFoundError:
            return
        if m and int(m.group(1), 16) & mask == mask:
            return
        assert time.monotonic() < deadline, "kuniq never installed its signal handlers"
        time.sleep(0.001)


def start(cmd, out, errf, stdin_path=None):
    """Starts cmd with stdout appended to `out` (the shell's >>) and stderr to `errf`."""
    with open(out, "ab") as o, open(errf, "wb") as e, \
            open(stdin_path or os.devnull, "rb") as i:
        return subprocess.Popen(cmd, stdout=o, stderr=e, stdin=i)


def finish(p, errf):
    rc = p.wait(timeout=RUN_TIMEOUT)
    with open(errf, "rb") as f:
        return rc, f.read().decode("utf-8", "replace")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def resumed_at(err):
    """(file, byte, line) of the 'resuming at' line, or None (a fresh start)."""
    m = RESUME_RE.search(err)
    return tuple(int(g) for g in m.groups()) if m else None


def pause_mid_run(cmd, out, ck, errf, rng, total, stdin_path=None, max_delay=0.08,
                  attempts=8):
    """Starts cmd from scratch (no checkpoint, empty `out`) and pauses it with SIGTERM at a
    random moment; tries again until the pause landed mid-input (the summary has read some
    frames, not all). Returns the paused run's summary."""
    for _ in range(attempts):
        for f in (ck, out):
            if os.path.exists(f):
                os.unlink(f)
        p = start(cmd, out, errf, stdin_path)
        wait_for_handlers(p)
        time.sleep(rng.uniform(0.01, max_delay))
        p.send_signal(signal.SIGTERM)
        rc, err = finish(p, errf)
        assert rc == 0, "a paused run exited with %d:\n%s" % (rc, err[-2000:])
        s = parse_summary(err)
        if 0 < s["frames_read"] < total:
            assert os.path.exists(ck), "a pause saved no checkpoint"
            return s
    raise AssertionError("no pause landed mid-input in %d attempts" % attempts)


# ---------------------------------------------------------------------------------------------
# 1. SIGKILL at random moments, then a run to the end
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", [1, 2])
def test_sigkill_loop_output_identical(kuniq_bin, stream, oracle_job, threads):
    """A run with --checkpoint-interval 0.05 is SIGKILLed again and again (seeded random
    moments: a quarter within 30 ms of the start, during the restore or the .gz skip; the rest
    0-50 ms after the run's 1st to 4th save), stdout appended to one file, until the resume
    positions covered at least 5 places mid-input, inside each of the files (or a run got to
    the end by itself); then a run to the end. After every kill the file is a prefix of the
    uninterrupted run's stdout; at the end it is byte-identical to it, and the last summary's
    counters equal the uninterrupted run's."""
    args = ["-w", KINDS, "--threads", str(threads)]
    ref_out, ref_sum = stream.reference(args)
    # the stream has what it should: late frames of every kind, rejections of many reasons
    assert ref_sum["frames_read"] == stream.frames
    assert min(ref_sum["late"].values()) > 0 and ref_sum["late"]["minute"] > 300
    rej = ref_sum["rejected"]
    assert sum(rej.values()) > 2000 and min(rej.values()) > 0, rej
    assert ref_out.count(b"\n") > 45
    if threads != 1:
        assert ref_out == stream.reference(["-w", KINDS, "--threads", "1"])[0]

    work = stream.dir / ("kill-%d" % threads)
    work.mkdir()
    ck, out, errf = work / "ck", work / "out.jsonl", work / "stderr"
    open(out, "wb").close()
    cmd = [kuniq_bin, "-w", KINDS, "--checkpoint", str(ck), "--checkpoint-interval", "0.05",
           "--threads", str(threads)] + stream.files
    end = (len(stream.files), 0)
    rng = random.Random(9000 + threads)
    positions, killed, removed, log = [], 0, 0, []
    while True:
        mid = {p[:2] for p in positions if (0, 0) < p[:2] < end}
        inside = {f for f, b in mid if b > 0}
        kill = killed < MAX_KILL_RUNS and not (len(mid) >= 5 and inside == {0, 1, 2})
        before = had = stat_key(ck)
        p = start(cmd, out, errf)
        how, early = "to the end", False
        if kill:
            early = rng.random() < 0.25
            if early:
                d = rng.uniform(0, 0.03)
                how = "killed %.3f s after the start" % d
                time.sleep(d)
            else:
                # up to 4 saves: a slow machine still crosses the first file within the kill
                # budget, and a fast one cannot jump over the .gz (its 260,000 lines take far
                # more than 5 intervals of work); past the .gz without a resume in it, one
                in_first = not positions or positions[-1][0] == 0
                saves = rng.randint(1, 4) if (1 in inside or in_first) else 1
                d = rng.uniform(0, 0.05)
                how = "killed %.3f s after its save %d" % (d, saves)
                for _ in range(saves):
                    before = wait_for_save(p, ck, before)
                time.sleep(d)
            p.kill()
        rc, err = finish(p, errf)
        at = resumed_at(err)
        log.append("run %d: %s, rc %d, resumed at %s" % (len(log), how, rc, at))
        # a run resumes when an earlier one saved a checkpoint (a run killed within its first
        # milliseconds may not have said so yet), never otherwise
        assert had is not None or at is None, "\n".join(log) + "\n" + err
        assert early or had is None or at is not None, "\n".join(log) + "\n" + err
        if at is not None:
            positions.append(at)
        removed += "removed" in err and "after the checkpoint" in err
        got = read(out)
        if rc == 0:
            break
        assert rc == -signal.SIGKILL, "\n".join(log) + "\n" + err[-2000:]
        killed += 1
        assert ref_out.startswith(got), \
            "after a kill, stdout is not a prefix of the uninterrupted run's\n" + "\n".join(log)

    where = "\n".join(log)
    assert got == ref_out, "the output of the killed runs differs from the uninterrupted " \
        "run's (%d vs %d bytes)\n%s" % (len(got), len(ref_out), where)
    assert counters(parse_summary(err)) == counters(ref_sum), where
    assert not os.path.exists(str(ck) + ".tmp"), where
    # the kills really landed mid-run: positions only move forward, and at least two runs were
    # killed after saving a position strictly inside the input (the loop aims at 5, in every
    # file, and makes sure of one inside the .gz)
    assert positions == sorted(positions), where
    mid = {p[:2] for p in positions if (0, 0) < p[:2] < end}
    assert killed >= 2 and len(mid) >= 2, where
    assert any(f == 1 and b > 0 for f, b in mid), "no resume inside the .gz file\n" + where
    assert removed >= 1, "no resume cut results written after its checkpoint\n" + where
    stream.kill_outputs[threads] = got
    print(where)


# ---------------------------------------------------------------------------------------------
# 2. SIGTERM / SIGINT: a pause
# ---------------------------------------------------------------------------------------------

def test_pause_and_resume_late_update(kuniq_bin, stream, tmp_path):
    """--late update (revisions of closed windows), default --checkpoint-interval (10 s, so
    only the pauses save): SIGTERM or SIGINT at seeded random moments pauses the run (exit 0,
    summary printed); the file is then a prefix of the uninterrupted run's stdout without the
    day window (still open); the runs together write it byte for byte."""
    args = ["-w", KINDS, "--late", "update", "--threads", "1"]
    ref_out, ref_sum = stream.reference(args)
    revisions = [json.loads(l) for l in ref_out.splitlines() if b'"revision":0' not in l]
    assert len(revisions) > 10 and all(r["final"] and r["revision"] > 0 for r in revisions)
    ck, out, errf = tmp_path / "ck", tmp_path / "out.jsonl", tmp_path / "stderr"
    open(out, "wb").close()
    cmd = [kuniq_bin] + args + ["--checkpoint", str(ck)] + stream.files
    rng = random.Random(77)
    mid_pauses, log, last_read = 0, [], 0
    while True:
        # pause until 4 pauses landed mid-input (or 20 runs)
        pause = mid_pauses < 4 and last_read < stream.frames and len(log) < 20
        p = start(cmd, out, errf)
        how = "to the end"
        if pause:
            wait_for_handlers(p)
            d, sig = rng.uniform(0, 0.25), rng.choice([signal.SIGTERM, signal.SIGINT])
            time.sleep(d)
            p.send_signal(sig)
            how = "%s after %.3f s" % (sig.name, d)
        rc, err = finish(p, errf)
        s = parse_summary(err)
        log.append("run %d: %s, rc %d, resumed at %s, frames_read %d"
                   % (len(log), how, rc, resumed_at(err), s["frames_read"]))
        assert rc == 0, "\n".join(log) + "\n" + err[-2000:]
        assert (resumed_at(err) is None) == (len(log) == 1), "\n".join(log)
        assert s["frames_read"] >= last_read, "\n".join(log)
        got = read(out)
        assert ref_out.startswith(got), "\n".join(log)
        if not pause:
            break
        if last_read < s["frames_read"] < stream.frames:
            mid_pauses += 1
            assert b'"window":"day"' not in got, "a pause emitted the open day window"
            assert len(got) < len(ref_out)
        last_read = s["frames_read"]
    assert mid_pauses >= 2, "\n".join(log)
    assert got == ref_out, "\n".join(log)
    assert counters(s) == counters(ref_sum), "\n".join(log)
    print("\n".join(log))


# ---------------------------------------------------------------------------------------------
# 3. Pipes cannot resume; stdin from a file can
# ---------------------------------------------------------------------------------------------

def test_pipe_refused(kuniq_bin, stream, tmp_path):
    """stdin from `cat file |` (implicitly or as '-'), or a FIFO among the files: exit 2 with a
    message about pipes, before reading anything; nothing written, no checkpoint. Without
    --checkpoint the same pipe is read (control)."""
    f1 = stream.files[0]
    ref_out, _ = stream.reference(["-w", KINDS], [f1])
    ck, out = tmp_path / "ck", tmp_path / "out.jsonl"
    base = "%s -w %s --checkpoint %s" % (shlex.quote(kuniq_bin), KINDS, shlex.quote(str(ck)))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for cmd in ["cat %s | %s" % (shlex.quote(f1), base),
                "cat %s | %s -" % (shlex.quote(f1), base),
                "%s %s %s" % (base, shlex.quote(f1), shlex.quote(str(fifo)))]:
        open(out, "wb").close()
        p = subprocess.run(cmd + " >> " + shlex.quote(str(out)), shell=True,
                           stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode()
        assert p.returncode == 2, (cmd, p.returncode, err)
        assert "pipe" in err, (cmd, err)
        assert read(out) == b"", cmd
        assert not os.path.exists(ck), cmd
    p = subprocess.run("cat %s | %s -w %s" % (shlex.quote(f1), shlex.quote(kuniq_bin), KINDS),
                       shell=True, capture_output=True, timeout=RUN_TIMEOUT)
    assert p.returncode == 0 and p.stdout == ref_out


def test_stdin_regular_file_resumes(kuniq_bin, stream, tmp_path):
    """`kuniq --checkpoint ck < file >> out`: paused mid-input, then resumed with stdin from the
    same file (seeked to the checkpoint's byte): the output is the uninterrupted run's."""
    f1 = stream.files[0]
    args = ["-w", KINDS, "--threads", "1"]
    ref_out, ref_sum = stream.reference(args, [f1])
    ck, out, errf = tmp_path / "ck", tmp_path / "out.jsonl", tmp_path / "stderr"
    cmd = [kuniq_bin] + args + ["--checkpoint", str(ck)]
    paused = pause_mid_run(cmd, out, ck, errf, random.Random(3), stream.first_frames,
                           stdin_path=f1)
    assert ref_out.startswith(read(out)) and len(read(out)) < len(ref_out)
    rc, err = finish(start(cmd + ["-"], out, errf, stdin_path=f1), errf)   # '-' = stdin too
    assert rc == 0, err
    f, byte, line = resumed_at(err)
    assert f == 0 and 0 < byte < os.path.getsize(f1) and line == paused["frames_read"], err
    assert read(out) == ref_out
    assert counters(parse_summary(err)) == counters(ref_sum)


# ---------------------------------------------------------------------------------------------
# 4. Damaged or foreign checkpoints are refused
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def paused(kuniq_bin, stream, tmp_path):
    """A run over the module's first file paused mid-input: (cmd, ck, out, its checkpoint
    bytes, its stdout bytes, the reference stdout)."""
    f1 = stream.files[0]
    args = ["-w", KINDS, "--threads", "1"]
    ref_out, _ = stream.reference(args, [f1])
    ck, out, errf = tmp_path / "ck", tmp_path / "out.jsonl", tmp_path / "stderr"
    cmd = [kuniq_bin] + args + ["--checkpoint", str(ck), f1]
    pause_mid_run(cmd, out, ck, errf, random.Random(5), stream.first_frames)
    return cmd, ck, out, read(ck), read(out), ref_out


def damages(good):
    rng = random.Random(len(good))
    n = len(good)
    out = []
    for cut in sorted({0, 1, 4, 7, 8, 12, 16, n // 3, n // 2, n - 9, n - 8, n - 1}):
        out.append(("truncated to %d bytes" % cut, good[:cut]))
    for i in sorted({0, 3, 4, 5, 8, 12, 16, 20, n // 2, n - 9, n - 8, n - 1}
                    | {rng.randrange(n) for _ in range(10)}):
        flip = bytearray(good)
        flip[i] ^= 1 << rng.randrange(8)
        out.append(("bit flipped at byte %d" % i, bytes(flip)))
    out += [("text", b"hello, I am not a checkpoint\n"),
            ("random bytes", bytes(rng.randrange(256) for _ in range(4096))),
            ("magic then random", b"KQCF" + bytes(rng.randrange(256) for _ in range(200))),
            ("the magic alone", b"KQCF"),
            ("appended bytes", good + b"\n{}\n"),
            ("doubled", good + good),
            ("a results file", b'{"window":"minute","start":1468244340}\n' * 20)]
    return out


def test_damaged_checkpoint_refused(stream, paused):
    """Truncations, single bit flips anywhere (header, records, checksum), garbage: exit 1 with
    the checkpoint's path in the message; stdout and the checkpoint are left as they were.
    The intact checkpoint then resumes to the uninterrupted run's output (control)."""
    cmd, ck, out, good, partial, ref_out = paused
    errf = out.parent / "stderr"
    assert len(good) > 64
    for what, data in damages(good):
        with open(ck, "wb") as f:
            f.write(data)
        rc, err = finish(start(cmd, out, errf), errf)
        assert rc == 1, "%s: exit %d\n%s" % (what, rc, err[-1500:])
        assert str(ck) in err and "resuming at" not in err, "%s: %s" % (what, err)
        assert read(out) == partial, "%s: stdout changed" % what
        assert read(ck) == data, "%s: the checkpoint was rewritten" % what
    # a directory or a FIFO named as the checkpoint (a FIFO must not hang the run)
    os.mkdir(str(ck) + ".dir")
    os.mkfifo(str(ck) + ".fifo")
    for other in (str(ck) + ".dir", str(ck) + ".fifo"):
        p = subprocess.run(cmd[:-2] + [other, cmd[-1]], capture_output=True, timeout=30)
        assert p.returncode == 1 and other in p.stderr.decode() and p.stdout == b"", \
            (other, p.returncode, p.stderr.decode())
    with open(ck, "wb") as f:
        f.write(good)
    rc, err = finish(start(cmd, out, out.parent / "stderr"), out.parent / "stderr")
    assert rc == 0 and resumed_at(err) is not None, err
    assert read(out) == ref_out


def test_other_options_refused(stream, paused):
    """A checkpoint resumed with other windows, lateness, late mode, zone, kept period or field
    names: exit 1, 'another configuration', the path named, nothing written. Options that do
    not change results (--threads, --checkpoint-interval, --parser) resume (control)."""
    cmd, ck, out, good, partial, ref_out = paused
    errf = out.parent / "stderr"
    kuniq, f1 = cmd[0], cmd[-1]
    tail = ["--checkpoint", str(ck), f1]
    for other in (["-w", "minute,hour"], ["-w", "minute,hour,day,week"],
                  ["-w", KINDS, "--lateness", "10"], ["-w", KINDS, "--late", "update"],
                  ["-w", KINDS, "--late", "update", "--keep-closed", "60"],
                  ["-w", KINDS, "--tz", "Europe/Zurich"], ["-w", KINDS, "--uid-field", "user"],
                  ["-w", KINDS, "--jump-confirm", "9"], ["-w", KINDS, "--mode", "exact"]):
        rc, err = finish(start([kuniq] + other + tail, out, errf), errf)
        assert rc == 1, "%s: exit %d\n%s" % (other, rc, err[-1500:])
        assert "another configuration" in err and str(ck) in err, "%s: %s" % (other, err)
        assert read(out) == partial and read(ck) == good, other
    rc, err = finish(start([kuniq, "-w", KINDS, "--threads", "2", "--checkpoint-interval", "5",
                            "--parser", "scalar"] + tail, out, errf), errf)
    assert rc == 0 and resumed_at(err) is not None, err
    assert read(out) == ref_out


# ---------------------------------------------------------------------------------------------
# 5. A finished run
# ---------------------------------------------------------------------------------------------

def test_finished_run_emits_nothing_again(kuniq_bin, stream, tmp_path):
    """A run that reached the end of input emitted every window and recorded the end: run again
    (stdout appended, or a pipe) it resumes at the end, emits nothing, exits 0, and its summary
    still counts every frame once."""
    f1 = stream.files[0]
    args = ["-w", KINDS]
    ref_out, ref_sum = stream.reference(args, [f1])
    ck, out, errf = tmp_path / "ck", tmp_path / "out.jsonl", tmp_path / "stderr"
    cmd = [kuniq_bin] + args + ["--checkpoint", str(ck), f1]
    rc, err = finish(start(cmd, out, errf), errf)
    assert rc == 0 and resumed_at(err) is None, err
    assert read(out) == ref_out
    assert counters(parse_summary(err)) == counters(ref_sum)
    for _ in range(2):
        rc, err = finish(start(cmd, out, errf), errf)
        assert rc == 0, err
        assert resumed_at(err)[:2] == (1, 0), err
        assert read(out) == ref_out
        assert counters(parse_summary(err)) == counters(ref_sum)
    p = subprocess.run(cmd, capture_output=True, timeout=RUN_TIMEOUT)
    assert p.returncode == 0 and p.stdout == b"", p.stderr.decode()
    assert counters(parse_summary(p.stderr.decode())) == counters(ref_sum)


# ---------------------------------------------------------------------------------------------
# 6. Resuming onto a pipe
# ---------------------------------------------------------------------------------------------

def test_resume_onto_pipe_warns(kuniq_bin, stream, tmp_path):
    """Paused with stdout appended to a file, resumed with stdout a pipe: kuniq warns that
    results may appear again, exits 0; file + pipe = the uninterrupted run (a pause leaves
    nothing after its checkpoint). The same when the paused run wrote to a pipe too."""
    f1 = stream.files[0]
    args = ["-w", KINDS, "--threads", "1"]
    ref_out, _ = stream.reference(args, [f1])
    ck, out, errf = tmp_path / "ck", tmp_path / "out.jsonl", tmp_path / "stderr"
    cmd = [kuniq_bin] + args + ["--checkpoint", str(ck), f1]
    pause_mid_run(cmd, out, ck, errf, random.Random(11), stream.first_frames)
    first = read(out)
    p = subprocess.run(cmd, capture_output=True, timeout=RUN_TIMEOUT)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert "may appear again" in err and resumed_at(err) is not None, err
    assert first + p.stdout == ref_out

    # the paused run on a pipe as well
    os.unlink(ck)
    rng = random.Random(12)
    for _ in range(8):
        if os.path.exists(ck):
            os.unlink(ck)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        wait_for_handlers(p)
        time.sleep(rng.uniform(0.01, 0.08))
        p.send_signal(signal.SIGTERM)
        first, err = p.communicate(timeout=RUN_TIMEOUT)
        assert p.returncode == 0, err.decode()
        if 0 < parse_summary(err.decode())["frames_read"] < stream.first_frames:
            break
    else:
        raise AssertionError("no pause landed mid-input")
    p = subprocess.run(cmd, capture_output=True, timeout=RUN_TIMEOUT)
    err = p.stderr.decode()
    assert p.returncode == 0 and "may appear again" in err, err
    assert first + p.stdout == ref_out


# ---------------------------------------------------------------------------------------------
# Last: the reference (and every kill loop's output) equals the oracle's
# ---------------------------------------------------------------------------------------------

def test_uninterrupted_run_matches_oracle(stream, oracle_job):
    """The uninterrupted run the tests above compare with, and the output of every kill loop
    of this session, equal oracle.py's records field by field; the summary's counts too."""
    ref_out, ref_sum = stream.reference(["-w", KINDS, "--threads", "1"])
    records, summary = oracle_job.result()
    krecs = [json.loads(l) for l in ref_out.splitlines()]
    msg = "\n".join(m for m in (compare_records(krecs, records),
                                compare_summaries(ref_sum, summary)) if m)
    assert not msg, msg
    for threads, got in stream.kill_outputs.items():
        assert [json.loads(l) for l in got.splitlines()] == krecs, threads
