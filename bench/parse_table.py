#!/usr/bin/env python3
"""parse_table.py BIG SMALL SECONDS - runs the parse benchmark peers and prints one table.

BIG and SMALL are JSON-lines files (SMALL is the first part of BIG, for the slow peers). Every
figure is CPU time (user + sys) of one core, best of several runs, with the file in memory or in
the page cache. Programs of this directory print "<name> <MB/s> <frames/s> <valid> <checksum>";
the command-line peers are timed here with the CPU time of the child process. The ratio column is
kuniq-avx2's MB/s over the row's MB/s (above 1: kuniq's AVX2 parser is faster).
"""
import os
import resource
import subprocess
import sys

BENCH = "build/bench"


def programs(path, secs):
    """Rows from the C/C++ bench programs on path."""
    rows = []
    cmds = [
        [f"{BENCH}/parse_bench", path, secs],
        [f"{BENCH}/parse_simdjson", path, secs],
        [f"{BENCH}/parse_simdjson", path, secs, "haswell"],
        [f"{BENCH}/parse_jansson", path, secs],
    ]
    for cmd in cmds:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 5:
                rows.append((f[0], float(f[1]), float(f[2]), int(f[3]), int(f[4]), path))
    return rows


def cpu_of(cmd, stdout=subprocess.DEVNULL, runs=3):
    """Best CPU time (user + sys) of running cmd."""
    best = None
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, stdout=stdout)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = t if best is None else min(best, t)
    return max(best, 1e-6)


def frames_in(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def tool_row(name, cmd, path, runs=3):
    t = cpu_of(cmd, runs=runs)
    size, n = os.path.getsize(path), frames_in(path)
    return (name, size / t / 1e6, n / t, None, None, path)


def main():
    big, small, secs = sys.argv[1], sys.argv[2], sys.argv[3]
    subprocess.run(["cat", big], check=True, stdout=subprocess.DEVNULL)  # into the page cache
    rows = programs(big, secs)
    rows.append(tool_row("cat >/dev/null", ["cat", big], big))
    rows.append(tool_row("wc -l", ["wc", "-l", big], big))
    rows.append(tool_row("jq -c '{uid,ts}'", ["jq", "-c", "{uid,ts}", small], small, runs=1))
    out = subprocess.run(["python3", "bench/parse_py.py", small], check=True,
                         capture_output=True, text=True).stdout.split()
    rows.append((out[0], float(out[1]), float(out[2]), int(out[3]), int(out[4]), small))
    ref_small = subprocess.run(
        [f"{BENCH}/parse_bench", small, "0.2", "kuniq-avx2"], check=True, capture_output=True,
        text=True).stdout.split()
    ours = next(r for r in rows if r[0] == "kuniq-avx2")
    checks = {big: (ours[3], ours[4]), small: (int(ref_small[3]), int(ref_small[4]))}

    sizes = {p: os.path.getsize(p) for p in (big, small)}
    print(f"input: {big} ({frames_in(big)} frames, {sizes[big] / 1e6:.1f} MB; "
          f"jq and python on the first {frames_in(small)} frames)")
    print()
    print("| parser | MB/s | frames/s | kuniq-avx2 is x times faster | same uid/ts as kuniq |")
    print("|---|---:|---:|---:|---|")
    for name, mbs, fps, ok, csum, path in rows:
        if ok is None:
            same = "n/a"
        else:
            same = "yes" if (ok, csum) == checks[path] else f"no ({ok} valid)"
        print(f"| {name} | {mbs:,.0f} | {fps:,.0f} | {ours[1] / mbs:.2f} | {same} |")


if __name__ == "__main__":
    main()
