"""Tiny inline-SVG charts: horizontal bars, (overlaid) histograms, a scatter with a fit line.

No plotting library is needed and the report stays one offline file: each function returns an
<svg> string sized by its content. All text is escaped; numbers are formatted compactly.
"""
from __future__ import annotations

from html import escape

import numpy as np

PALETTE = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def fmt(x: float) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e6):
        return f"{int(x):,}"
    return f"{x:.3g}"


def _text(x: float, y: float, s: str, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} {extra}>'
            f"{escape(str(s))}</text>")


def bar_chart(items: list[tuple[str, float]], color: str = PALETTE[0], width: int = 640,
              label_width: int = 230, title: str = "") -> str:
    """One horizontal bar per (label, value), value printed at the bar's end."""
    row, top = 22, 8
    height = top + row * max(len(items), 1) + 6
    peak = max((v for _, v in items), default=0) or 1
    span = width - label_width - 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">']
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = max(span * value / peak, 1 if value else 0)
        short = label if len(label) <= 34 else label[:32] + "…"
        parts.append(_text(label_width - 6, y + 14, short, "end"))
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                     f'fill="{color}"><title>{escape(label)}: {fmt(value)}</title></rect>')
        parts.append(_text(label_width + w + 5, y + 14, fmt(value)))
    parts.append("</svg>")
    return "".join(parts)


def _values(values) -> np.ndarray:
    """Finite floats as one numpy array (a report plots up to millions of values)."""
    arr = np.asarray(values, dtype=float)  # None → nan, dropped with the infinities
    return arr[np.isfinite(arr)]


def bins_for(values, max_bins: int = 20) -> list[float]:
    """Bin edges: one bin per grid value for rating-like data (1–5, or means in steps of 0.5),
    else `max_bins` equal-width bins."""
    values = _values(values)
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return [lo - 0.5, hi + 0.5]
    distinct = np.unique(values)
    if len(distinct) <= max_bins:
        step = float(np.diff(distinct).min())
        slots = (hi - lo) / step
        pos = (distinct - lo) / step
        on_grid = bool(np.all(np.abs(pos - np.round(pos)) < 1e-6))
        if on_grid and slots <= 2 * max_bins:
            n = int(round(slots)) + 1
            return [lo - step / 2 + i * step for i in range(n + 1)]
    step = (hi - lo) / max_bins
    return [lo + i * step for i in range(max_bins)] + [hi]


def counts(values, edges: list[float]) -> list[int]:
    """Values per bin (equal-width bins over [edges[0], edges[-1]], the last one closed)."""
    values = _values(values)
    lo, hi, nb = edges[0], edges[-1], len(edges) - 1
    inside = values[(values >= lo) & (values <= hi)]
    idx = np.minimum(((inside - lo) / (hi - lo) * nb).astype(np.int64), nb - 1)
    return np.bincount(idx, minlength=nb).tolist()


