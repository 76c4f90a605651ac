"""95% intervals for the numbers in eval.json (small held-out sets: say how sure we are)."""
from __future__ import annotations

import math

Z95 = 1.959963984540054


def proportion(k: int, n: int) -> dict:
    """k of n with the Wilson score interval (Wilson 1927), which stays inside [0, 1] and is
    sensible at k = 0 or k = n, unlike the normal approximation."""
    if n == 0:
        return {"value": None, "k": 0, "n": 0, "ci95": None}
    p = k / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return {"value": p, "k": k, "n": n, "ci95": [max(0.0, centre - half), min(1.0, centre + half)]}


def mean(values) -> dict:
    """Mean with a normal-approximation interval (mean ± 1.96·s/√n; s the sample deviation)."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return {"value": None, "n": 0, "ci95": None}
    m = sum(values) / n
    if n == 1:
        return {"value": m, "n": 1, "ci95": None}
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    half = Z95 * s / math.sqrt(n)
    return {"value": m, "n": n, "ci95": [m - half, m + half]}
