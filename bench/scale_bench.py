#!/usr/bin/env python3
"""bench/scale_bench.py - several kuniq processes in one consumer group (--scale-out).

Run by `make bench-scale` (after `make`). Starts a broker of its own with scripts/kafka in a fresh
KUNIQ_KAFKA_DIR (deleted at the end), on this host, and measures:

- The stream: the generator's sample-shaped frames (--frames, default 400,000, ~2 KB each, 1000
  frames per event second, 100,000 users) loaded once with kcat into an 8-partition topic
  (--partitions; random partitioning), plus 4 closing frames per partition 120 s of event time
  later (as bench/kafka_bench.py does), read by every run from the beginning with a fresh --group.
- The runs, all exactly once, minute..year windows, -e, results to an output topic of their own:
  1. direct: one kuniq process, no --scale-out (the baseline);
  2. --scale-out with 1, 2 and 4 processes (--procs) in one group, each its own --instance-id,
     started together; stage 1 counts the input partitions a process is assigned and publishes
     partial counters to the internal topic (GROUP-kuniq-partials by default), stage 2 merges
     the internal partitions it is assigned and emits the final windows.
  Each run: wall time from the first start until every process has exited; frames/s of the
  whole group (input frames / wall time) and the ratio to the direct baseline; the time until
  every process had partitions assigned; CPU (user + sys) summed over the processes; peak RSS of
  each process (VmHWM, sampled); from each process's {"kafka":{..."scale_out":{...}}} line, summed:
  partials sent and their bytes, partials merged, stage-2 seconds (merge_s) and windows emitted,
  hence stage-2 cost per window and per partial and partial bytes per window.
- The check: every run's output topic, read_committed, must hold one record per window with the
  uniques, frames and exact flag of the direct baseline (which is also compared with a file run of
  the same frames); otherwise a loud MISMATCH and exit 1.

--runs K repeats every configuration K times (the order rotates between rounds) and reports the
best wall time. Prints Markdown tables (stdout; progress on stderr) and writes
build/bench-scale.json. The machine has few cores and the broker runs beside the processes:
compare ratios, and read them with the core count in mind.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eos_bench as eb  # noqa: E402 - Broker, Kuniq (stamped stderr, VmHWM), read_topic
import kafka_bench as kb  # noqa: E402 - last_ts, load (with closing frames), paths

ROOT = kb.ROOT
KUNIQ, GEN = kb.KUNIQ, kb.GEN
WINDOWS = eb.WINDOWS  # minute,hour,day,week,month,year
CHECKED = ("uniques", "frames", "exact")  # must equal the direct baseline's, window by window
DIRECT = "direct"


def log(msg):
    print("bench-scale: " + msg, file=sys.stderr, flush=True)


def uid():
    return eb.uid()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def git_head():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              check=True).stdout.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def has_scale_out():
    out = subprocess.run([KUNIQ, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return b"--scale-out" in out.stdout


def broker_cpu_s(b):
    """User + system CPU seconds of the broker's JVM so far (None if unknown)."""
    try:
        with open(os.path.join(b.dir, "pid")) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def assignment_times(k):
    """(first time the process had input partitions to count, time of its last assignment
    line): direct mode logs "assigned N partition(s)", --scale-out "tasks: counting ... ;"."""
    first = last = None
    for t, line in k.lines:
        if "kuniq: kafka: tasks: counting" in line:  # after the log line's time and level
            last = t
            if first is None and "partitions none;" not in line:
                first = t
        elif "kuniq: kafka: assigned" in line:
            last = t
            if first is None:
                first = t
    return first, last


def group_topics(b, group, extra=()):
    """Topics this run's group left on the broker (state, partials, output)."""
    names = b.admin.list_topics(timeout=10).topics
    return [t for t in names if t.startswith(group) or t in extra]


def records_by_window(recs):
    """(key -> value dict, number of records) of an output topic."""
    res = {}
    for k, v in recs:
        res[k] = json.loads(v)
    return res, len(recs)


