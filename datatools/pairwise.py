"""The pairwise (DPO) builder: chosen = a best-scored candidate, rejected = the worst (or a
random strictly lower one), one pair per record.

Decided on numbers only: rows are grouped by a 64-bit hash of the record id and each group
reports row positions (first row, first best, first worst), so no text is aggregated into
per-record lists; the pair's texts are then taken from those rows with a filter, which shares
the frame's text instead of copying it. At a million records the list-aggregating version
held +0.6 GB while building.
"""
from __future__ import annotations

import random

import numpy as np
import polars as pl

from datatools.frame import effective_score, stable_id
from schemas.recipe import PairwiseParams

STEP = "build.pairwise"


def _groups(keys: pl.DataFrame, key: str, lower: bool) -> pl.DataFrame:
    """One row per record, in order of first appearance: its first row, candidate and scored
    counts, best / worst score, and the rows of its first best and first worst candidate
    (the first row when nothing is scored); with `lower`, the rows scored below the best.
    `__ids` counts distinct second hashes of the id: above 1, two ids shared a hash."""
    s, row = pl.col("__s"), pl.col("__row")
    aggs = [row.first().alias("__first"), pl.len().alias("__n"), s.count().alias("__ns"),
            s.max().alias("__best"), s.min().alias("__worst"),
            row.filter(s == s.max()).first().fill_null(row.first()).alias("__ci"),
            row.filter(s == s.min()).first().fill_null(row.first()).alias("__ri"),
            pl.col("__k2").n_unique().alias("__ids")]
    if lower:
        aggs.append(row.filter(s < s.max()).alias("__lower"))
    return keys.group_by(key, maintain_order=True).agg(aggs)


def _rows_at(frame: pl.DataFrame, rows: np.ndarray, columns: list[str]) -> pl.DataFrame:
    """`frame[rows, columns]`. Increasing rows (the usual case: a record's rows are adjacent)
    are taken with a filter, which shares the text; others with a gather, which copies it."""
    sub = frame.select(columns)
    if len(rows) < 2 or bool(np.all(np.diff(rows.astype(np.int64)) > 0)):
        mask = np.zeros(frame.height, dtype=bool)
        mask[rows] = True
        return sub.filter(pl.Series(mask))
    return sub[rows]


def _assistant_turn(column: str) -> pl.Expr:
    return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col(column)))


def build_pairwise(frame: pl.DataFrame, params: PairwiseParams | None = None, seed: int = 0):
    """chosen = a best-scored candidate; rejected = the worst, or a random strictly lower one.
    Ties (best == worst) cannot teach a preference and are dropped with a reason (argilla's
    binarisation rule); so are single-candidate, unscored and low-margin records."""
    from datatools.build import PAIRWISE_SCHEMA, _ledger, _skip  # build.py imports this module

    p = params or PairwiseParams()
    # (a filter copies every column's string views: +0.3 GB at 2M rows, so only when needed)
    f = frame.filter(pl.col("completion").is_not_null()) if frame["completion"].null_count() \
        else frame
    keys = f.select("id", pl.col("id").hash(seed=0).alias("__k"),
                    pl.col("id").hash(seed=1).alias("__k2"),
                    effective_score().alias("__s")).with_row_index("__row")
    lower = p.rejected == "random_lower"
    g = _groups(keys, "__k", lower)
    if g.height and g["__ids"].max() > 1:  # two ids shared a 64-bit hash: group by the text
        g = _groups(keys, "id", lower)
    firsts = _rows_at(f, g["__first"].to_numpy(), ["id", "source", "prompt", "meta"])
    if p.rejected == "random_lower":  # seeded per record, so a rerun picks the same pair
        picks = [random.Random(stable_id(seed, i)).choice(low) if len(low) else first
                 for i, low, first in zip(firsts["id"].to_list(), g["__lower"].to_list(),
                                          g["__first"].to_list())]
        g = g.with_columns(pl.Series("__ri", picks, dtype=g["__ri"].dtype))
    g = g.with_columns(keys["__s"].gather(g["__ri"]).alias("__rs"))
    best = pl.col("__best")
    low_score = (best < p.min_chosen_score) if p.min_chosen_score is not None else pl.lit(False)
    reason = (
        pl.when(pl.col("__n") < 2).then(pl.lit("single_candidate"))
        .when(pl.col("__ns") < 2).then(pl.lit("unscored"))
        .when(best == pl.col("__worst")).then(pl.lit("tie"))
        .when(low_score).then(pl.lit("low_score"))
        .when(best - pl.col("__rs") < p.min_margin).then(pl.lit("low_margin"))
    )
    why = g.select(reason.alias("why"))["why"]
    ok = why.is_null()
    skipped = _skipped(f, keys["__s"], g.filter(~ok), firsts.filter(~ok), why.filter(~ok), p)
    g, firsts = g.filter(ok), firsts.filter(ok)
    chosen = _rows_at(f, g["__ci"].to_numpy(), ["completion", "model"])
    rejected = _rows_at(f, g["__ri"].to_numpy(), ["completion", "model"])
    pairs = pl.DataFrame({
        "id": firsts["id"], "source": firsts["source"], "prompt": firsts["prompt"],
        "chosen": chosen.select(_assistant_turn("completion"))[:, 0],
        "rejected": rejected.select(_assistant_turn("completion"))[:, 0],
        "score_chosen": g["__best"], "score_rejected": g["__rs"],
        "chosen_model": chosen["model"], "rejected_model": rejected["model"],
        "meta": firsts["meta"],
    })
    return pairs.cast(PAIRWISE_SCHEMA), _ledger([_skip(STEP, *r) for r in skipped])


def _skipped(f, scores, g, firsts, why, p) -> list:
    """(reason, detail, Candidates) for each record that made no pair, in record order."""
    from datatools.build import Candidates

    if not g.height:
        return []
    rows = f.with_columns(scores).filter(pl.col("id").is_in(firsts["id"].implode()))
    lists = rows.group_by("id", maintain_order=True).agg(
        pl.col("completion"), pl.col("__s"), pl.col("model"))
    texts = dict(zip(lists["id"].to_list(), lists.select("completion", "__s", "model").rows()))
    out = []
    for r, first, w in zip(g.iter_rows(named=True), firsts.iter_rows(named=True), why.to_list()):
        completions, scores, models = texts[first["id"]]
        c = Candidates(first["id"], first["source"], first["prompt"], first["meta"], completions,
                       scores, models, [])
        n, ns, b = r["__n"], r["__ns"], r["__best"]
        detail = {
            "single_candidate": "needs at least two candidates",
            "unscored": f"{ns} of {n} candidates have a score",
            "tie": f"all {ns} scored candidates have score {b}",
            "low_score": f"best score {b} < min_chosen_score {p.min_chosen_score}",
        }.get(w) or f"margin {b - r['__rs']:g} < min_margin {p.min_margin:g}"
        out.append((f"{STEP}.{w}", detail, c))
    return out
