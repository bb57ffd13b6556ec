#!/usr/bin/env python3
"""parse_py.py FILE - peer benchmark: the Python json.loads loop the sample solutions used.

Parses every line with json.loads and takes the top-level uid (str) and ts (int, float floored,
or a string of 1..18 digits). Prints the columns of parse_bench.c, timed by process CPU time:
    python-json <MB/s> <frames/s> <valid frames> <sum of ts + uid length>
"""
import json
import math
import sys
import time


def main():
    path = sys.argv[1]
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    size = sum(len(l) + 1 for l in lines)
    t0 = time.process_time()
    ok = total = 0
    for line in lines:
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if not isinstance(o, dict):
            continue
        uid, ts = o.get("uid"), o.get("ts")
        if not isinstance(uid, str):
            continue
        if isinstance(ts, bool):
            continue
        if isinstance(ts, int):
            v = ts
        elif isinstance(ts, float) and math.isfinite(ts):
            v = math.floor(ts)
        elif isinstance(ts, str) and 1 <= len(ts) <= 18 and ts.isascii() and ts.isdigit():
            v = int(ts)
        else:
            continue
        ok += 1
        total += v + len(uid.encode())
    t = time.process_time() - t0
    print("python-json %.1f %.0f %d %d" % (size / t / 1e6, len(lines) / t, ok, total % 2**64))


if __name__ == "__main__":
    main()
