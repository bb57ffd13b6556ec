#!/usr/bin/env python3
"""bench/eos_bench.py - what exactly once costs in Kafka mode: throughput, restore, latency.

Run by `make bench-eos` (after `make`). Starts a broker of its own with scripts/kafka in a fresh
KUNIQ_KAFKA_DIR (deleted at the end) and measures, in one run:

1. Throughput: the generator's sample-shaped stream (--count frames, default 500,000, ~2 KB each,
   plus 4 closing frames per partition 120 s of event time later, as bench/kafka_bench.py does) in
   a 4-partition topic, read from the beginning to the end with -e, minute..year windows, results
   to an output topic, a fresh --group per run: exactly once at the default checkpoint interval,
   --at-least-once, exactly once with --checkpoint-interval 0.1. Each mode runs --runs times (best
   run reported, every run listed; the order of the modes rotates between rounds); frames/s from
   the process start to its exit (the final transaction committed) and from the partition
   assignment to its exit, and the ratio to at-least-once.
2. Checkpoints: for every exactly-once run of 1, the figures of its {"kafka":...} line:
   transactions, state records and bytes (total and per transaction), commit time avg/max, and
   the share of the run spent committing (transactions x average commit time / run time).
3. Restore after a crash: about half a year of event time (--restore-frames frames, default
   1,000,000, one every 15 s, ~150 bytes, a fresh uid each: the year window reaches 1,000,000
   users; --exact-limit 2000000 keeps it exact), minute..year windows, in a 4-partition topic.
   kuniq (exactly once, -e) is stopped once the group's committed offsets reach --kill-at
   (default 70 %) of the stream, by SIGKILL and, in a second group, by SIGTERM; then started again
   with the same options: its restore line (records, MB, seconds), the time from its start to the
   assignment of the partitions and to its first commit beyond the stopped run's offsets, its
   peak RSS when the partitions are assigned (restore done) and over the whole run, and the state
   topic's size (records and bytes on disk) when it restarts. The restarted run reads on to the
   end; the output topic (read_committed, both runs) must hold every window once, the year
   window with the uniques of a file run on the same stream: PASS/FAIL.
4. End-to-end latency with transactions: a live stream (ts = wall clock, ~2 KB frames,
   --live-rate frames/s over 4 partitions, --live-seconds) read at once by two kuniq processes,
   exactly once (default interval) and at least once (minute..year windows); for every minute that
   ends during the stream, the time from the minute's end + lateness (5 s) until a read_committed
   consumer receives its result (and until the result's CreateTime, when it was produced).

Prints Markdown tables (stdout; progress on stderr) and writes build/bench-eos.json. The machine
is noisy: compare ratios, and raise --runs.
"""

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_bench as kb  # noqa: E402 - helpers: last_ts, load (with closing frames), paths

import confluent_kafka  # noqa: E402 - kafka_bench checked that it is installed
from confluent_kafka import TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

ROOT = kb.ROOT
KUNIQ, GEN, SCRIPT = kb.KUNIQ, kb.GEN, kb.SCRIPT
WINDOWS = "minute,hour,day,week,month,year"
LATENESS = 5
YEAR_2016 = 1451606400
MODES = [  # (name, extra options)
    ("exactly once, default interval (1 s)", []),
    ("at least once (`--at-least-once`)", ["--at-least-once"]),
    ("exactly once, `--checkpoint-interval 0.1`", ["--checkpoint-interval", "0.1"]),
]
ALO = MODES[1][0]

STARTED = []  # every kuniq process this script started (killed by pid if still running at exit)


def log(msg):
    print("bench-eos: " + msg, file=sys.stderr, flush=True)


def uid():
    return uuid.uuid4().hex[:8]


def vmhwm_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


