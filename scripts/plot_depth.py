#!/usr/bin/env python3
"""Plots speed and memory against context depth from `rwkvrt bench -d ... -o json` as an SVG.

    rwkvrt bench -m MODEL -p 64 -n 64 -d 0,1000,10000,100000,1000000 -o json > depth.json
    scripts/plot_depth.py depth.json docs/depth.svg

A recurrent model's cost per token and memory do not grow with the context: both lines should be
flat. Standard library only, so it runs wherever the tests do.
"""
import json
import math
import sys

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 240, 70, 150, 30, 45
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def log_x(depth, lo, hi):
    span = math.log10(hi + 1) - math.log10(lo + 1) or 1.0
    return PAD_L + (math.log10(depth + 1) - math.log10(lo + 1)) / span * (W - PAD_L - PAD_R)


def nice_step(rough):
    """The 1, 2 or 5 × 10^k at or above `rough`: ticks at round values, such as 0, 5,000, 10,000."""
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def panel(title, y_label, series, y_offset):
    """series: {name: [(depth, value)]}; one panel of the figure, its y axis from 0."""
    depths = sorted({d for pts in series.values() for d, _ in pts})
    lo, hi = depths[0], depths[-1]
    top = max(v for pts in series.values() for _, v in pts) * 1.15 or 1.0
    y = lambda v: y_offset + PAD_T + (1 - v / top) * (H - PAD_T - PAD_B)
    out = [f'<text x="{W / 2}" y="{y_offset + 18}" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{PAD_L}" y1="{y(0)}" x2="{W - PAD_R}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{PAD_L}" y1="{y(0)}" x2="{PAD_L}" y2="{y(top)}" stroke="black"/>',
           f'<text x="14" y="{(y(0) + y(top)) / 2}" transform="rotate(-90 14 {(y(0) + y(top)) / 2})" '
           f'text-anchor="middle">{y_label}</text>']
    step = nice_step(top / 4)
    for i in range(int(top / step) + 1):
        v = i * step
        label = f"{v:,.0f}" if step >= 1 else f"{v:g}"
        out.append(f'<text x="{PAD_L - 6}" y="{y(v) + 4}" text-anchor="end" font-size="11">{label}</text>')
    for d in depths:
        out.append(f'<text x="{log_x(d, lo, hi)}" y="{y(0) + 16}" text-anchor="middle" font-size="11">{d:,}</text>')
    out.append(f'<text x="{(PAD_L + W - PAD_R) / 2}" y="{y(0) + 32}" text-anchor="middle" font-size="12">'
               'tokens already in the state (log scale)</text>')
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{log_x(d, lo, hi):.1f},{y(v):.1f}" for d, v in sorted(pts))
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{log_x(d, lo, hi):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"/>' for d, v in pts]
        out.append(f'<text x="{W - PAD_R + 10}" y="{y_offset + PAD_T + 20 + 18 * i}" fill="{color}">{name}</text>')
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        bench = json.load(f)
    speed, memory = {}, {}
    for r in bench["results"]:
        speed.setdefault(f'{r["test"]}, batch {r["batch"]}', []).append((r["depth"], r["tokens_per_second"]))
    for m in bench.get("rss_kib", []):
        memory.setdefault(f'batch {m["batch"]}', []).append((m["depth"], m["rss_kib"] / 1024))
    if not speed:
        sys.exit("no results in " + sys.argv[1])
    name = bench["model"].rsplit("/", 1)[-1]
    parts = panel(f'{name} ({bench["arch"]}, {bench["weight_type"]}): speed', "tokens/s", speed, 0)
    height = H
    if memory:
        parts += panel("resident memory after each test", "RSS (MiB)", memory, H)
        height = 2 * H
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" '
           f'font-size="13">\n<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(parts) + "\n</svg>\n")
    with open(sys.argv[2], "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