def compare(ref, got, n_records):
    """Differences between an output and the reference: a list of strings (empty = equal)."""
    diff = []
    if n_records != len(got):
        diff.append("%d records for %d distinct windows (a window published more than once)"
                    % (n_records, len(got)))
    missing = sorted(set(ref) - set(got))
    extra = sorted(set(got) - set(ref))
    if missing:
        diff.append("%d windows missing: %s" % (len(missing), ", ".join(missing[:5])))
    if extra:
        diff.append("%d windows not in the reference: %s" % (len(extra), ", ".join(extra[:5])))
    for k in sorted(set(ref) & set(got)):
        bad = [f for f in CHECKED if ref[k].get(f) != got[k].get(f)]
        if bad:
            diff.append("%s: %s" % (k, ", ".join("%s %s, expected %s" % (
                f, got[k].get(f), ref[k].get(f)) for f in bad)))
    return diff


def run_group(b, a, topic, frames, nprocs, scale):
    """One run: nprocs kuniq processes in a fresh group, started together, waited for."""
    group = "scb-" + uid()
    out = b.create(group + "-out", 1)
    extra = ["--scale-out"] if scale else []
    if scale and a.partials_partitions:
        extra += ["--partials-partitions", str(a.partials_partitions)]
    if a.checkpoint_interval is not None:
        extra += ["--checkpoint-interval", str(a.checkpoint_interval)]
    extra += a.kuniq_arg
    procs = []
    cpu0 = broker_cpu_s(b)
    for i in range(nprocs):
        args = eb.kuniq_args(b.addr, topic, group, out, extra)
        if scale or nprocs > 1:
            args += ["--instance-id", str(i)]
        procs.append(eb.Kuniq(args))
    t_first = min(k.t0 for k in procs)
    deadline = time.time() + a.timeout
    while any(k.running() for k in procs):
        if time.time() > deadline:
            hung = [i for i, k in enumerate(procs) if k.rc is None]
            for i in hung:
                procs[i].p.kill()
            for k in procs:
                k.wait(30)
            tails = "\n".join("--- process %d (rc %s) ---\n%s" % (i, k.rc, k.tail(25))
                              for i, k in enumerate(procs))
            raise RuntimeError("HANG: processes %s had not exited %g s after the start "
                               "(killed); group %s, command:\n  %s\n%s" % (
                                   hung, a.timeout, group,
                                   " ".join(procs[hung[0]].p.args), tails))
        time.sleep(0.01)
    wall = max(k.t0 + k.t_exit for k in procs) - t_first
    cpu1 = broker_cpu_s(b)
    asg = [assignment_times(k) for k in procs]
    bad = [i for i, k in enumerate(procs) if k.rc != 0 or k.kafka is None or k.summary is None]
    if bad:
        tails = "\n".join("--- process %d (rc %s) ---\n%s" % (i, procs[i].rc,
                                                             procs[i].tail(25)) for i in bad)
        raise RuntimeError("FAILED: processes %s of %d exited badly (group %s), command:\n  %s\n%s"
                           % (bad, nprocs, group, " ".join(procs[bad[0]].p.args), tails))
    recs = eb.read_topic(b.addr, out)
    got, n = records_by_window(recs)
    so = [k.kafka.get("scale_out") for k in procs]
    run = {
        "group": group, "processes": nprocs, "scale_out": scale, "seconds": wall,
        "frames_per_s": frames / wall,
        # every process counting partitions (None: one never had any), and the last
        # (re)assignment logged by any of them
        "all_assigned_s": (max(k.t0 + f for k, (f, _) in zip(procs, asg)) - t_first
                           if all(f is not None for f, _ in asg) else None),
        "last_assignment_s": (max(k.t0 + l for k, (_, l) in zip(procs, asg) if l is not None)
                              - t_first if any(l is not None for _, l in asg) else None),
        "broker_cpu_s": cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None,
        "cpu_s": sum(k.cpu_s for k in procs),
        "rss_mb": [k.maxrss_mb for k in procs],
        "exit_s": [k.t0 + k.t_exit - t_first for k in procs],
        "frames_read": [k.summary["frames_read"] for k in procs],
        "windows_emitted_summary": [k.summary["windows_emitted"] for k in procs],
        "kafka": [k.kafka for k in procs], "scale": so,
        "output_records": n, "output_windows": len(got),
        "log": [[(round(t, 3), l[:200]) for t, l in k.lines] for k in procs],
    }
    if scale:
        if any(s is None for s in so):
            run["notes"] = ["no \"scale_out\" object in the kafka line of process(es) %s"
                            % [i for i, s in enumerate(so) if s is None]]
        s = [x or {} for x in so]
        for f in ("partials_sent", "partial_bytes", "partials_merged", "merge_s",
                  "windows_emitted"):
            run[f] = sum(x.get(f, 0) or 0 for x in s)
        notes = run.setdefault("notes", [])
        if run["windows_emitted"] != len(got):
            notes.append("windows_emitted summed over the processes is %d, the output holds %d "
                         "windows" % (run["windows_emitted"], len(got)))
        ins = sorted(p for x in s for p in x.get("input_partitions", []))
        if ins != list(range(a.partitions)):
            notes.append("input_partitions over the processes at exit: %s (expected each of "
                         "0..%d once; a rebalance may move them)" % (ins, a.partitions - 1))
        merge = sorted(p for x in s for p in x.get("merge_partitions", []))
        if len(merge) != len(set(merge)):
            notes.append("merge_partitions over the processes at exit: %s (some twice)" % merge)
        if not notes:
            del run["notes"]
    else:
        run["windows_emitted"] = procs[0].summary["windows_emitted"]
    b.delete(group_topics(b, group, [out]))
    return run, got, n