class Kuniq:
    """build/kuniq with its stderr lines stamped (seconds since its start), the restore line
    parsed, VmHWM sampled when the partitions are assigned, rusage collected at exit."""

    def __init__(self, args):
        self.t0 = time.time()
        self.p = subprocess.Popen([KUNIQ] + args, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        STARTED.append(self.p)
        self.lines = []
        self.ev = {}
        self.restore = None
        self.hwm_assigned_mb = None
        self.kafka = self.summary = None
        self.rc = self.t_exit = self.maxrss_mb = self.cpu_s = None
        self.hwm_mb = None
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        # peak RSS: VmHWM, sampled until the process exits (its last value is the peak).
        # Not ru_maxrss from wait4: Linux carries the forking process's high-water mark over
        # the exec into it (python's vfork), so it would report this script's own memory.
        while self.rc is None:
            v = vmhwm_mb(self.p.pid)
            if v:
                self.hwm_mb = v
            time.sleep(0.05)

    def _read(self):
        for raw in self.p.stderr:
            t = time.time() - self.t0
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append((t, line))
            if "kuniq: kafka: assigned" in line and "assigned" not in self.ev:
                self.ev["assigned"] = t
                self.hwm_assigned_mb = vmhwm_mb(self.p.pid)
            elif "state restored from" in line:
                self.ev["restored"] = t
                m = re.search(r": (\d+) records, ([\d.]+) MB in ([\d.]+) s", line)
                if m:
                    self.restore = {"records": int(m.group(1)), "mb": float(m.group(2)),
                                    "seconds": float(m.group(3))}
            elif "read to its end" in line:
                self.ev["at_end"] = t
            elif line.startswith('{"kafka"'):
                self.kafka = json.loads(line)["kafka"]
            elif line.startswith('{"summary"'):
                self.summary = json.loads(line)["summary"]

    def running(self):
        return self.rc is None and self._reap(False)

    def _reap(self, block):
        pid, status, ru = os.wait4(self.p.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return True
        self.t_exit = time.time() - self.t0
        self.rc = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.rc  # reaped here: Popen must not wait for it again
        self.maxrss_mb = self.hwm_mb
        self.cpu_s = ru.ru_utime + ru.ru_stime
        self.t.join()
        return False

    def wait(self, timeout):
        deadline = time.time() + timeout
        while self.rc is None:
            if not self._reap(False):
                break
            if time.time() > deadline:
                self.p.kill()
                self._reap(True)
                raise RuntimeError("kuniq did not exit within %.0f s:\n%s" % (timeout, self.tail()))
            time.sleep(0.01)
        return self

    def signal(self, sig):
        self.p.send_signal(sig)

    def tail(self, n=15):
        return "\n".join(l for _, l in self.lines[-n:])

    def check(self, frames=None):
        if self.rc != 0 or self.kafka is None or self.summary is None:
            raise RuntimeError("kuniq exited %s:\n%s" % (self.rc, self.tail()))
        if frames is not None and self.summary["frames_read"] != frames:
            raise RuntimeError("kuniq read %d frames, expected %d"
                               % (self.summary["frames_read"], frames))
        return self


class Broker:
    def __init__(self, directory):
        self.dir = directory
        self.env = dict(os.environ, KUNIQ_KAFKA_DIR=directory)
        out = subprocess.run([SCRIPT, "start"], stdout=subprocess.PIPE, env=self.env, check=True)
        self.addr = out.stdout.decode().strip()
        self.admin = AdminClient({"bootstrap.servers": self.addr})

    def create(self, name, partitions):
        for f in self.admin.create_topics([NewTopic(name, partitions, 1)]).values():
            f.result(30)
        return name

    def delete(self, names):
        for f in self.admin.delete_topics(list(names)).values():
            try:
                f.result(30)
            except Exception as e:  # noqa: BLE001 - cleanup only
                log("could not delete a topic: %s" % e)

    def disk_bytes(self, topic, partition=0):
        d = os.path.join(self.dir, "data", "%s-%d" % (topic, partition))
        return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                   if f.endswith(".log"))

    def reset(self):
        subprocess.run([SCRIPT, "reset"], env=self.env, stdout=subprocess.DEVNULL)


def consumer(addr, **extra):
    conf = {"bootstrap.servers": addr, "group.id": "eosb-reader-" + uid(),
            "enable.auto.commit": False, "isolation.level": "read_committed"}
    conf.update(extra)
    return confluent_kafka.Consumer(conf)


def read_topic(addr, topic, timeout=300):
    """Every committed record of a topic, from the beginning to its end (partition EOF events:
    transaction markers take offsets, so the high watermark is never the last record's + 1)."""
    c = consumer(addr, **{"enable.partition.eof": True})
    parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
    c.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in parts])
    eof, recs = set(), []
    deadline = time.time() + timeout
    while len(eof) < len(parts):
        if time.time() > deadline:
            raise RuntimeError("reading %s: no end after %d s" % (topic, timeout))
        for m in c.consume(10000, 1.0):
            if m.error():
                if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    continue
                raise RuntimeError("reading %s: %s" % (topic, m.error()))
            recs.append((m.key().decode(), m.value()))
    c.close()
    return recs


