"""`verifiable`: score candidates by rules, no model (TÜLU 3's RLVR verifiers).

Checks per row: the math final answer against a reference (from a column or a meta key), and
instruction constraints (the 25 IFEval types and the short keys, datatools/verifiers) from the
params (for every row) merged with the record's own `meta[constraints_key]` (record values win).
GRPO's reward functions call the same `score_completion`. The score is the fraction of checks passed, or
1/0 when `scoring: all` (TÜLU 3's binary verifiable reward). Each check gets a boolean column
(null where it does not apply) so a dataset card can say which checks failed how often.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator

from datatools.judge.llm import JudgeParams, judge_column, split_by_reasons
from datatools.step import Step
from datatools.verifiers import (CHECK_NAMES, ConstraintError, constraints_from_meta,
                                 merge_constraints, parse_constraints, score_completion)

NO_CHECKS = "judge.no_checks"
BAD_CONSTRAINTS = "judge.bad_constraints"


class VerifiableParams(JudgeParams):
    answer_key: str | None = Field(
        "answer", description="meta key holding the reference answer (a number, a bare answer, "
        "or a GSM8K solution ending in '#### 42'); rows without it get no answer check",
    )
    answer_column: str | None = Field(
        None, description="column holding the reference answer; wins over answer_key",
    )
    constraints: dict[str, Any] | list[Any] = Field(
        default_factory=dict, description="constraints checked on every row: short keys "
        "({max_words: 50, no_commas: true}), IFEval ids with kwargs ({'keywords:existence': "
        "{keywords: [cat]}}), or IFEval's {instruction_id_list, kwargs}; see the README",
    )
    constraints_key: str | None = Field(
        "constraints", description="meta key holding a record's own constraints (any shape "
        "`constraints` takes, or JSON text of one; they override the params' per check)",
    )
    scoring: Literal["fraction", "all"] = Field(
        "fraction", description="fraction: share of checks passed, in [0, 1]; all: 1 only "
        "when every check passes, else 0",
    )
    on_no_checks: Literal["reject", "keep"] = Field(
        "reject", description="a row with no reference answer and no constraints: reject it "
        "(judge.no_checks) or keep it with a null judge column and its score unchanged",
    )
    check_prefix: str = Field("check_", description="per-check columns are <prefix><check>")

    @field_validator("constraints")
    @classmethod
    def _readable(cls, value):
        try:
            parse_constraints(value)
        except ConstraintError as err:
            raise ValueError(str(err)) from None
        return value


class Verifiable(Step):
    """Rule-based rewards: math final answers (####, \\boxed{}) and instruction constraints."""

    name = "verifiable"
    scope = "row"
    Params = VerifiableParams

    @functools.cached_property
    def _base_constraints(self):
        return parse_constraints(self.params.constraints)

    @property
    def column(self) -> str:
        return judge_column(self.params, "verifiable")

    def required_columns(self) -> set[str]:
        cols = {"completion", "meta"}
        return cols | ({self.params.answer_column} if self.params.answer_column else set())

    def check_columns(self) -> dict[str, str]:
        return {c: self.params.check_prefix + c for c in CHECK_NAMES}

    def produced_columns(self) -> set[str]:
        return {self.column, f"{self.column}_failed", "score", *self.check_columns().values()}

    def _row(self, completion, meta_text, answer_value):
        """(results {check: (passed, detail)}, reject reason, reject detail) for one row."""
        p = self.params
        try:
            meta = json.loads(meta_text) if meta_text else {}
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            return {}, BAD_CONSTRAINTS, "meta is not a JSON object"
        if p.answer_column is None and p.answer_key:
            answer_value = meta.get(p.answer_key)
        base = self._base_constraints
        own = constraints_from_meta(meta, p.constraints_key)
        try:
            constraints = merge_constraints(
                base, parse_constraints(own, f"meta[{p.constraints_key!r}]"))
        except ConstraintError as err:
            return {}, BAD_CONSTRAINTS, str(err)
        results = score_completion(completion or "", answer_value, constraints).results
        if not results:
            return {}, NO_CHECKS, ("no reference answer and no constraints for this row "
                                   f"(answer from {p.answer_column or f'meta[{p.answer_key!r}]'},"
                                   f" constraints from params / meta[{p.constraints_key!r}])")
        return results, None, None

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        cols = ["completion", "meta"] + ([p.answer_column] if p.answer_column else [])
        n = frame.height
        checks = self.check_columns()
        passed: dict[str, list[bool | None]] = {c: [None] * n for c in checks}
        scores: list[float | None] = [None] * n
        failed_text: list[str | None] = [None] * n
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        with self.ctx.progress(n, self.name) as advance:
            for k, row in enumerate(frame.select(cols).iter_rows()):
                if row[0] is None:
                    results, reason, detail = {}, "judge.missing_completion", "nothing to verify"
                else:
                    answer = row[2] if p.answer_column else None
                    results, reason, detail = self._row(row[0], row[1], answer)
                if reason == NO_CHECKS and p.on_no_checks == "keep":
                    reason = None
                reasons[k], details[k] = reason, detail
                if results:
                    for c, (ok, _) in results.items():
                        passed[c][k] = ok
                    ok_count = sum(ok for ok, _ in results.values())
                    scores[k] = (ok_count / len(results) if p.scoring == "fraction"
                                 else float(ok_count == len(results)))
                    failed_text[k] = "; ".join(f"{c}: {d}" for c, (ok, d) in results.items()
                                               if not ok)
                if k % 256 == 255:
                    advance(256)
            advance(n % 256)
        out = frame.with_columns(
            *[pl.Series(checks[c], passed[c], dtype=pl.Boolean) for c in checks],
            pl.Series(self.column, scores, dtype=pl.Float64),
            pl.Series(f"{self.column}_failed", failed_text, dtype=pl.String),
        )
        kept, rejected = split_by_reasons(out, reasons, details)
        applied = {c: sum(v is not None for v in passed[c]) for c in checks}
        self.stats = {
            "verified": sum(s is not None for s in scores),
            "pass_rate": {c: sum(bool(v) for v in passed[c]) / applied[c]
                          for c in checks if applied[c]},
        }
        if p.set_score:  # rows kept without checks (on_no_checks: keep) keep their score
            kept = kept.with_columns(pl.coalesce(pl.col(self.column), pl.col("score"))
                                     .alias("score"))
        return kept, rejected