def file_reference(data_path, tail_ts, partitions):
    """kuniq on the same frames from a file (closing frames appended): the baseline's check."""
    tail = b"".join(b'{"uid":"closing-%d","ts":%d}\n' % (p, tail_ts + i)
                    for p in range(partitions) for i in range(4))
    with open(data_path, "ab") as f:
        f.write(tail)
    out = subprocess.run([KUNIQ, "-w", WINDOWS, data_path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True).stdout
    ref = {}
    for line in out.decode().splitlines():
        d = json.loads(line)
        ref["%s/%d" % (d["window"], d["start"])] = d
    return ref


def configs(a):
    return [(DIRECT, 1, False)] + [("scale-out x%d" % n, n, True) for n in a.procs]


def tables(res, a):
    fr, mb = res["frames"], res["bytes"] / 1e6
    runs = res["runs"]
    best = {name: min(rs, key=lambda r: r["seconds"]) for name, rs in runs.items() if rs}
    done = [c for c in configs(a) if c[0] in best]
    failed = [c[0] for c in configs(a) if c[0] not in best]
    base = best[DIRECT]["seconds"]
    out = [
        "### --scale-out: %d frames (%.0f MB, ~%d B each), %d input partitions, minute..year, "
        "exactly once, from the beginning to the end (-e), results to a topic"
        % (fr, mb, res["bytes"] / fr, a.partitions),
        "",
        "Machine: %d cores (%s), %.0f GB; the broker (one JVM) runs on the same host, so every "
        "process shares these cores with it. kuniq %s. Best of %d run(s) per configuration; "
        "load average at the start %.1f." % (
            os.cpu_count(), res["cpu"], res["mem_gb"], res["git"], a.runs, res["load0"]),
        "",
        "| run | processes | wall s | frames/s (group) | x direct | all counting at s "
        "| last assignment at s | kuniq CPU s (sum) | broker CPU s | peak RSS MB per process "
        "| frames read per process, % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]

    def opt(v, fmt):
        return fmt % v if v is not None else "n/a"

    for name, n, _ in done:
        r = best[name]
        out.append("| %s | %d | %.2f | %.0f | %.2f | %s | %s | %.1f | %s | %s | %s |" % (
            name, n, r["seconds"], fr / r["seconds"], base / r["seconds"],
            opt(r["all_assigned_s"], "%.2f"), opt(r["last_assignment_s"], "%.2f"),
            r["cpu_s"], opt(r["broker_cpu_s"], "%.1f"),
            " / ".join("%.0f" % m if m else "?" for m in r["rss_mb"]),
            " / ".join("%.0f" % (100.0 * x / fr) for x in r["frames_read"])))
    out += [
        "",
        "| run | partials sent | partial MB | partial KB / window | partials merged "
        "| stage 2 s (sum) | stage 2 ms / window | stage 2 µs / partial | windows emitted "
        "| output |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, n, scale in done:
        r = best[name]
        ok = "equal" if all(not x["diff"] for x in runs[name]) else "**MISMATCH**"
        w = r["windows_emitted"]
        if not scale:
            out.append("| %s | - | - | - | - | - | - | - | %d | %d records (reference) |"
                       % (name, w, r["output_records"]))
            continue
        pm = r["partials_merged"]
        out.append("| %s | %d | %.1f | %s | %d | %.3f | %s | %s | %d | %d records, %s |" % (
            name, r["partials_sent"], r["partial_bytes"] / 1e6,
            "%.0f" % (r["partial_bytes"] / w / 1e3) if w else "n/a", pm, r["merge_s"],
            "%.2f" % (r["merge_s"] / w * 1e3) if w else "n/a",
            "%.1f" % (r["merge_s"] / pm * 1e6) if pm else "n/a", w, r["output_records"], ok))
    out += ["", "Every run (wall seconds): " + "; ".join(
        "%s %s" % (name, ", ".join("%.2f" % r["seconds"] for r in runs[name]))
        for name, _, _ in done), ""]
    out.append("Per process, best run (input partitions / merge partitions, frames read, "
               "partials sent / merged, stage 2 s, windows emitted, exit at s, peak RSS MB):")
    for name, n, scale in done:
        r = best[name]
        for i in range(n):
            s = r["scale"][i] or {}
            out.append("- %s #%d: %s / %s, %d frames, %s / %s partials, %s s, %s windows, "
                       "exit %.2f s, %s MB" % (
                           name, i, s.get("input_partitions", "-"),
                           s.get("merge_partitions", "-"), r["frames_read"][i],
                           s.get("partials_sent", "-"), s.get("partials_merged", "-"),
                           s.get("merge_s", "-"),
                           s.get("windows_emitted", r["windows_emitted_summary"][i]),
                           r["exit_s"][i], "%.0f" % r["rss_mb"][i] if r["rss_mb"][i] else "?"))
    if failed:
        out += ["", "**No successful run** of: %s (see FAILED below)." % ", ".join(failed)]
    out += [
        "",
        "frames/s: input frames (%d) / wall time from the first process's start to the last "
        "one's exit (group join, restore, reading, merging and the final commit included); "
        "x direct: the direct run's time / the run's; stage 2: merging partials and emitting "
        "(the kafka line's merge_s, summed over the processes); all counting at: when the last "
        "process got input partitions to count; last assignment at: the last (re)assignment "
        "any process logged (the partitions it names are those held at the exit: frames read "
        "tells who counted what); kuniq CPU: user + sys of the kuniq processes; broker CPU: the "
        "broker JVM's during the run (it shares the cores); windows in the output: %d; "
        "loading the topic with kcat -P: %.1f s." % (fr, res["windows"], res["load_seconds"]),
    ]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=400000, help="generated frames (~2 KB each)")
    ap.add_argument("--partitions", type=int, default=8, help="input topic partitions")
    ap.add_argument("--procs", default="1,2,4", help="process counts of the --scale-out runs")
    ap.add_argument("--runs", type=int, default=1, help="runs per configuration (best of K)")
    ap.add_argument("--partials-partitions", type=int, default=None,
                    help="passed to kuniq (default: kuniq's, the input partitions)")
    ap.add_argument("--checkpoint-interval", type=float, default=None,
                    help="passed to every kuniq (default: kuniq's, 1 s)")
    ap.add_argument("--kuniq-arg", action="append", default=[],
                    help="extra option for every kuniq (repeat), e.g. --kuniq-arg=--mode=approx")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds a run may take before its processes are killed (a hang)")
    ap.add_argument("--direct-only", action="store_true",
                    help="only the direct runs (the plumbing, without --scale-out)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-scale.json"))
    a = ap.parse_args()
    a.procs = [] if a.direct_only else [int(x) for x in a.procs.split(",") if x.strip()]
    if a.procs and not has_scale_out():
        sys.exit("bench-scale: %s has no --scale-out option (build it, or use --direct-only)"
                 % KUNIQ)

    tmp = tempfile.mkdtemp(prefix="kuniq-bench-scale-")
    t0 = time.time()
    load0 = os.getloadavg()
    res = {"frames": a.frames + 4 * a.partitions, "partitions": a.partitions, "runs": {},
           "cpu": cpu_model(), "cores": os.cpu_count(), "git": git_head(), "load0": load0[0],
           "mem_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30}
    mismatches, failures = [], []
    log("starting a broker in %s" % tmp)
    b = eb.Broker(os.path.join(tmp, "kafka"))
    try:
        data = os.path.join(tmp, "stream.jsonl")
        log("generating %d frames" % a.frames)
        eb.gen(data, ["--count", str(a.frames)])
        res["bytes"] = os.path.getsize(data)
        tail_ts = kb.last_ts(data) + 120
        topic = b.create("scb-in-" + uid(), a.partitions)
        log("loading into %s (%d partitions) with kcat" % (topic, a.partitions))
        res["load_seconds"] = kb.load(b.addr, topic, data, a.partitions, tail_ts)
        log("file run of the same frames (the reference for the direct run)")
        fileref = file_reference(data, tail_ts, a.partitions)
        os.remove(data)
        # the broker's first transactional producer and group create __transaction_state and
        # __consumer_offsets (50 partitions each): not a cost of any measured run
        log("warm-up run (direct, exactly once, closing frames only)")
        warm = b.create("scb-warm-" + uid(), a.partitions)
        kb.load(b.addr, warm, os.devnull, a.partitions, 1468244384)
        wg = "scb-warm-" + uid()
        eb.Kuniq(eb.kuniq_args(b.addr, warm, wg, b.create(wg + "-out", 1), [])).wait(300).check()
        b.delete(group_topics(b, wg, [warm]))

        ref = None
        cf = configs(a)
        for r in range(a.runs):
            # the direct run first in round 1: it is the reference of the check
            order = cf if r == 0 else cf[r % len(cf):] + cf[:r % len(cf)]
            for name, n, scale in order:
                log("run %d/%d: %s (%d process%s)" % (r + 1, a.runs, name, n,
                                                     "es" if n > 1 else ""))
                try:
                    run, got, nrec = run_group(b, a, topic, res["frames"], n, scale)
                except RuntimeError as e:
                    if ref is None:
                        raise  # no reference: nothing to compare the other runs with
                    log("%s round %d: %s" % (name, r + 1, e))
                    failures.append(("%s round %d" % (name, r + 1), str(e)))
                    continue
                if ref is None:
                    ref = got
                    run["diff_file"] = compare(fileref, got, nrec)
                    if run["diff_file"]:
                        log("MISMATCH: the direct run differs from a file run of the same "
                            "frames:\n  " + "\n  ".join(run["diff_file"][:20]))
                        mismatches.append(("direct vs file run", run["diff_file"]))
                run["diff"] = compare(ref, got, nrec)
                if run["diff"]:
                    log("MISMATCH: %s (round %d, group %s) differs from the direct run:\n  %s"
                        % (name, r + 1, run["group"], "\n  ".join(run["diff"][:20])))
                    mismatches.append(("%s round %d" % (name, r + 1), run["diff"]))
                for note in run.get("notes", []):
                    log("note: %s: %s" % (name, note))
                fsum = sum(run["frames_read"])
                if fsum != res["frames"]:
                    note = "frames_read summed over the processes is %d, the topic holds %d" % (
                        fsum, res["frames"])
                    run.setdefault("notes", []).append(note)
                    log("note: %s: %s" % (name, note))
                log("  %.2f s, %.0f frames/s, %d output records" % (
                    run["seconds"], run["frames_per_s"], run["output_records"]))
                res["runs"].setdefault(name, []).append(run)
        res["windows"] = len(ref)
        b.delete([topic])
    finally:
        for p in eb.STARTED:
            if p.returncode is None and p.poll() is None:
                p.kill()
        del b.admin  # its client would log connection errors once the broker stops
        b.reset()
        subprocess.run(["rm", "-rf", tmp])
    res["seconds"] = time.time() - t0
    lines = tables(res, a)
    lines.append("")
    lines.append("Total %.0f s; load average at the start %.1f, at the end %.1f (%d cores: "
                 "other jobs ran beside the benchmark when it is above ~%d)."
                 % (res["seconds"], load0[0], os.getloadavg()[0], os.cpu_count(),
                    os.cpu_count()))
    notes = ["%s: %s" % (name, n) for name, rs in res["runs"].items() for r in rs
             for n in r.get("notes", [])]
    if notes:
        lines += ["", "Notes:"] + ["- " + n for n in sorted(set(notes))]
    if failures:
        lines += ["", "**FAILED** runs (exit code, hang or crash; the stderr tails):"]
        for what, err in failures:
            lines += ["- %s:" % what, "```", err, "```"]
    if mismatches:
        lines += ["", "**MISMATCH** (output differs from the reference):"]
        for what, diff in mismatches:
            lines += ["- %s: %s" % (what, d) for d in diff[:20]]
    print("\n".join(lines))
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    if failures:
        print("\nbench-scale: FAILED: %d run(s) did not end well (details above)"
              % len(failures), file=sys.stderr)
    if mismatches:
        print("\nbench-scale: MISMATCH: %d run(s) differ from the reference (details above)"
              % len(mismatches), file=sys.stderr)
    if failures or mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