def end_offset(addr, topic, partition=0):
    c = consumer(addr)
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    c.close()
    return hi


def kuniq_args(addr, topic, group, out, extra):
    return (["--brokers", addr, "--topic", topic, "--group", group, "--from-beginning", "-e",
             "--output-topic", out, "-w", WINDOWS] + extra)


def gen(path, args):
    with open(path, "wb") as f:
        subprocess.run([GEN] + args, stdout=f, check=True)


# ---- 1 and 2: throughput and checkpoints ---------------------------------------------------


def throughput(b, a, tmp):
    data = os.path.join(tmp, "stream.jsonl")
    log("throughput: generating %d frames" % a.count)
    gen(data, ["--count", str(a.count)])
    nbytes = os.path.getsize(data)
    topic = b.create("eosb-in-" + uid(), a.partitions)
    log("throughput: loading into %s (%d partitions) with kcat" % (topic, a.partitions))
    load_s = kb.load(b.addr, topic, data, a.partitions, kb.last_ts(data) + 120)
    os.remove(data)
    frames = a.count + 4 * a.partitions
    # warm-up: the broker's first transactional producer and group create __transaction_state
    # and __consumer_offsets (50 partitions each): not a cost of any measured mode
    log("throughput: warm-up run (exactly once, 16 frames)")
    warm = b.create("eosb-warm-" + uid(), a.partitions)
    kb.load(b.addr, warm, os.devnull, a.partitions, 1468244384)  # closing frames only
    wg = "eosb-warm-" + uid()
    Kuniq(kuniq_args(b.addr, warm, wg, b.create(wg + "-out", 1), [])).wait(300).check()
    b.delete([warm, wg + "-out", wg + "-kuniq-state"])
    runs = {name: [] for name, _ in MODES}
    trash = [topic]
    for r in range(a.runs):
        order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
        for name, extra in order:
            log("throughput run %d/%d: %s" % (r + 1, a.runs, name))
            group = "eosb-" + uid()
            out = b.create(group + "-out", 1)
            k = Kuniq(kuniq_args(b.addr, topic, group, out, extra)).wait(900).check(frames)
            if k.kafka.get("results_delivered") != k.summary["windows_emitted"]:
                raise RuntimeError("%s: %s results delivered of %d emitted" % (
                    name, k.kafka.get("results_delivered"), k.summary["windows_emitted"]))
            runs[name].append({"round": r + 1, "seconds": k.t_exit,
                               "from_assigned": k.t_exit - k.ev["assigned"],
                               "assigned_at": k.ev["assigned"], "kafka": k.kafka,
                               "restore": k.restore, "restored_at": k.ev.get("restored"),
                               "log": [(round(t, 3), l[:160]) for t, l in k.lines],
                               "summary_elapsed_s": k.summary["elapsed_s"],
                               "maxrss_mb": k.maxrss_mb, "cpu_s": k.cpu_s})
            trash += [out] + ([group + "-kuniq-state"] if "transactions" in k.kafka else [])
    b.delete(trash)
    return {"frames": frames, "bytes": nbytes, "load_seconds": load_s, "runs": runs}


