"""The unary (KTO) builder: desirable / undesirable completions, labels interleaved, and
λ_D, λ_U per KTO Eq. 8 (`kto_weights`, the one formula the trainer imports too).

A candidate's label is its own, else `score ≥ threshold`, else its rank in the record (the
one ranking rule, ranking.py): the chosen answer is desirable and the worst (strictly below
it) undesirable. A rank-based "desirable" must be the record's best as ranked: when a step
dropped the best, the runner-up is ledgered (`build.unary.best_dropped`), not promoted.
"""
from __future__ import annotations

import random

import polars as pl

from datatools.builders.ledger import (
    UNARY_SCHEMA, answered, assistant_turn, ledger_frame, no_completion, skip_row,
)
from datatools.builders.ranking import candidate_role, rank_score
from datatools.schemas.recipe import UnaryParams

STEP = "build.unary"


def kto_weights(n_desirable: int, n_undesirable: int) -> tuple[float, float]:
    """(λ_D, λ_U) with λ_D·n_D / (λ_U·n_U) in [1, 4/3] (KTO, Ethayarajh et al. 2024, Eq. 8).

    The minority class is weighted up to balance (ratio exactly 1, the band's lower edge);
    when the ratio already lies in the band both weights stay 1, and with one class empty
    there is nothing to balance (1, 1)."""
    if n_desirable == 0 or n_undesirable == 0:
        return 1.0, 1.0
    ratio = n_desirable / n_undesirable
    if 1.0 <= ratio <= 4 / 3:
        return 1.0, 1.0
    if ratio < 1.0:  # too few desirable: λ_D = n_U / n_D
        return n_undesirable / n_desirable, 1.0
    return 1.0, ratio  # too many desirable: λ_U = n_D / n_U


def build_unary(frame: pl.DataFrame, params: UnaryParams | None = None, seed: int = 0,
                pairs: pl.DataFrame | None = None, best_dropped: dict[str, str] | None = None):
    """(dataset, skipped, metadata) — metadata holds the KTO weights and counts."""
    p = params or UnaryParams()
    rows, skipped = unary_rows(frame, p, seed, pairs, best_dropped)
    if p.balance == "downsample":
        keep = downsample_keep(rows["label"], seed)
        skipped += downsampled(rows.filter(~keep))
        rows = rows.filter(keep)
    data, meta = kto_dataset(rows)
    return data, ledger_frame(skipped), meta


def unary_rows(frame: pl.DataFrame, p: UnaryParams, seed: int = 0,
               pairs: pl.DataFrame | None = None, best_dropped: dict[str, str] | None = None):
    """The per-record part: (labelled rows, in frame order within each label; skipped ledger
    rows). A record's rows depend on that record alone, so a streamed build runs this per
    block and balances / interleaves on the driver (executors/ray_unary.py)."""
    from datatools.builders.pairwise import build_pairwise

    best_dropped = best_dropped or {}
    dropped = pl.col("id").is_in(pl.Series(list(best_dropped), dtype=pl.String).implode())
    skipped = no_completion(frame, STEP)
    if p.mode == "pairs":
        if pairs is None:
            pairs, skipped_pairs = build_pairwise(frame, seed=seed)
            skipped += (skipped_pairs.filter(~pl.col("reason").str.ends_with(".no_completion"))
                        .with_columns(pl.lit(STEP).alias("step")).to_dicts())
        common = ["id", "source", "prompt", "meta"]
        rows = pl.concat([
            pairs.select(*common, pl.col("chosen").alias("completion"), pl.lit(True).alias("label"),
                         pl.col("score_chosen").alias("score"), pl.col("chosen_model").alias("model"),
                         dropped.alias("__dropped")),
            pairs.select(*common, pl.col("rejected").alias("completion"),
                         pl.lit(False).alias("label"), pl.col("score_rejected").alias("score"),
                         pl.col("rejected_model").alias("model"), pl.lit(False).alias("__dropped")),
        ]).with_columns(pl.lit(None, pl.String).alias("__why"))
        rows = rows.with_columns(pl.when(pl.col("__dropped")).then(pl.lit("best_dropped"))
                                 .alias("__why"))
    else:
        rows = _scored_labels(answered(frame), p, dropped)
    bad = rows.filter(pl.col("__why").is_not_null())
    for r in bad.iter_rows(named=True):
        reason = f"{STEP}.{r['__why']}"
        detail = (f"{best_dropped.get(r['id'])}; the runner-up is not labelled desirable"
                  if r["__why"] == "best_dropped" else r.get("__detail") or "")
        completion = r["completion"]
        text = completion[0]["content"] if isinstance(completion, list) else completion
        skipped.append(skip_row(STEP, reason, detail, r["source"], r["id"],
                                {"prompt": r["prompt"], "completion": text, "score": r["score"]},
                                r.get("candidate_id")))
    rows = rows.filter(pl.col("__why").is_null()).select(
        "id", "source", "prompt",
        pl.col("completion") if p.mode == "pairs" else assistant_turn("completion").alias("completion"),
        "label", "score", "model", "meta")
    return rows, skipped


