"""The pairwise (DPO) builder: chosen = the record's chosen answer (ranking.py), rejected =
its worst (or a seeded random strictly lower one), one pair per record.

Decided on numbers only (`record_ranking` gives row positions); the pair's texts are then
taken from those rows with a filter, which shares the frame's text instead of copying it.
When a step dropped a record's best answer the pair is built from the answers left: any
answer ranked above another is still a true preference.
"""
from __future__ import annotations

import random

import polars as pl

from datatools.builders.ledger import (
    PAIRWISE_SCHEMA, answered, assistant_turn, ledger_frame, no_completion, record_lists,
    rows_at, skip_row,
)
from datatools.builders.ranking import record_ranking
from datatools.frame import stable_id
from datatools.schemas.recipe import PairwiseParams

STEP = "build.pairwise"


def build_pairwise(frame: pl.DataFrame, params: PairwiseParams | None = None, seed: int = 0):
    """(pairs, skipped). Ties (best == worst) cannot teach a preference and are dropped with
    a reason (argilla's binarisation rule); so are single-candidate, unscored and low-margin
    records."""
    p = params or PairwiseParams()
    f = answered(frame)
    scores, g = record_ranking(f, lower=p.rejected == "random_lower")
    firsts = rows_at(f, g["__first"].to_numpy(), ["id", "source", "prompt", "meta"])
    if p.rejected == "random_lower":  # seeded per record, so a rerun picks the same pair
        picks = [random.Random(stable_id(seed, i)).choice(low) if len(low) else first
                 for i, low, first in zip(firsts["id"].to_list(), g["__lower"].to_list(),
                                          g["__first"].to_list())]
        g = g.with_columns(pl.Series("__ri", picks, dtype=g["__ri"].dtype))
    g = g.with_columns(scores.gather(g["__ri"]).alias("__rs"))
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
    skipped = no_completion(frame, STEP) + _skipped(f, g.filter(~ok), firsts.filter(~ok),
                                                    why.filter(~ok), p)
    g, firsts = g.filter(ok), firsts.filter(ok)
    chosen = rows_at(f, g["__ci"].to_numpy(), ["completion", "model"])
    rejected = rows_at(f, g["__ri"].to_numpy(), ["completion", "model"])
    pairs = pl.DataFrame({
        "id": firsts["id"], "source": firsts["source"], "prompt": firsts["prompt"],
        "chosen": chosen.select(assistant_turn("completion"))[:, 0],
        "rejected": rejected.select(assistant_turn("completion"))[:, 0],
        "score_chosen": g["__best"], "score_rejected": g["__rs"],
        "chosen_model": chosen["model"], "rejected_model": rejected["model"],
        "meta": firsts["meta"],
    })
    return pairs.cast(PAIRWISE_SCHEMA), ledger_frame(skipped)


def _skipped(f, g, firsts, why, p) -> list[dict]:
    """A ledger row for each record that made no pair, in record order."""
    if not g.height:
        return []
    lists = record_lists(f, firsts["id"])
    out = []
    for r, first, w in zip(g.iter_rows(named=True), firsts.iter_rows(named=True), why.to_list()):
        completions, scores, _ = lists[first["id"]]
        n, ns, b = r["__n"], r["__ns"], r["__best"]
        detail = {
            "single_candidate": "needs at least two candidates",
            "unscored": f"{ns} of {n} candidates have a score",
            "tie": f"all {ns} scored candidates have score {b}",
            "low_score": f"best score {b} < min_chosen_score {p.min_chosen_score}",
        }.get(w) or f"margin {b - r['__rs']:g} < min_margin {p.min_margin:g}"
        record = {"prompt": first["prompt"], "completions": completions, "scores": scores}
        out.append(skip_row(STEP, f"{STEP}.{w}", detail, first["source"], first["id"], record))
    return out
