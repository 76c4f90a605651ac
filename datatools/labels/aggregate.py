"""`aggregate_labels`: several judgements of one answer (or one pair) → one, or a ledger row.

Real preference data often holds several labels for the same thing: annotators, judges, or one
judge asked twice. Without this step they reach the trainer as contradictory rows (KTO sees the
same answer as desirable and undesirable). The step groups the rows that judge one item
(`datatools.labels.votes`), combines their votes (`datatools.labels.combine`), keeps the first
row (record) of each item with the combined value, and ledgers the rest:
`labels.merged` (folded into the kept row), `labels.disagreement` (support below
`min_agreement`, or a tie), `labels.too_few_votes`. Agreement statistics (Fleiss' κ,
Krippendorff's α, overall, per source and per annotator) go to report.json.
"""
from __future__ import annotations

import json
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datatools.labels.combine import Outcome, dawid_skene, majority, mean, unanimous
from datatools.labels.stats import agreement_stats
from datatools.labels.votes import Votes, answer_votes, pair_votes, vote_column
from datatools.step import Step
from datatools.schemas.errors import Problem, UserError

MERGED, DISAGREEMENT, TOO_FEW = "labels.merged", "labels.disagreement", "labels.too_few_votes"
ANNOTATOR_KEYS = ["annotator", "annotator_id", "judge", "rater", "labeler", "worker_id"]


class AggregateLabelsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["answer", "pair"] = Field(
        "answer", description="answer: rows with the same prompt and completion (KTO labels, "
        "ratings); pair: two-answer records with the same prompt and answers (preferences)")
    method: Literal["majority", "unanimous", "mean", "dawid_skene"] = Field(
        "majority", description="majority: most frequent vote; unanimous: all votes agree; "
        "mean: average score; dawid_skene: EM over per-annotator confusion matrices (needs "
        "annotator ids)")
    value: Literal["auto", "label", "score"] = Field(
        "auto", description="answer level: what a row votes with; auto: `label` when any row "
        "has one, else `score`")
    threshold: float | None = Field(
        None, description="turn scores into labels first: score ≥ threshold is desirable")
    min_agreement: float = Field(
        0.5, ge=0, le=1, description="keep an item when the winning vote's share (Dawid–Skene: "
        "its posterior) is at least this; a tie between the top votes is never kept")
    max_spread: float | None = Field(
        None, ge=0, description="mean: drop items whose scores' standard deviation is above")
    min_votes: int = Field(1, ge=1, description="drop items with fewer votes than this")
    annotator_keys: list[str] = Field(
        default_factory=lambda: list(ANNOTATOR_KEYS),
        description="meta keys naming who gave a row's label; the first one present is used")
    columns: list[str] = Field(
        default_factory=list, description="votes from these columns instead of one per row "
        "(several judge runs side by side: judge_a, judge_b); each column is one rater")

    @model_validator(mode="after")
    def _check(self) -> "AggregateLabelsParams":
        if self.method == "mean" and self.threshold is not None:
            raise ValueError("threshold turns scores into labels; mean averages scores: "
                             "use one or the other")
        if self.method == "mean" and self.value == "label":
            raise ValueError("mean averages scores; combine labels with majority, "
                             "unanimous or dawid_skene")
        if self.max_spread is not None and self.method != "mean":
            raise ValueError("max_spread applies to method: mean")
        if self.value == "label" and self.threshold is not None:
            raise ValueError("threshold applies to scores, not to value: label")
        return self


