"""Chance-corrected agreement between raters: Fleiss' κ for labels, Krippendorff's α for scores.

Both take the long form the label steps build: one (item, value) pair per vote. Items judged
by a single rater carry no information about agreement and are left out of both statistics
(Krippendorff's "pairable values"; Fleiss' P_i is undefined for n_i < 2).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Hashable, Iterable


def _by_item(votes: Iterable[tuple[Hashable, Hashable]]) -> list[list]:
    items: dict[Hashable, list] = defaultdict(list)
    for item, value in votes:
        if value is not None:
            items[item].append(value)
    return [values for values in items.values() if len(values) >= 2]


def fleiss_kappa(votes: Iterable[tuple[Hashable, Hashable]]) -> float | None:
    """Fleiss' κ (Fleiss 1971, "Measuring nominal scale agreement among many raters").

    P_i = (Σ_j n_ij² − n_i) / (n_i (n_i − 1)) is the share of agreeing rater pairs on item i,
    P̄ their mean, p_j the share of all votes in category j, P̄_e = Σ_j p_j², and
    κ = (P̄ − P̄_e) / (1 − P̄_e). Fleiss assumes the same number of raters per item; with
    varying n_i this is the usual generalisation (P_i per item, p_j over all votes). None when
    fewer than one item has two votes, or when every vote is the same category (P̄_e = 1:
    chance agreement is total and κ is undefined).
    """
    items = _by_item(votes)
    if not items:
        return None
    totals: Counter = Counter()
    p_bar = 0.0
    for values in items:
        counts = Counter(values)
        totals.update(counts)
        n = len(values)
        p_bar += (sum(c * c for c in counts.values()) - n) / (n * (n - 1))
    p_bar /= len(items)
    n_votes = sum(totals.values())
    p_e = sum((c / n_votes) ** 2 for c in totals.values())
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def krippendorff_alpha(votes: Iterable[tuple[Hashable, Hashable]],
                       metric: str = "interval") -> float | None:
    """Krippendorff's α = 1 − D_o / D_e (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability"), for `interval` (δ² = (v − v')²) or `nominal` (δ = [v ≠ v']) data.

    With n pairable values in units u of m_u ≥ 2 values each:
      D_o = (1/n) Σ_u (1/(m_u − 1)) Σ_{i≠j in u} δ(v_i, v_j)
      D_e = (1/(n(n − 1))) Σ_{i≠j over all n values} δ(v_i, v_j)
    For the interval metric Σ_{i≠j} (v_i − v_j)² = 2(m Σv² − (Σv)²): no pair is visited.
    Missing values are allowed (units simply have fewer values). None when there are no
    pairable values or no variation at all (D_e = 0).
    """
    units = _by_item(votes)
    if not units:
        return None
    if metric == "interval":
        def disagreement(values: list) -> float:
            xs = [float(v) for v in values]
            return 2.0 * (len(xs) * sum(x * x for x in xs) - sum(xs) ** 2)
    elif metric == "nominal":
        def disagreement(values: list) -> float:
            return float(len(values) ** 2 - sum(c * c for c in Counter(values).values()))
    else:
        raise ValueError(f"unknown metric {metric!r}: interval or nominal")
    n = sum(len(u) for u in units)
    d_o = sum(disagreement(u) / (len(u) - 1) for u in units) / n
    d_e = disagreement([v for u in units for v in u]) / (n * (n - 1))
    if d_e == 0:
        return None
    return 1.0 - d_o / d_e


def cohen_kappa(pairs: Iterable[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's κ between two raters (Cohen 1960): (p_o − p_e) / (1 − p_e), with p_e from each
    rater's own marginal shares. Used for a judge against reference labels."""
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if not pairs:
        return None
    n = len(pairs)
    p_o = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    p_e = sum(left[c] * right[c] for c in set(left) | set(right)) / (n * n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)
