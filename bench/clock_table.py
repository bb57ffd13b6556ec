#!/usr/bin/env python3
"""The event clock on the streams users have: frames lost and result latency (README table).

Part 1, frames lost (replays of history, default options, -w minute): for each stream kind the
generator writes the stream twice, with and without the disturbance (same seed: the frames are
the same except those the option touched or inserted). The clean frames of every minute are
counted by brute force here; a clean frame is lost when its minute's record holds fewer frames
than the clean frames that belong to it.

Part 2, latency (live streams, frames stamped with the wall clock, through a pipe): seconds from
the end of a minute (wall clock) to its record on kuniq's stdout.

Usage: bench/clock_table.py [--live-seconds 130] [--kuniq build/kuniq] [--gen build/kuniq-gen]
"""
import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from oracle import parse_top  # noqa: E402  (only to find the top-level ts of a frame)


def top_ts(line):
    text = line.decode()
    for key, a, b in parse_top(text):
        if key == "ts":
            return int(text[a:b].strip('"'))
    return None


def gen(path, gen_bin, args):
    with open(path, "wb") as f:
        subprocess.run([gen_bin] + args, stdout=f, check=True)


def run_kuniq(kuniq, path, extra=(), feed=None):
    if feed is None:
        p = subprocess.run([kuniq, "-w", "minute"] + list(extra) + [path], capture_output=True,
                           check=True)
        out, err = p.stdout, p.stderr
    else:
        p = subprocess.Popen([kuniq, "-w", "minute"] + list(extra), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reader = threading.Thread(target=lambda: setattr(p, "_out", p.stdout.read()))
        reader.start()
        feed(p.stdin)
        p.stdin.close()
        reader.join()
        err = p.stderr.read()
        p.wait()
        out = p._out
    recs = [json.loads(x) for x in out.decode().splitlines()]
    summary = json.loads(err.decode().strip().splitlines()[-1])["summary"]
    return recs, summary


def lost(clean_path, path, recs):
    """Clean frames missing from their minute (frames of path identical to clean_path)."""
    with open(clean_path, "rb") as a:
        left = collections.Counter(a)
    clean = collections.Counter()
    with open(path, "rb") as b:
        for line in b:  # a frame of path is clean when the clean stream has it too
            if left[line] > 0:
                left[line] -= 1
                t = top_ts(line)
                clean[t - t % 60] += 1
    got = {r["start"]: r["frames"] for r in recs}
    return sum(max(0, n - got.get(m, 0)) for m, n in clean.items()), sum(clean.values())


def part1(kuniq, gen_bin, tmp):
    base = ["--users", "2000", "--frame-size", "150", "--seed", "11"]
    kinds = [
        ("dense (1,000 frames/s, 10 % delayed <= 5 s)",
         ["--count", "300000", "--rate", "1000", "--delay", "5", "--delay-prob", "0.1"], []),
        ("one frame a minute (2,000 frames)", ["--count", "2000", "--rate", "1", "--step", "60"],
         []),
        ("one frame an hour (2,000 frames)",
         ["--count", "2000", "--rate", "1", "--step", "3600"], []),
        ("one frame a day (730 frames)", ["--count", "730", "--rate", "1", "--step", "86400"], []),
        ("bursts of 1,000 frames, 1 h pauses",
         ["--count", "100000", "--rate", "100", "--pause-every", "1000", "--pause", "3600"], []),
        ("0.1 % flips of any bit (dense)",
         ["--count", "300000", "--rate", "1000", "--delay", "5", "--delay-prob", "0.1"],
         ["--bitflip-prob", "0.001"]),
        ("1 % flips of any bit (dense)",
         ["--count", "300000", "--rate", "1000", "--delay", "5", "--delay-prob", "0.1"],
         ["--bitflip-prob", "0.01"]),
        ("0.1 % flips of any bit, one frame a minute",
         ["--count", "20000", "--rate", "1", "--step", "60"], ["--bitflip-prob", "0.001"]),
        ("100 garbage frames stamped 2099 mid-stream (dense)",
         ["--count", "300000", "--rate", "1000"],
         ["--garbage-at", "150000", "--garbage-count", "100"]),
    ]
    rows = []
    for name, args, disturb in kinds:
        clean = os.path.join(tmp, "clean.jsonl")
        path = os.path.join(tmp, "stream.jsonl")
        gen(clean, gen_bin, base + args)
        gen(path, gen_bin, base + args + disturb)
        recs, s = run_kuniq(kuniq, path)
        n_lost, n_clean = lost(clean, path, recs)
        rows.append((name, n_clean, n_lost, s["late"]["minute"], s["rejected"]["ts_ahead"],
                     s["rejected"]["ts_range"]))
    # a stalled pipe: a 2016 replay pauses 3 s (idle timeout 1 s) half-way
    clean = os.path.join(tmp, "clean.jsonl")
    gen(clean, gen_bin, base + ["--count", "100000", "--rate", "1000"])
    lines = open(clean, "rb").readlines()

    def stalled(stdin):
        stdin.writelines(lines[:50000])
        stdin.flush()
        time.sleep(3)
        stdin.writelines(lines[50000:])

    recs, s = run_kuniq(kuniq, None, ["--idle-timeout", "1"], feed=stalled)
    n_lost, n_clean = lost(clean, clean, recs)
    rows.append(("replay through a pipe that stalls 3 s (idle timeout 1 s)", n_clean, n_lost,
                 s["late"]["minute"], s["rejected"]["ts_ahead"], s["rejected"]["ts_range"]))
    # runs of consecutive corrupt frames (one random bit each), at 40 random places
    lines = open(clean, "rb").read().split(b"\n")[:-1][:60000]
    rng = random.Random(5)
    for run in (10, 40):
        total_lost = 0
        for _ in range(40):
            out, pos = list(lines), rng.randrange(1000, 50000)
            for i in range(pos, pos + run):
                text = out[i].decode()
                for key, a, b in parse_top(text):
                    if key == "ts":
                        t = int(text[a:b]) ^ (1 << rng.randrange(32))
                        out[i] = (text[:a] + str(t) + text[b:]).encode()
            path = os.path.join(tmp, "run.jsonl")
            with open(path, "wb") as f:
                f.write(b"\n".join(out) + b"\n")
            with open(os.path.join(tmp, "base.jsonl"), "wb") as f:
                f.write(b"\n".join(lines) + b"\n")
            recs, s = run_kuniq(kuniq, path)
            total_lost += lost(os.path.join(tmp, "base.jsonl"), path, recs)[0]
        rows.append(("%d consecutive frames with a random bit flipped, 40 places (dense)" % run,
                     40 * (len(lines) - run), total_lost, "-", "-", "-"))
    print("| stream (replay of 2016, default options) | clean frames | clean frames lost | "
          "late | ts_ahead | ts_range |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %s |" % r)
    return rows


def live(kuniq, seconds, period, label, extra=()):
    """Frames stamped with the wall clock every `period` s; returns minute-end -> record delays."""
    p = subprocess.Popen([kuniq, "-w", "minute"] + list(extra), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    delays = []

    def reader():
        for line in p.stdout:
            r = json.loads(line)
            delays.append(time.time() - r["end"])

    t = threading.Thread(target=reader)
    t.start()
    start, n = time.time(), 0
    batch = max(1, int(0.05 / period)) if period < 0.05 else 1
    while time.time() - start < seconds:
        for _ in range(batch):
            p.stdin.write('{"uid":"u%d","ts":%d}\n' % (n % 5000, int(time.time())))
            n += 1
        p.stdin.flush()
        target = start + n * period
        if target > time.time():
            time.sleep(target - time.time())
    # the stream goes quiet: its last minute must come out on wall time (the idle timeout)
    stop = time.time()
    time.sleep(max(0.0, (stop - stop % 60 + 60) + 20 - time.time()))
    p.stdin.close()
    t.join()
    p.wait()
    return label, delays


def part2(kuniq, seconds):
    cases = [(0.001, "dense live stream, 1,000 frames/s"),
             (1.0, "one frame a second"),
             (7.0, "one frame every 7 s (below the idle timeout)"),
             (25.0, "one frame every 25 s (above the idle timeout)"),
             (7.0, "one frame every 7 s, --idle-timeout 2", ["--idle-timeout", "2"])]
    results = [None] * len(cases)

    def one(i, case):
        results[i] = live(kuniq, seconds, *case)

    threads = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(cases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print()
    print("| live stream (default options: lateness 5 s, idle timeout 10 s) | minutes | "
          "minute end -> result, median | max |")
    print("|---|---:|---:|---:|")
    for label, d in results:
        d = sorted(d)
        if not d:
            print("| %s | 0 | - | - |" % label)
            continue
        print("| %s | %d | %.1f s | %.1f s |" % (label, len(d), d[len(d) // 2], d[-1]))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--live-seconds", type=float, default=130)
    ap.add_argument("--kuniq", default="build/kuniq")
    ap.add_argument("--gen", default="build/kuniq-gen")
    ap.add_argument("--skip-live", action="store_true", help="part 1 only")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        part1(a.kuniq, a.gen, tmp)
    if not a.skip_live:
        part2(a.kuniq, a.live_seconds)


if __name__ == "__main__":
    main()