class AggregateLabels(Step):
    """Combine several labels or scores of one answer (or preferences of one pair)."""

    name = "aggregate_labels"
    Params = AggregateLabelsParams
    scope = "global"  # one answer's labels may sit in any record of any source
    requires = ("prompt", "completion")

    def required_columns(self) -> set[str]:
        p = self.params
        need = {"prompt", "completion", "meta", *p.columns}
        if not p.columns:
            need |= {"label"} if p.value == "label" else {"score"} if p.value == "score" else set()
        return need

    def produced_columns(self) -> set[str]:
        p = self.params
        writes = "label" if (p.value == "label" or p.threshold is not None) and \
            p.level == "answer" else "score"
        return {"label_votes", "label_agreement", writes}

    def _value(self, frame: pl.DataFrame) -> str:
        p = self.params
        if p.level == "pair":
            return "preference"
        if p.threshold is not None:
            return "label"
        if p.value != "auto":
            return p.value
        if p.columns:
            return "label" if all(frame[c].dtype == pl.Boolean for c in p.columns) else "score"
        return "label" if frame["label"].null_count() < frame.height else "score"

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        value = self._value(frame)
        if p.level == "pair":
            votes = pair_votes(frame, p.columns, p.annotator_keys)
        else:
            vote = None if p.columns else vote_column(
                frame, "label" if p.threshold is None and value == "label" else "score",
                p.threshold)
            votes = answer_votes(frame, vote, p.columns, p.annotator_keys, p.threshold)
        outcomes, fit = self._combine(votes)
        reasons: list[str | None] = [None] * frame.height
        details: list[str | None] = [None] * frame.height
        n_votes: list[int | None] = [None] * frame.height
        support: list[float | None] = [None] * frame.height
        new_value: dict[int, object] = {}
        per_item = max(len(r) for r in votes.rows_of.values()) if votes.rows_of else 0
        keep_rows = 2 if p.level == "pair" else 1
        ids, candidates, metas = frame["id"], frame["candidate_id"], frame["meta"]
        raters_of: dict = {}
        for item, rater in zip(votes.items, votes.raters):
            if rater is not None:
                raters_of.setdefault(item, []).append(rater)
        new_meta: dict[int, str] = {}
        for item, rows in votes.rows_of.items():
            outcome = outcomes.get(item)
            if outcome is None:  # nobody voted on it: left as it is
                continue
            why = self._disagrees(outcome, value, votes.texts_of.get(item))
            if why is not None:
                reason = TOO_FEW if outcome.n < p.min_votes else DISAGREEMENT
                for r in rows:
                    reasons[r], details[r] = reason, why
                continue
            kept, merged = rows[:keep_rows], rows[keep_rows:]
            for r in kept:
                n_votes[r], support[r] = outcome.n, outcome.support
            if outcome.n > 1:
                new_meta[kept[0]] = self._meta(metas[kept[0]], outcome, value,
                                               raters_of.get(item, []))
            for r, v in zip(kept, self._written(item, outcome, votes, value)):
                new_value[r] = v
            what = (f"prompt and answers as record {ids[kept[0]]}" if p.level == "pair"
                    else f"prompt and answer as {candidates[kept[0]]}")
            for r in merged:
                reasons[r] = MERGED
                details[r] = (f"same {what}: {_summary(outcome, value, votes.texts_of.get(item))}"
                              f" ({p.method})")
        out = self._write(frame, value, new_value, n_votes, support)
        if new_meta:
            rows = pl.Series(list(new_meta), dtype=pl.UInt32)
            out = out.with_columns(out["meta"].scatter(rows, pl.Series(list(new_meta.values()),
                                                                       dtype=pl.String)))
        self.stats = agreement_stats(votes, outcomes, value, p.method, fit, reasons,
                                     per_item)
        mask = pl.Series([r is not None for r in reasons])
        rejected = out.filter(mask).with_columns(
            pl.Series("reason", [r for r in reasons if r is not None], pl.String),
            pl.Series("detail", [d for d, r in zip(details, reasons) if r is not None],
                      pl.String))
        return out.filter(~mask), rejected

    def _combine(self, votes: Votes) -> tuple[dict, object]:
        p = self.params
        if not votes.items:
            return {}, None
        if p.method == "dawid_skene":
            if all(r is None for r in votes.raters):
                raise UserError(Problem(f"{self.name}", (
                    "dawid_skene needs to know who gave each vote: no row's meta has any of "
                    f"{', '.join(p.annotator_keys)} (set annotator_keys, or use columns)")))
            raters = ["<unknown>" if r is None else r for r in votes.raters]
            return dawid_skene(votes.items, raters, votes.values)
        if p.method == "mean":
            values = votes.values if p.level == "answer" else [a - b for a, b in votes.scores]
            return mean(votes.items, values), None
        return {"majority": majority, "unanimous": unanimous}[p.method](
            votes.items, votes.values), None

    def _disagrees(self, outcome: Outcome, value: str, texts=None) -> str | None:
        p = self.params
        if outcome.n < p.min_votes:
            return f"{outcome.n} vote(s) < min_votes {p.min_votes}"
        if p.method == "mean":
            if p.max_spread is not None and outcome.spread > p.max_spread:
                scores = ", ".join(f"{v:g}" for v in sorted(outcome.counts.elements()))
                return (f"{'score margins' if p.level == 'pair' else 'scores'} {scores}: "
                        f"standard deviation {outcome.spread:.3g} > max_spread {p.max_spread:g}")
            return None
        if outcome.value is None:
            why = "not unanimous" if p.method == "unanimous" else f"a tie ({p.method})"
            return f"{_summary(outcome, value, texts)}: {why}"
        if outcome.support < p.min_agreement:
            what = "posterior" if p.method == "dawid_skene" else "agreement"
            return (f"{_summary(outcome, value, texts)}: {what} {outcome.support:.3g} < "
                    f"min_agreement {p.min_agreement:g} ({p.method})")
        return None

    def _written(self, item, outcome: Outcome, votes: Votes, value: str) -> list:
        """The values the kept row(s) get: the label or score, or the pair's two scores."""
        p = self.params
        if p.level == "answer":
            return [outcome.value]
        if p.method == "mean":
            pairs = [s for i, s in zip(votes.items, votes.scores) if i == item]
            return [sum(a for a, _ in pairs) / len(pairs), sum(b for _, b in pairs) / len(pairs)]
        s = outcome.support
        return {"first": [s, 1 - s], "second": [1 - s, s], "tie": [0.5, 0.5]}[outcome.value]

    def _meta(self, meta: str | None, outcome: Outcome, value: str, raters: list) -> str:
        """The kept row's meta: the vote instead of the first annotator's name (which the
        row no longer stands for alone)."""
        try:
            data = json.loads(meta) if meta else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {"meta": data}
        for key in self.params.annotator_keys:
            data.pop(key, None)
        data["labels"] = {
            "method": self.params.method, "support": round(outcome.support, 4),
            "votes": {_name(v): c for v, c in outcome.counts.most_common()}
            if self.params.method != "mean" else sorted(outcome.counts.elements()),
            **({"annotators": raters} if raters else {})}
        return json.dumps(data, ensure_ascii=False, default=str)

    def _write(self, frame, value, new_value, n_votes, support) -> pl.DataFrame:
        p = self.params
        column = "label" if p.level == "answer" and value == "label" else "score"
        dtype = pl.Boolean if column == "label" else pl.Float64
        current = frame[column].cast(dtype)
        if new_value:
            rows = pl.Series(list(new_value), dtype=pl.UInt32)
            current = current.scatter(rows, pl.Series([new_value[r] for r in new_value],
                                                      dtype=dtype))
        return frame.with_columns(current.alias(column),
                                  pl.Series("label_votes", n_votes, pl.Int64),
                                  pl.Series("label_agreement", support, pl.Float64))


def _name(value, texts=None) -> str:
    if texts is not None and value in ("first", "second"):
        text = texts[0 if value == "first" else 1]
        return repr(text if len(text) <= 40 else text[:39] + "…")
    if value == "tie":
        return "a tie"
    if value is True:
        return "desirable"
    if value is False:
        return "undesirable"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _summary(outcome: Outcome, value: str, texts=None) -> str:
    """'2 of 3 said desirable, 1 undesirable' (the ledger's and the merge's detail)."""
    (top, c), *rest = outcome.counts.most_common() or [(None, 0)]
    verb = "preferred" if value == "preference" else "said" if value == "label" else "gave"
    head = f"{c} of {outcome.n} {verb} {_name(top, texts)}"
    return head + "".join(f", {k} {_name(v, texts)}" for v, k in rest)