def throughput_tables(t):
    runs = t["runs"]
    best = {n: min(rs, key=lambda r: r["seconds"]) for n, rs in runs.items()}
    best_a = {n: min(r["from_assigned"] for r in rs) for n, rs in runs.items()}
    fr, mb = t["frames"], t["bytes"] / 1e6
    alo, alo_a = best[ALO]["seconds"], best_a[ALO]
    med = {n: statistics.median(r["seconds"] for r in rs) for n, rs in runs.items()}
    cpu = {n: min(r["cpu_s"] for r in rs) for n, rs in runs.items()}
    out = [
        "### 1. Throughput: %d frames (%.0f MB, %d runs each, best run), minute..year, "
        "from the beginning to the end (-e), results to a topic" % (fr, mb, len(runs[ALO])),
        "",
        "| mode | best s (start to exit) | frames/s | MB/s | x at-least-once | cost "
        "| median s | start to assignment, s | frames/s from assignment | x at-least-once "
        "| CPU s (best) | CPU x at-least-once | paired x at-least-once |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    # each round runs every mode back to back: the ratio within a round is less exposed to
    # the load of other jobs changing between rounds; the median over the rounds
    by_round = {n: {r["round"]: r["seconds"] for r in rs} for n, rs in runs.items()}
    paired = {n: statistics.median(by_round[ALO][i] / by_round[n][i] for i in by_round[n])
              for n in runs}
    for name, _ in MODES:
        s, sa = best[name]["seconds"], best_a[name]
        out.append("| %s | %.2f | %.0f | %.0f | %.2f | %+.0f %% | %.2f | %.2f | %.0f | %.2f "
                   "| %.2f | %.2f | %.2f |" % (
                       name, s, fr / s, mb / s, alo / s, (s / alo - 1) * 100, med[name],
                       min(r["assigned_at"] for r in runs[name]), fr / sa, alo_a / sa,
                       cpu[name], cpu[name] / cpu[ALO], paired[name]))
    out.append("")
    for name, _ in MODES:
        out.append("- %s: runs %s s (start to exit); from assignment %s s; CPU %s s" % (
            name, ", ".join("%.2f" % r["seconds"] for r in runs[name]),
            ", ".join("%.2f" % r["from_assigned"] for r in runs[name]),
            ", ".join("%.2f" % r["cpu_s"] for r in runs[name])))
    cost = best[MODES[0][0]]["seconds"] / alo - 1
    cost_a = alo_a and best_a[MODES[0][0]] / alo_a - 1
    out += ["", "Cost of exactly once at the default interval, best run against best run: "
            "%+.1f %% of at-least-once's time from the process start, %+.1f %% from the "
            "partition assignment (target < 10 %%: %s). Loading the topic with kcat -P: %.1f s."
            % (cost * 100, cost_a * 100, "met" if cost < 0.10 else "NOT met",
               t["load_seconds"]),
            "x at-least-once: at-least-once's time / the mode's (throughput ratio); cost: the "
            "mode's time / at-least-once's - 1; paired: the median over the rounds of that "
            "ratio within a round; CPU: user + sys of the kuniq process.", ""]
    out += [
        "### 2. Checkpoints per exactly-once run (the `{\"kafka\":...}` line)",
        "",
        "| mode | run | s | transactions | aborts | state records | state MB | records/txn "
        "| KB/txn | commit ms avg | commit ms max | time committing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, _ in MODES:
        for r in runs[name]:
            k = r["kafka"]
            if "transactions" not in k:
                continue
            n = max(k["transactions"], 1)
            out.append("| %s | %d | %.2f | %d | %d | %d | %.1f | %.0f | %.0f | %.1f | %.1f "
                       "| %.0f %% |" % (
                           name, r["round"], r["seconds"], k["transactions"], k["aborts"],
                           k["state_records"], k["state_bytes"] / 1e6,
                           k["state_records"] / n, k["state_bytes"] / n / 1e3,
                           k["commit_ms_avg"], k["commit_ms_max"],
                           k["transactions"] * k["commit_ms_avg"] / 10 / r["seconds"]))
    return out


# ---- 3: restore after a crash ----------------------------------------------------------------


class Committed:
    """The group's committed offsets (a consumer that never joins the group)."""

    def __init__(self, addr, group, topic, partitions):
        self.c = consumer(addr, **{"group.id": group})
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]

    def total(self):
        return sum(max(tp.offset, 0) for tp in self.c.committed(self.tps, timeout=10))

    def close(self):
        self.c.close()


def restore_scenario(b, a, topic, frames, sig, opts):
    group = "eosb-r-" + uid()
    out = b.create(group + "-out", 1)
    state = group + "-kuniq-state"
    args = kuniq_args(b.addr, topic, group, out, opts)
    com = Committed(b.addr, group, topic, a.partitions)
    signame = signal.Signals(sig).name
    log("restore (%s): first run, stopped at %.0f %% committed" % (signame, a.kill_at * 100))
    k1 = Kuniq(args)
    target = a.kill_at * frames
    done = 0
    while k1.running():
        done = com.total()
        if done >= target:
            break
        time.sleep(0.1)
    if k1.rc is not None:
        raise RuntimeError("the first run ended (rc %s) before it could be stopped at %.0f %%; "
                           "lower --kill-at:\n%s" % (k1.rc, a.kill_at * 100, k1.tail()))
    t_sig = time.time() - k1.t0
    k1.signal(sig)
    k1.wait(300)
    stop_s = k1.t_exit - t_sig
    if "at_end" in k1.ev:
        log("restore (%s): warning: the first run reached the end of the stream before it "
            "stopped (lower --kill-at)" % signame)
    committed = com.total()
    st = {"records": end_offset(b.addr, state), "disk_bytes": b.disk_bytes(state)}
    log("restore (%s): stopped at %.1f s (%d of %d frames committed); restarting"
        % (signame, t_sig, committed, frames))
    k2 = Kuniq(args)
    first_commit = None
    while k2.running():
        if first_commit is None and com.total() > committed:
            first_commit = time.time() - k2.t0
        time.sleep(0.05)
    k2.check()
    com.close()
    # both runs' results, as a read_committed reader sees them
    recs = read_topic(b.addr, out)
    keys = [k for k, _ in recs]
    kafka_res = {}
    for _, v in recs:
        d = json.loads(v)
        kafka_res[(d["window"], d["start"])] = d
    st_after = {"records": end_offset(b.addr, state), "disk_bytes": b.disk_bytes(state)}
    b.delete([out, state])
    return {"signal": signame, "group": group, "first": {
        "signal_at_s": t_sig, "stop_s": stop_s, "rc": k1.rc, "committed_frames": committed,
        "committed_at_signal": done, "reached_end": "at_end" in k1.ev, "kafka": k1.kafka,
        "maxrss_mb": k1.maxrss_mb},
        "state_topic": st, "state_topic_after": st_after,
        "second": {"restore": k2.restore, "restored_at_s": k2.ev.get("restored"),
                   "assigned_at_s": k2.ev.get("assigned"), "first_commit_at_s": first_commit,
                   "hwm_assigned_mb": k2.hwm_assigned_mb, "maxrss_mb": k2.maxrss_mb,
                   "seconds": k2.t_exit, "kafka": k2.kafka,
                   "frames_read": k2.summary["frames_read"]},
        "records": len(recs), "distinct_keys": len(set(keys)), "results": kafka_res}


def restore(b, a, tmp):
    data = os.path.join(tmp, "halfyear.jsonl")
    n = a.restore_frames
    log("restore: generating %d frames (one every 15 s from 2016-01-01, a new user each)" % n)
    gen(data, ["--count", str(n), "--users", "0", "--rate", "1", "--step", "15",
               "--start", str(YEAR_2016 + 7), "--frame-size", "150"])
    opts = ["--exact-limit", "2000000"]
    log("restore: file run (the reference)")
    t0 = time.time()
    ref_out = subprocess.run([KUNIQ, "-w", WINDOWS] + opts + [data], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=True).stdout
    file_s = time.time() - t0
    ref = {}
    for line in ref_out.decode().splitlines():
        d = json.loads(line)
        ref[(d["window"], d["start"])] = d
    nbytes = os.path.getsize(data)
    last = kb.last_ts(data)
    topic = b.create("eosb-half-" + uid(), a.partitions)
    with open(data, "rb") as f:
        subprocess.run(kb.KCAT_P + ["-b", b.addr, "-t", topic, "-p", "-1"], stdin=f,
                       check=True)
    os.remove(data)
    res = {"frames": n, "bytes": nbytes, "span_days": (last - YEAR_2016) / 86400.0,
           "file_seconds": file_s, "windows": len(ref), "scenarios": []}
    for sig in a.signals:
        sc = restore_scenario(b, a, topic, n, sig, opts)
        got = sc.pop("results")
        year = ("year", YEAR_2016)
        sc["year_file"] = ref[year]["uniques"]
        sc["year_kafka"] = got[year]["uniques"] if year in got else None
        sc["year_pass"] = (year in got and got[year]["uniques"] == ref[year]["uniques"]
                           and got[year]["exact"] and ref[year]["exact"])
        sc["all_equal"] = (set(got) == set(ref) and all(
            got[w]["uniques"] == ref[w]["uniques"] and got[w]["frames"] == ref[w]["frames"]
            for w in ref))
        sc["mismatched_windows"] = sum(1 for w in set(ref) | set(got)
                                       if w not in got or w not in ref
                                       or got[w]["uniques"] != ref[w]["uniques"])
        res["scenarios"].append(sc)
    b.delete([topic])
    return res


def restore_tables(r):
    out = [
        "### 3. Restore after a mid-year stop: %d frames (%.0f MB), %.0f days of 2016, "
        "a new user per frame, minute..year, `--exact-limit 2000000`, exactly once"
        % (r["frames"], r["bytes"] / 1e6, r["span_days"]),
        "",
        "| | " + " | ".join(s["signal"] for s in r["scenarios"]) + " |",
        "|---|" + "---:|" * len(r["scenarios"]),
    ]

    def row(label, fn):
        vals = []
        for s in r["scenarios"]:
            try:
                vals.append(fn(s))
            except (TypeError, KeyError):
                vals.append("n/a")
        out.append("| %s | %s |" % (label, " | ".join(vals)))

    fr = r["frames"]
    row("first run: signal sent at (s after start)", lambda s: "%.1f" % s["first"]["signal_at_s"])
    row("first run: frames committed when stopped", lambda s: "%d (%.0f %%)" % (
        s["first"]["committed_frames"], 100.0 * s["first"]["committed_frames"] / fr))
    row("first run: exit after the signal (s), exit code", lambda s: "%.2f, %d%s" % (
        s["first"]["stop_s"], s["first"]["rc"],
        " (had reached the end!)" if s["first"]["reached_end"] else ""))
    row("first run: transactions, commit ms avg / max", lambda s: "%d, %.1f / %.1f" % (
        s["first"]["kafka"]["transactions"], s["first"]["kafka"]["commit_ms_avg"],
        s["first"]["kafka"]["commit_ms_max"]) if s["first"]["kafka"] else "(killed: no line)")
    row("state topic at restart: records (offsets)", lambda s: "%d" % s["state_topic"]["records"])
    row("state topic at restart: MB on disk", lambda s: "%.1f" % (
        s["state_topic"]["disk_bytes"] / 1e6))
    row("restore line: records", lambda s: "%d" % s["second"]["restore"]["records"])
    row("restore line: MB", lambda s: "%.1f" % s["second"]["restore"]["mb"])
    row("restore line: seconds", lambda s: "%.2f" % s["second"]["restore"]["seconds"])
    row("restart: restore line at (s after start)", lambda s: "%.2f" % s["second"]["restored_at_s"])
    row("restart: partitions assigned at (s after start)",
        lambda s: "%.2f" % s["second"]["assigned_at_s"])
    row("restart: first commit beyond the stop at (s after start)",
        lambda s: "%.2f" % s["second"]["first_commit_at_s"])
    row("restart: peak RSS when assigned (MB)", lambda s: "%.0f" % s["second"]["hwm_assigned_mb"])
    row("restart: peak RSS, whole run (MB)", lambda s: "%.0f" % s["second"]["maxrss_mb"])
    row("restart: frames read, run time to the end (s)", lambda s: "%d, %.1f" % (
        s["second"]["frames_read"], s["second"]["seconds"]))
    row("restart: transactions, commit ms avg / max", lambda s: "%d, %.1f / %.1f" % (
        s["second"]["kafka"]["transactions"], s["second"]["kafka"]["commit_ms_avg"],
        s["second"]["kafka"]["commit_ms_max"]))
    row("state topic at the end: records, MB on disk", lambda s: "%d, %.1f" % (
        s["state_topic_after"]["records"], s["state_topic_after"]["disk_bytes"] / 1e6))
    row("output topic: records / distinct keys / file run's windows", lambda s: "%d / %d / %d" % (
        s["records"], s["distinct_keys"], r["windows"]))
    row("year window: uniques, Kafka vs file", lambda s: "%s vs %d" % (
        s["year_kafka"], s["year_file"]))
    row("**year window equals the file run**",
        lambda s: "**PASS**" if s["year_pass"] else "**FAIL**")
    row("every window once, equal to the file run", lambda s: "PASS" if (
        s["all_equal"] and s["records"] == s["distinct_keys"]) else "FAIL (%d differ)"
        % s["mismatched_windows"])
    out += ["", "File run on the same stream: %.2f s, %d windows." % (
        r["file_seconds"], r["windows"])]
    return out


# ---- 4: end-to-end latency -------------------------------------------------------------------


class Watcher:
    """A read_committed consumer of an output topic; records (value, CreateTime, arrival)."""

    def __init__(self, addr, topic):
        self.records = []
        self.stop = False
        self.c = consumer(addr, **{"auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
        self.c.subscribe([topic])
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            m = self.c.poll(0.05)
            if m is None or m.error():
                continue
            self.records.append((json.loads(m.value()), m.timestamp()[1] / 1000.0, time.time()))

    def close(self):
        self.stop = True
        self.t.join()
        self.c.close()


def latency(b, a):
    topic = b.create("eosb-live-" + uid(), a.partitions)
    procs, watchers = {}, {}
    for name, extra in (("exactly once", []), ("at least once", ["--at-least-once"])):
        group = "eosb-live-" + uid()
        out = b.create(group + "-out", 1)
        watchers[name] = Watcher(b.addr, out)
        procs[name] = Kuniq(["--brokers", b.addr, "--topic", topic, "--group", group,
                             "--output-topic", out, "-w", WINDOWS] + extra)
    deadline = time.time() + 60
    while any("assigned" not in k.ev for k in procs.values()) and time.time() < deadline:
        time.sleep(0.1)
    prod = confluent_kafka.Producer({"bootstrap.servers": b.addr, "linger.ms": 5,
                                     "enable.idempotence": True})
    pad = "x" * 1900
    rnd = random.Random(1)
    last_produced = {}
    log("latency: %d frames/s over %d partitions for %.0f s, read by both modes at once"
        % (a.live_rate, a.partitions, a.live_seconds))
    t_start = time.time()
    t_end = t_start + a.live_seconds
    i = 0
    while True:
        now = time.time()
        if now >= t_end:
            break
        due = int((now - t_start) * a.live_rate)
        while i < due:
            ts = int(time.time())
            frame = '{"uid":"user-%d","ts":%d,"pad":"%s"}' % (rnd.randrange(50000), ts, pad)
            prod.produce(topic, value=frame.encode(), partition=i % a.partitions)
            last_produced[ts // 60 * 60] = time.time()
            i += 1
        prod.poll(0)
        time.sleep(0.002)
    prod.flush(30)
    time.sleep(LATENESS + 5)  # the last minute that ended is final about the lateness later
    for k in procs.values():
        k.signal(signal.SIGTERM)
    for k in procs.values():
        k.wait(120).check()
    for w in watchers.values():
        w.close()
    minutes = {}
    for name, w in watchers.items():
        for rec, create, arrival in w.records:
            if rec["window"] != "minute" or rec["end"] <= t_start or rec["end"] > t_end \
                    or rec["start"] not in last_produced:
                continue  # its minute did not end while frames were flowing
            due = rec["end"] + LATENESS
            m = minutes.setdefault(rec["start"], {"frames": rec["frames"]})
            m[name] = {"visible_s": round(arrival - due, 3), "created_s": round(create - due, 3),
                       "frames": rec["frames"]}
    stats = {name: {"transactions": k.kafka.get("transactions"),
                    "commit_ms_avg": k.kafka.get("commit_ms_avg"),
                    "commit_ms_max": k.kafka.get("commit_ms_max"),
                    "messages": k.kafka["messages"]} for name, k in procs.items()}
    b.delete([topic])
    return {"rate": a.live_rate, "seconds": a.live_seconds, "frames_produced": i,
            "minutes": {str(k): v for k, v in sorted(minutes.items())}, "kuniq": stats}


def latency_tables(lat):
    out = [
        "### 4. End-to-end latency: live stream, %d frames/s over 4 partitions for %.0f s "
        "(%d frames), minute..year, both modes reading it at once" % (
            lat["rate"], lat["seconds"], lat["frames_produced"]),
        "",
        "Seconds from the minute's end + lateness (5 s) until a read_committed consumer "
        "received the minute's result (visible), and until the result's CreateTime (produced):",
        "",
        "| minute (UTC) | frames | exactly once: visible | exactly once: produced "
        "| at least once: visible | at least once: produced |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for start, m in lat["minutes"].items():
        cells = []
        for name in ("exactly once", "at least once"):
            if name in m:
                cells += ["%.2f" % m[name]["visible_s"], "%.2f" % m[name]["created_s"]]
            else:
                cells += ["missing", "missing"]
        out.append("| %s | %d | %s |" % (time.strftime("%H:%M", time.gmtime(int(start))),
                                         m["frames"], " | ".join(cells)))
    if not lat["minutes"]:
        out.append("| (no minute ended during the stream: raise --live-seconds) | | | | | |")
    out.append("")
    for name in ("exactly once", "at least once"):
        v = [m[name]["visible_s"] for m in lat["minutes"].values() if name in m]
        s = lat["kuniq"][name]
        extra = ""
        if s["transactions"] is not None:
            extra = "; %d transactions, commit %.1f ms avg, %.1f ms max" % (
                s["transactions"], s["commit_ms_avg"], s["commit_ms_max"])
        if v:
            out.append("- %s: visible after end + lateness: median %.2f s, max %.2f s over %d "
                       "minutes%s" % (name, statistics.median(v), max(v), len(v), extra))
    return out


# ---- main ------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="throughput runs per mode (best of N)")
    ap.add_argument("--count", type=int, default=500000, help="throughput stream frames")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--restore-frames", type=int, default=1000000)
    ap.add_argument("--kill-at", type=float, default=0.7,
                    help="stop the first run once this share of the stream is committed")
    ap.add_argument("--signals", default="KILL,TERM")
    ap.add_argument("--live-seconds", type=float, default=130)
    ap.add_argument("--live-rate", type=int, default=2000)
    ap.add_argument("--parts", default="throughput,restore,latency")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-eos.json"))
    a = ap.parse_args()
    a.signals = [getattr(signal, "SIG" + s.strip().upper()) for s in a.signals.split(",")]
    parts = set(a.parts.split(","))

    tmp = tempfile.mkdtemp(prefix="kuniq-bench-eos-")
    log("starting a broker in %s" % tmp)
    b = Broker(os.path.join(tmp, "kafka"))
    t0 = time.time()
    load0 = os.getloadavg()
    res = {"broker": b.addr, "runs": a.runs}
    lines = []
    try:
        if "throughput" in parts:
            res["throughput"] = throughput(b, a, tmp)
            lines += throughput_tables(res["throughput"]) + [""]
        if "restore" in parts:
            res["restore"] = restore(b, a, tmp)
            lines += restore_tables(res["restore"]) + [""]
        if "latency" in parts:
            res["latency"] = latency(b, a)
            lines += latency_tables(res["latency"]) + [""]
    finally:
        for p in STARTED:
            if p.returncode is None and p.poll() is None:
                p.kill()
        b.reset()
        subprocess.run(["rm", "-rf", tmp])
    res["seconds"] = time.time() - t0
    lines.append("Total %.0f s; load average at the start %.1f, at the end %.1f (2 cores: "
                 "other jobs ran beside the benchmark when it is above ~2)."
                 % (res["seconds"], load0[0], os.getloadavg()[0]))
    print("\n".join(lines))
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    if "restore" in res and not all(s["year_pass"] for s in res["restore"]["scenarios"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
