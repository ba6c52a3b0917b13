"""A small SVG line-chart writer for the benchmark scripts (matplotlib is not a dependency).

from svgplot import line_chart
line_chart(path, title="RSS over time", x_label="goals", y_label="MiB",
           series={"RSS": [(0, 80.1), (100, 81.0), ...]}, hlines={"bound": 120.0})
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, value = [], start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}"


def line_chart(
    path: str | Path,
    *,
    title: str,
    x_label: str,
    y_label: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    hlines: Mapping[str, float] | None = None,
    width: int = 760,
    height: int = 380,
    y_min: float | None = 0.0,
    log_x: bool = False,
) -> Path:
    """Write an SVG with one polyline per series (and dashed horizontal reference lines)."""
    hlines = dict(hlines or {})
    points = [p for pts in series.values() for p in pts]
    if not points:
        raise ValueError("nothing to plot")
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    xs = [tx(x) for x, _ in points]
    ys = [y for _, y in points] + list(hlines.values())
    x_lo, x_hi = min(xs), max(xs)
    y_lo = min(ys) if y_min is None else min(y_min, min(ys))
    y_hi = max(ys) * 1.08 if max(ys) > 0 else 1.0
    y_ticks = _nice_ticks(y_lo, y_hi)
    y_lo, y_hi = min(y_ticks[0], y_lo), max(y_ticks[-1], y_hi)
    left, right, top, bottom = 70, 20, 40, 55
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (tx(x) - x_lo) / ((x_hi - x_lo) or 1.0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y_lo) / ((y_hi - y_lo) or 1.0) * ph

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>',
    ]
    for t in y_ticks:
        y = sy(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    x_values: Iterable[float]
    if log_x:
        x_values = [10**e for e in range(math.floor(x_lo), math.ceil(x_hi) + 1)]
    else:
        x_values = _nice_ticks(x_lo, x_hi, 6)
    for t in x_values:
        if not (x_lo - 1e-9 <= tx(t) <= x_hi + 1e-9):
            continue
        x = sx(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{top + ph}" x2="{x:.1f}" y2="{top + ph + 5}" stroke="black"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{top + ph + 18}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 12}" text-anchor="middle">{html.escape(x_label)}</text>'
    )
    out.append(
        f'<text x="16" y="{top + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + ph / 2})">{html.escape(y_label)}</text>'
    )
    for name, value in hlines.items():
        y = sy(value)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#888" '
            f'stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<text x="{left + pw - 4}" y="{y - 4:.1f}" text-anchor="end" fill="#555">'
            f"{html.escape(name)} ({_fmt(value)})</text>"
        )
    for n, (name, pts) in enumerate(series.items()):
        color = COLORS[n % len(COLORS)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{coords}"/>')
        if len(pts) <= 12:
            out.extend(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in pts
            )
        ly = top + 14 + 16 * n
        out.append(
            f'<line x1="{left + 10}" y1="{ly - 4}" x2="{left + 30}" y2="{ly - 4}" stroke="{color}" '
            f'stroke-width="2"/>'
        )
        out.append(f'<text x="{left + 36}" y="{ly}">{html.escape(name)}</text>')
    out.append("</svg>")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target
