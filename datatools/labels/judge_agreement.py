"""`judge_agreement`: how well a judge agrees with reference labels, on the rows that have one.

An LLM judge (or reward model) is only worth its scores if it agrees with people where people
have labelled: give a labelled subset a reference (the data's own `label`, a human score
column, or a meta key) and this step reports, on those rows, the judge's agreement rate and
Cohen's κ (Cohen 1960) against the reference — per answer (judge score ≥ `threshold` vs
the reference label) or per pair (which answer of each pair of a record's answers each
prefers: a record with n answers gives n(n−1)/2 comparisons). It drops
nothing; the numbers go to report.json, the card and report.html.
"""
from __future__ import annotations

import json
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from datatools.labels.agreement import cohen_kappa
from datatools.step import Step


class JudgeAgreementParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str = Field("score", description="column the judge wrote (judge_rubric, "
                       "judge_pairwise, score, ...)")
    reference: str = Field("label", description="reference values: a column (label, "
                           "human_score) or `meta.<key>` (e.g. meta.human_label)")
    level: Literal["answer", "pair"] = Field(
        "answer", description="answer: judge score ≥ threshold vs the reference label; pair: "
        "which answer of each two of a record's answers each prefers (scale-free, so two "
        "judges on different scales compare)")
    threshold: float = Field(0.5, description="answer level: a judge score ≥ this (and a "
                             "numeric reference ≥ this) counts as desirable")


class JudgeAgreement(Step):
    """Report a judge's agreement with reference labels on the labelled subset (drops nothing)."""

    name = "judge_agreement"
    Params = JudgeAgreementParams
    scope = "record"  # pair level compares the two answers of one record
    filters_rows = True

    def required_columns(self) -> set[str]:
        ref = self.params.reference
        return {self.params.judge, "meta" if ref.startswith("meta.") else ref}

    def _reference(self, frame: pl.DataFrame) -> list:
        ref = self.params.reference
        if not ref.startswith("meta."):
            return frame[ref].to_list()
        key = ref[len("meta."):]
        out = []
        for meta in frame["meta"].to_list():
            try:
                value = json.loads(meta) if meta else {}
            except ValueError:
                value = {}
            out.append(value.get(key) if isinstance(value, dict) else None)
        return out

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        judged = frame[p.judge].cast(pl.Float64, strict=False).to_list()
        reference = [_as_value(v) for v in self._reference(frame)]
        if p.level == "answer":
            pairs = [(_label(j, p.threshold), _label(r, p.threshold))
                     for j, r in zip(judged, reference) if r is not None]
        else:
            pairs = _pair_preferences(frame["id"].to_list(), judged, reference)
        compared = [(j, r) for j, r in pairs if j is not None]
        agree = sum(j == r for j, r in compared)
        kappa = cohen_kappa(compared)
        self.stats = {
            "judge": p.judge, "reference": p.reference, "level": p.level,
            "labelled": len(pairs), "compared": len(compared),
            "judge_missing": len(pairs) - len(compared),
            "agreement": round(agree / len(compared), 4) if compared else None,
            "cohen_kappa": None if kappa is None else round(kappa, 4),
        }
        return frame, frame.clear().with_columns(pl.lit(None, pl.String).alias("reason"),
                                                 pl.lit(None, pl.String).alias("detail"))


def _as_value(v):
    """A reference value: booleans and numbers as they are; 'true'/'yes'/... as booleans."""
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "yes", "good", "desirable", "1"):
            return True
        if low in ("false", "no", "bad", "undesirable", "0"):
            return False
        try:
            return float(v)
        except ValueError:
            return None
    return v


def _label(value, threshold: float):
    if value is None or isinstance(value, bool):
        return value
    return float(value) >= threshold


def _pair_preferences(ids: list, judged: list, reference: list) -> list[tuple]:
    """(judge preference, reference preference) per pair of one record's answers (every pair
    of a record with n answers; one per two-answer record) whose references both exist."""
    from itertools import combinations

    rows: dict = {}
    for rid, j, r in zip(ids, judged, reference):
        rows.setdefault(rid, []).append((j, r))
    out = []
    for members in rows.values():
        for (j1, r1), (j2, r2) in combinations(members, 2):
            if r1 is None or r2 is None:
                continue
            ref = _prefer(float(r1), float(r2))
            out.append((None if j1 is None or j2 is None else _prefer(j1, j2), ref))
    return out


def _prefer(a: float, b: float) -> str:
    return "first" if a > b else "second" if b > a else "tie"