def kto_dataset(rows: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Unary rows → the written dataset (labels interleaved) and its metadata: counts and
    λ_D, λ_U for those counts (Eq. 8). Also what a mixed KTO set is rebuilt with."""
    rows = kto_rows(rows)
    n_d = int(rows["label"].sum())
    return rows, kto_metadata(n_d, rows.height - n_d)


def kto_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Labels interleaved, T, F, T, F, ... (TRL's KTO unpairing and sequential sampling want
    mixed batches), each class in its given order; the rest of the larger class last.
    Only each class's order matters, so consecutive slices of the two classes interleaved
    one slice pair at a time give the same rows as the whole (how a streamed build writes)."""
    rank = pl.int_range(pl.len()).over("label")
    return rows.with_columns(rank.alias("__i")).sort(
        ["__i", "label"], descending=[False, True], maintain_order=True).drop("__i") \
        .select(list(UNARY_SCHEMA)).cast(UNARY_SCHEMA)


def kto_metadata(n_d: int, n_u: int) -> dict:
    """The dataset's counts and λ_D, λ_U for them (Eq. 8)."""
    w_d, w_u = kto_weights(n_d, n_u)
    return {"n_desirable": n_d, "n_undesirable": n_u, "desirable_weight": w_d,
            "undesirable_weight": w_u,
            "weighted_ratio": (w_d * n_d / (w_u * n_u)) if n_u else None}


def _scored_labels(f: pl.DataFrame, p: UnaryParams, dropped: pl.Expr) -> pl.DataFrame:
    """Each candidate's label, or `__why` (+ `__detail`) when it has none."""
    s, role = rank_score(), pl.col("__role")
    tie = ~(role == "rejected").any().over("id")
    f = f.with_columns(candidate_role().alias("__role"))
    by_rank = (pl.when(role == "rejected").then(pl.lit(False))
               .when((role == "chosen") & ~tie).then(pl.lit(True)))
    by_score = pl.lit(None, pl.Boolean) if p.threshold is None else s >= p.threshold
    label = pl.coalesce(pl.col("label"), by_score, by_rank)
    unlabelled = pl.when(s.is_null()).then(pl.lit("no score or label")).when(tie).then(
        pl.lit("all candidates tie")).otherwise(
        pl.lit("between best and worst (set outputs.unary.threshold to label it)"))
    relative = pl.col("label").is_null() & pl.lit(p.threshold is None)
    why = (pl.when(relative & (role == "chosen") & dropped).then(pl.lit("best_dropped"))
           .when(label.is_null()).then(pl.lit("unlabelled")))
    # a labelled-only row's score is its label as 1/0, as it was ranked
    return f.with_columns(label.alias("__label"), why.alias("__why"), s.alias("__score"),
                          unlabelled.alias("__detail")).with_columns(
        pl.col("__label").alias("label"), pl.col("__score").alias("score"))


def downsample_keep(labels: pl.Series, seed: int) -> pl.Series:
    """balance: downsample — which rows stay (a bool per label, in order): the larger class
    cut to the size of the smaller by a seeded sample of its rows' positions within the
    class. It needs the labels alone, so a streamed build decides it from the label column
    of its parts, with this same rule."""
    n_pos = int(labels.sum())
    n_neg = labels.len() - n_pos
    big = n_pos > n_neg
    keep = random.Random(seed).sample(range(max(n_pos, n_neg)), min(n_pos, n_neg))
    in_big = pl.col("label") == big
    idx = pl.int_range(pl.len()).over("label")
    return pl.DataFrame({"label": labels}).select(
        ~in_big | idx.is_in(pl.Series(sorted(keep), dtype=pl.Int64).implode()))["label"]


def downsampled(surplus: pl.DataFrame) -> list[dict]:
    """The ledger rows of the rows downsampling dropped."""
    return [skip_row(STEP, f"{STEP}.downsampled", "surplus of the larger class "
                     "(balance: downsample)", r["source"], r["id"], r)
            for r in surplus.iter_rows(named=True)]
