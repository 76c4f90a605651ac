"""`combine_scores`: one score from several judges' columns, with explicit weights.

Each judge writes its own `judge_<name>` column (and, by default, `score`); when a recipe runs
several, this step states how they combine — TÜLU 3 mixes a verifiable reward with a learned
reward model, and UltraFeedback averages aspects. Judges live on different scales (rubric 1–5,
verifiers 0–1, reward-model logits), so columns are min-max normalised over the frame by
default before the weighted mean.
"""
from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field, field_validator

from datatools.judge.llm import JudgeParams, judge_column
from datatools.step import Step, partition

MISSING = "judge.missing_score"
COLUMN_PREFIXES = ("judge_", "aspect_", "check_")


class CombineParams(JudgeParams):
    weights: dict[str, float] = Field(
        ..., min_length=1, description="judge name (rubric → column judge_rubric) or a full "
        "judge_/aspect_/check_ column name → weight; score = weighted mean",
    )
    normalize: Literal["minmax", "zscore", "none"] = Field(
        "minmax", description="per column over the whole frame before weighting: minmax to "
        "[0, 1], zscore, or none (the weights then also carry the scales)",
    )
    missing: Literal["reject", "renormalize"] = Field(
        "reject", description="a row missing some judge's value: reject it (judge.missing_score) "
        "or average over the judges it has",
    )

    @field_validator("weights")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be ≥ 0 and not all 0")
        return v


def weight_column(key: str) -> str:
    return key if key.startswith(COLUMN_PREFIXES) else f"judge_{key}"


class CombineScores(Step):
    """Combine judge_* columns into `score` by a weighted mean (after normalising)."""

    name = "combine_scores"
    scope = "global"  # normalised over the whole frame
    Params = CombineParams
    requires = ()

    @property
    def column(self) -> str:
        return judge_column(self.params, "combined")

    def required_columns(self) -> set[str]:
        return {weight_column(k) for k in self.params.weights}

    def produced_columns(self) -> set[str]:
        return {self.column, "score"}

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        cols = {weight_column(k): w for k, w in p.weights.items()}
        normed = []
        for c in cols:
            x = pl.col(c).cast(pl.Float64)
            if p.normalize == "minmax":
                span = x.max() - x.min()
                x = pl.when(span > 0).then((x - x.min()) / span).otherwise(pl.lit(0.5) + x * 0)
            elif p.normalize == "zscore":
                std = x.std()
                x = pl.when(std > 0).then((x - x.mean()) / std).otherwise(x * 0)
            normed.append(x.alias(f"__n_{c}"))
        f = frame.with_columns(normed)
        num = pl.sum_horizontal([pl.col(f"__n_{c}") * w for c, w in cols.items()])
        den = pl.sum_horizontal([pl.col(f"__n_{c}").is_not_null().cast(pl.Float64) * w
                                 for c, w in cols.items()])
        nulls = [pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in cols]
        missing = pl.concat_list(nulls).list.drop_nulls()
        f = f.with_columns(pl.when(den > 0).then(num / den).alias(self.column),
                           missing.alias("__missing"))
        any_missing = pl.col("__missing").list.len() > 0
        reason = (pl.when(pl.col(self.column).is_null() | (pl.lit(p.missing == "reject")
                                                           & any_missing))
                  .then(pl.lit(MISSING)))
        detail = pl.lit("no value in ") + pl.col("__missing").list.join(", ")
        kept, rejected = partition(f, reason, detail)
        drop = [f"__n_{c}" for c in cols] + ["__missing"]
        kept, rejected = kept.drop(drop), rejected.drop(drop)
        if p.set_score:
            kept = kept.with_columns(pl.col(self.column).alias("score"))
        return kept, rejected