def histogram(series: dict[str, list[float]], x_label: str = "", width: int = 440,
              height: int = 200, title: str = "") -> str:
    """Histograms of one or more series on shared bins (overlaid, translucent, with legend)."""
    series = {k: _values(vals) for k, vals in series.items()}
    every = np.concatenate(list(series.values())) if series else np.zeros(0)
    if not len(every):
        return '<p class="none">no values</p>'
    edges = bins_for(every)
    left, right, top, bottom = 44, 16, 22 if len(series) > 1 else 8, 34
    pw, ph = width - left - right, height - top - bottom
    all_counts = {k: counts(v, edges) for k, v in series.items()}
    peak = max(max(c) for c in all_counts.values()) or 1
    x0, x1 = edges[0], edges[-1]
    sx = lambda x: left + (x - x0) / (x1 - x0) * pw  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title or x_label)}">',
             f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" '
             'stroke="#888"/>', _text(left - 4, top + 10, fmt(peak), "end"),
             _text(left - 4, top + ph, "0", "end")]
    opacity = 0.85 if len(series) == 1 else 0.5
    for n, (name, cs) in enumerate(all_counts.items()):
        color = PALETTE[n % len(PALETTE)]
        for i, c in enumerate(cs):
            if not c:
                continue
            x, w = sx(edges[i]), max(sx(edges[i + 1]) - sx(edges[i]) - 1, 1)
            h = ph * c / peak
            parts.append(f'<rect x="{x:.1f}" y="{top + ph - h:.1f}" width="{w:.1f}" '
                         f'height="{h:.1f}" fill="{color}" fill-opacity="{opacity}">'
                         f"<title>{escape(name)} [{fmt(edges[i])}, {fmt(edges[i + 1])}): {c}"
                         "</title></rect>")
        if len(series) > 1:
            lx = left + n * 130
            parts.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{color}" '
                         f'fill-opacity="{opacity}"/>')
            parts.append(_text(lx + 14, 13, f"{name} (n={len(series[name])})"))
    for x, anchor in ((edges[0], "start"), ((edges[0] + edges[-1]) / 2, "middle"),
                      (edges[-1], "end")):
        parts.append(_text(sx(x), top + ph + 14, fmt(x), anchor))
    parts.append(_text(left + pw / 2, height - 4, x_label, "middle", 'fill="#555"'))
    parts.append("</svg>")
    return "".join(parts)


def pearson(xs, ys) -> float | None:
    """Pearson's r of paired values; None for fewer than 3 pairs or a constant side."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(x) < 3:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    if sxx == 0 or syy == 0:
        return None
    return float(dx @ dy) / (sxx * syy) ** 0.5


def scatter(xs: list[float], ys: list[float], x_label: str, y_label: str, width: int = 440,
            height: int = 260, max_points: int = 2000) -> str:
    """Points (the first `max_points`, to keep the file small) and the least-squares line."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if not len(xs):
        return '<p class="none">no points</p>'
    left, right, top, bottom = 50, 12, 10, 36
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = float(xs.min()), float(xs.max())
    y0, y1 = float(ys.min()), float(ys.max())
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    sx = lambda x: left + (x - x0) / (x1 - x0) * pw  # noqa: E731
    sy = lambda y: top + ph - (y - y0) / (y1 - y0) * ph  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(y_label)} vs {escape(x_label)}">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
             'stroke="#ccc"/>']
    if x0 < 0 < x1:
        parts.append(f'<line x1="{sx(0):.1f}" y1="{top}" x2="{sx(0):.1f}" y2="{top + ph}" '
                     'stroke="#ccc" stroke-dasharray="3,3"/>')
    for x, y in zip(xs[:max_points].tolist(), ys[:max_points].tolist()):
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{PALETTE[0]}" '
                     'fill-opacity="0.5"/>')
    mx, my = float(xs.mean()), float(ys.mean())
    sxx = float((xs - mx) @ (xs - mx))
    if sxx > 0:
        slope = float((xs - mx) @ (ys - my)) / sxx
        fy = lambda x: min(max(my + slope * (x - mx), y0), y1)  # noqa: E731
        parts.append(f'<line x1="{sx(x0):.1f}" y1="{sy(fy(x0)):.1f}" x2="{sx(x1):.1f}" '
                     f'y2="{sy(fy(x1)):.1f}" stroke="{PALETTE[1]}" stroke-width="2"/>')
    for x, anchor in ((x0, "start"), (x1, "end")):
        parts.append(_text(sx(x), top + ph + 14, fmt(x), anchor))
    for y in (y0, y1):
        parts.append(_text(left - 4, sy(y) + 4, fmt(y), "end"))
    parts.append(_text(left + pw / 2, height - 4, x_label, "middle", 'fill="#555"'))
    parts.append(_text(12, top + ph / 2, y_label, "middle",
                       f'fill="#555" transform="rotate(-90 12 {top + ph / 2:.1f})"'))
    parts.append("</svg>")
    return "".join(parts)
