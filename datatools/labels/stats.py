"""Agreement statistics of a label aggregation, for report.json, the card and report.html.

Fleiss' κ over categorical votes (labels, preferences, discrete ratings) and Krippendorff's α
(interval for scores, nominal otherwise), overall, per source file and per annotator, and the
share of items dropped for disagreement. Per annotator, κ is not defined (it is a property of
a group of raters); what is reported is how often the annotator's vote matched the value kept,
and under Dawid–Skene the annotator's estimated accuracy Σ_k π_k θ[k, k].
"""
from __future__ import annotations

from collections import defaultdict

from datatools.labels.agreement import fleiss_kappa, krippendorff_alpha
from datatools.labels.votes import Votes

MAX_LISTED = 100  # sources / annotators listed in the report (the most voting first)
DROPPED = ("labels.disagreement", "labels.too_few_votes")


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _agreement(votes: list[tuple], value: str, method: str) -> dict:
    numeric = value == "score"
    out = {"fleiss_kappa": None if method == "mean" else _round(fleiss_kappa(votes)),
           "krippendorff_alpha": _round(krippendorff_alpha(
               votes, "interval" if numeric else "nominal")),
           "alpha_metric": "interval" if numeric else "nominal"}
    return out


def agreement_stats(votes: Votes, outcomes: dict, value: str, method: str, fit,
                    reasons: list, max_rows_per_item: int) -> dict:
    dropped = {item for item, rows in votes.rows_of.items()
               if item in outcomes and reasons[rows[0]] in DROPPED}
    multi = [o for o in outcomes.values() if o.n >= 2]
    pairs = list(zip(votes.items, votes.values))
    stats = {
        "value": value, "method": method, "votes": len(votes.items), "items": len(outcomes),
        "items_with_several_votes": len(multi), "items_dropped": len(dropped),
        "share_dropped": _round(len(dropped) / len(outcomes)) if outcomes else None,
        "rows_merged": sum(r == "labels.merged" for r in reasons),
        "max_rows_per_item": max_rows_per_item,
        "mean_support": _round(sum(o.support for o in multi) / len(multi)) if multi else None,
        **_agreement(pairs, value, method),
    }
    by_source: dict[str, list] = defaultdict(list)
    for item, v, s in zip(votes.items, votes.values, votes.sources):
        by_source[s].append((item, v))
    stats["by_source"] = {
        s: {"votes": len(vs), "items": len({i for i, _ in vs}),
            "share_dropped": _round(len({i for i, _ in vs} & dropped) / len({i for i, _ in vs})),
            **_agreement(vs, value, method)}
        for s, vs in sorted(by_source.items(), key=lambda kv: -len(kv[1]))[:MAX_LISTED]}
    stats["by_annotator"] = _annotators(votes, outcomes, dropped, method, fit)
    stats["annotators"] = len({r for r in votes.raters if r is not None})
    return stats


def _annotators(votes: Votes, outcomes: dict, dropped: set, method: str, fit) -> dict:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # votes, compared, matched
    for item, rater, v in zip(votes.items, votes.raters, votes.values):
        if rater is None:
            continue
        c = counts[rater]
        c[0] += 1
        kept = outcomes.get(item)
        if method != "mean" and kept is not None and item not in dropped and kept.n >= 2:
            c[1] += 1
            c[2] += v == kept.value
    accuracy = fit.accuracy() if fit is not None else {}
    out = {}
    for rater, (n, compared, matched) in sorted(counts.items(), key=lambda kv: -kv[1][0]):
        if len(out) == MAX_LISTED:
            break
        row = {"votes": n, "agrees_with_kept": _round(matched / compared) if compared else None}
        if rater in accuracy:
            row["dawid_skene_accuracy"] = _round(accuracy[rater])
        out[rater] = row
    return out
