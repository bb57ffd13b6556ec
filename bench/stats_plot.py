#!/usr/bin/env python3
"""stats_plot.py - draws docs/live-rate.svg: kuniq's own stats lines (--stats-interval) over a
live run whose input rate varies.

kuniq reads stdin from this script, which writes frames at a rate that changes over ~30 s (a
ramp to 40,000 frames/s, a plateau, a drop to 5,000/s, a burst of 60,000/s, then 20,000/s).
Frames are {"uid","ts"} with uids drawn from a pool of 1,000,000 and ts advancing one second
every 50 frames, so event time runs 100 to 1,200 times faster than wall time once the ramp is
over, and hour windows close during the run. kuniq runs with -w minute,hour --stats-interval
0.5; the script keeps every stats line and plots
  - top: frames_per_s as kuniq reported it, and the rate the script was feeding (dashed);
  - bottom: counter_bytes (the windows' counters, in MB): the open hour window's exact set grows
    with the users it has seen and is freed when the hour closes; open_windows in grey.
Plain SVG written by hand (the same approach as plot_error.py), no dependencies.

usage: python3 bench/stats_plot.py [--kuniq build/kuniq] [--out docs/live-rate.svg]
       [--seconds 30] [--jsonl FILE (also keep the stats lines)]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = 1468244340
W, H = 760, 520
L, R, T, B = 80, 80, 40, 50
GAP = 50  # between the panels


def rate_at(t, total):
    """Frames per second the script feeds at t seconds (the profile scales to total seconds)."""
    x = t / total * 30.0
    if x < 8:
        return 40000 * x / 8
    if x < 14:
        return 40000
    if x < 20:
        return 5000
    if x < 24:
        return 60000
    return 20000


def feed(p, seconds, fed):
    """Writes frames to p's stdin following rate_at; appends (t, rate) to fed."""
    rng = random.Random(1)
    n = 0
    start = time.monotonic()
    done = 0.0  # frames due so far (fractional)
    last = start
    while True:
        now = time.monotonic()
        t = now - start
        if t >= seconds:
            break
        r = rate_at(t, seconds)
        done += r * (now - last)
        last = now
        fed.append((t, r))
        want = int(done) - n
        if want > 0:
            chunk = "".join('{"uid":"u%d","ts":%d}\n' % (rng.randrange(1000000), T0 + (n + i) // 50)
                            for i in range(want))
            p.stdin.write(chunk.encode())
            p.stdin.flush()
            n += want
        time.sleep(0.02)
    p.stdin.close()
    return n


def run(kuniq, seconds):
    p = subprocess.Popen([kuniq, "-w", "minute,hour", "--stats-interval", "0.5"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines = []

    def read():
        for raw in p.stderr:
            if raw.startswith(b'{"stats"'):
                lines.append(json.loads(raw)["stats"])
            elif not raw.startswith(b'{"summary"'):
                sys.stderr.write(raw.decode("utf-8", "replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    fed = []
    n = feed(p, seconds, fed)
    rc = p.wait(120)
    reader.join(10)
    if rc != 0:
        sys.exit("kuniq exited with %d" % rc)
    print("fed %d frames in %.0f s; %d stats lines" % (n, seconds, len(lines)), file=sys.stderr)
    return lines[:-1], fed  # the last line is written at the end of input (rate over a stub)


def nice_max(v):
    for m in (1, 2, 2.5, 5, 10):
        top = m * 10 ** len(str(int(v))) / 10
        if top >= v:
            return top
    return v


def svg(lines, fed, seconds):
    xs = [s["uptime_s"] for s in lines]
    x1 = max(seconds, max(xs) if xs else 1)
    ph = (H - T - B - GAP) / 2
    top1, top2 = T, T + ph + GAP

    def px(t):
        return L + t / x1 * (W - L - R)

    rmax = nice_max(max([s["frames_per_s"] for s in lines] + [r for _, r in fed]) * 1.05)
    mmax = nice_max(max(s["counter_bytes"] for s in lines) / 1e6 * 1.1 or 1)
    wmax = max(4, max(s["open_windows"] for s in lines) + 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="22" font-size="14">kuniq --stats-interval 0.5 on a live stdin '
           f'stream whose rate varies</text>']

    def panel(y0, vmax, unit, ticks=5):
        for i in range(ticks + 1):
            v = vmax * i / ticks
            y = y0 + ph - v / vmax * ph
            out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
            lab = f"{v / 1000:g}k" if unit == "k" else f"{v:g}"
            out.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{lab}</text>')
        t = 0
        while t <= x1 + 1e-9:
            x = px(t)
            out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + ph}" stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{y0 + ph + 16}" text-anchor="middle">{t:g}</text>')
            t += 5
        out.append(f'<rect x="{L}" y="{y0}" width="{W - L - R}" height="{ph}" fill="none" '
                   f'stroke="#333"/>')

    def poly(pts, y0, vmax, color, width=2, dash=None, step=False):
        coords = []
        for i, (t, v) in enumerate(pts):
            y = y0 + ph - min(v, vmax) / vmax * ph
            if step and coords:
                coords.append(f"{px(t):.1f},{coords[-1].split(',')[1]}")
            coords.append(f"{px(t):.1f},{y:.1f}")
        d = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{color}" '
                   f'stroke-width="{width}"{d}/>')

    panel(top1, rmax, "k")
    poly([(t, r) for t, r in fed[::5]], top1, rmax, "#999", 1.5, "6,4")
    poly([(s["uptime_s"], s["frames_per_s"]) for s in lines], top1, rmax, "#1f77b4")
    out.append(f'<text transform="translate(22,{top1 + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">frames/s</text>')
    out.append(f'<text x="{W - R - 6}" y="{top1 + 16}" text-anchor="end" fill="#1f77b4">'
               f'frames_per_s (stats lines)</text>')
    out.append(f'<text x="{W - R - 6}" y="{top1 + 32}" text-anchor="end" fill="#777">'
               f'rate fed on stdin</text>')

    panel(top2, mmax, "")
    poly([(s["uptime_s"], s["counter_bytes"] / 1e6) for s in lines], top2, mmax, "#d62728")
    ws = [(s["uptime_s"], s["open_windows"] / wmax * mmax) for s in lines]
    poly(ws, top2, mmax, "#888", 1.2, step=True)
    for i in range(wmax + 1):
        y = top2 + ph - i / wmax * ph
        out.append(f'<text x="{W - R + 8}" y="{y + 4:.1f}" fill="#888">{i}</text>')
    out.append(f'<text transform="translate(22,{top2 + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">counter memory (MB)</text>')
    out.append(f'<text transform="translate({W - 28},{top2 + ph / 2}) rotate(90)" '
               f'text-anchor="middle" fill="#888">open windows</text>')
    out.append(f'<text x="{L + 8}" y="{top2 + 16}" fill="#d62728">counter_bytes: the hour '
               f'window grows with its users, freed when it closes</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">'
               f'seconds since start (uptime_s)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kuniq", default=os.path.join(ROOT, "build", "kuniq"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "live-rate.svg"))
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--jsonl", help="also write the stats lines here")
    a = ap.parse_args()
    lines, fed = run(a.kuniq, a.seconds)
    if len(lines) < 4:
        sys.exit("too few stats lines (%d) to plot" % len(lines))
    if a.jsonl:
        with open(a.jsonl, "w") as f:
            f.writelines(json.dumps({"stats": s}) + "\n" for s in lines)
    with open(a.out, "w") as f:
        f.write(svg(lines, fed, a.seconds))
    print("wrote %s" % a.out, file=sys.stderr)


if __name__ == "__main__":
    main()
