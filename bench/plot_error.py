#!/usr/bin/env python3
"""plot_error.py - draws docs/counting-error.svg from the CSVs of bench/error.c and
bench/sketch_redis.c (columns: sketch,precision,bytes,n,trials,bias,bias_se,rsd,theory,p99,max).

For each sketch (name + precision) it plots the observed relative standard deviation (solid, with
markers), the theoretical RSE (dashed) and the 99th percentile of |relative error| (dotted)
against the cardinality n on a log axis. When several files hold the same (sketch, precision, n),
the row with the most trials wins. Plain SVG, no dependencies.

usage: plot_error.py CSV... > out.svg
"""
import csv
import math
import sys

W, H = 760, 470
L, R, T, B = 70, 230, 40, 70  # margins: the legend sits in the right margin
COLORS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e"]


def load(paths):
    best = {}
    for path in paths:
        with open(path) as f:
            for row in csv.DictReader(f):
                key = (row["sketch"], int(row["precision"]), int(row["n"]))
                if key not in best or int(row["trials"]) > int(best[key]["trials"]):
                    best[key] = row
    series = {}
    for (name, p, n), row in sorted(best.items()):
        series.setdefault((name, p), []).append(row)
    return series


def label(name, p, rows):
    size = int(rows[-1]["bytes"])
    trials = sorted({int(r["trials"]) for r in rows})
    t = "/".join(str(x) for x in trials)
    if name == "redis-hll":
        return f"Redis HLL p={p} ({size} B), {t} trials"
    return f"kuniq ELL p={p} ({size} B), {t} trials"


def main():
    series = load(sys.argv[1:])
    xs = [int(r["n"]) for rows in series.values() for r in rows]
    ys = [100 * float(r[k]) for rows in series.values() for r in rows for k in ("rsd", "theory", "p99")]
    xmin, xmax = math.log10(min(xs)), math.log10(max(xs))
    ymax = math.ceil(max(ys) * 2) / 2

    def px(n):
        return L + (math.log10(n) - xmin) / (xmax - xmin) * (W - L - R)

    def py(v):
        return H - B - v / ymax * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="22" font-size="14">Relative error of distinct counts vs cardinality</text>',
           f'<text x="{L}" y="{H - 4}" fill="#555">solid: observed relative std. deviation; '
           f'dashed: theoretical RSE; dotted: 99th percentile of |relative error|</text>']
    # grid and axes
    for e in range(int(xmin), int(xmax) + 1):
        x = px(10 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">1e{e}</text>')
    step = 0.5 if ymax <= 4 else 1.0
    v = 0.0
    while v <= ymax + 1e-9:
        y = py(v)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{v:.1f}%</text>')
        v += step
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 26}" text-anchor="middle">'
               f'distinct items n (log scale)</text>')
    out.append(f'<text transform="translate(18,{(T + H - B) / 2}) rotate(-90)" '
               f'text-anchor="middle">relative error</text>')
    ly = T + 10
    for i, ((name, p), rows) in enumerate(series.items()):
        c = COLORS[i % len(COLORS)]
        for key, dash, width in (("rsd", "", 2), ("theory", "6,4", 1.2), ("p99", "2,3", 1.2)):
            pts = " ".join(f"{px(int(r['n'])):.1f},{py(100 * float(r[key])):.1f}" for r in rows)
            d = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="{width}"{d}/>')
        for r in rows:
            out.append(f'<circle cx="{px(int(r["n"])):.1f}" cy="{py(100 * float(r["rsd"])):.1f}" r="3" fill="{c}"/>')
        out.append(f'<line x1="{W - R + 12}" y1="{ly}" x2="{W - R + 36}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        words = label(name, p, rows).split(", ")
        out.append(f'<text x="{W - R + 42}" y="{ly + 4}">{words[0]}</text>')
        out.append(f'<text x="{W - R + 42}" y="{ly + 18}" fill="#555">{", ".join(words[1:])}</text>')
        ly += 40
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
