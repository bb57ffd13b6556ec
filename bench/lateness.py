#!/usr/bin/env python3
"""Event-time figures for README ("When results are emitted").

1. Share of frames counted as late, per --lateness, on a generated stream with the sample's
   shape (1000 frames per event-second) where 10% of frames are delayed by 1..5 s and 0.5% by
   1..30 s (two generator runs interleaved line by line would change the shape, so the stream
   is generated with --delay 5 and, separately, --delay 30 at a low probability).
2. Latency from the end of a minute (wall clock) to its result on stdout, on a live stream whose
   frames carry the current time, paced at --rate frames per second.

Usage: bench/lateness.py [--latency-seconds 130]   (needs build/kuniq and build/kuniq-gen)
"""
import argparse
import json
import subprocess
import sys
import threading
import time

KUNIQ = "build/kuniq"
GEN = "build/kuniq-gen"


def late_share(gen_args, lateness):
    gen = subprocess.Popen([GEN] + gen_args, stdout=subprocess.PIPE)
    run = subprocess.run([KUNIQ, "--lateness", str(lateness)], stdin=gen.stdout,
                         capture_output=True, text=True, check=True)
    gen.wait()
    summary = json.loads(run.stderr.strip().splitlines()[-1])["summary"]
    return summary["late"]["minute"] / summary["frames_valid"], summary["frames_valid"]


def latency(seconds, rate):
    """Feeds frames stamped with the current time; returns (minute end -> result) delays."""
    proc = subprocess.Popen([KUNIQ, "--idle-timeout", "0"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    seen = []

    def reader():
        for line in proc.stdout:
            rec = json.loads(line)
            seen.append((time.time(), rec))

    t = threading.Thread(target=reader)
    t.start()
    start = time.time()
    n = 0
    pad = "x" * 1900
    while time.time() - start < seconds:
        now = time.time()
        ts = int(now)
        proc.stdin.write('{"uid":"u%d","ts":%d,"pad":"%s"}\n' % (n % 5000, ts, pad))
        n += 1
        if n % 100 == 0:
            proc.stdin.flush()
            target = start + n / rate
            if target > time.time():
                time.sleep(target - time.time())
    proc.stdin.close()
    t.join()
    proc.wait()
    return [(at - rec["end"]) for at, rec in seen if rec["end"] <= start + seconds - 6]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--latency-seconds", type=float, default=130)
    ap.add_argument("--rate", type=float, default=2000)
    a = ap.parse_args()
    streams = [
        ("10% delayed 1..5 s", ["--delay", "5", "--delay-prob", "0.1"]),
        ("0.5% delayed 1..30 s", ["--delay", "30", "--delay-prob", "0.005"]),
    ]
    print("| stream (1,000 frames/s of event time) | " +
          " | ".join("late at L=%d s" % l for l in (0, 1, 2, 5, 10)) + " |")
    print("|---|" + "---|" * 5)
    for name, extra in streams:
        args = ["--count", str(a.count), "--frame-size", "300", "--seed", "7"] + extra
        shares = [late_share(args, l)[0] for l in (0, 1, 2, 5, 10)]
        print("| %s | %s |" % (name, " | ".join("%.3f%%" % (100 * s) for s in shares)))
    sys.stdout.flush()
    if a.latency_seconds > 0:
        d = latency(a.latency_seconds, a.rate)
        if not d:
            print("latency: no minute ended inside the run; use a longer --latency-seconds")
            return
        print("\nlatency, live stream at %.0f frames/s, default lateness 5 s: minute end -> "
              "result on stdout: %s s (%d minutes)" %
              (a.rate, ", ".join("%.2f" % x for x in d), len(d)))


if __name__ == "__main__":
    main()
