"""The votes in a frame, in long form: which rows judge the same item, and what each one said.

An *item* is what several judgements are about:
- `answer` level: one answer to one prompt — every row with the same prompt (roles and text)
  and the same completion, across records. ms-swift/TRL KTO files carry several annotators
  as several rows of one query/response (the readers give them ids `x`, `x~2`, ...).
- `pair` level: one pair of answers to one prompt — every two-answer record with the same
  prompt and the same two completions (in either order). Its vote is the preference:
  `first` / `second` / `tie`, first being the answer whose text sorts first.

A vote's rater is the annotator named in the row's meta (the first of `annotator_keys`
found), or, with `columns`, the column it came from (several judge runs side by side).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import polars as pl

from datatools.builders.ranking import rank_score
from datatools.frame import answer_key
from datatools.step import select_in_slices

PREFERENCES = ("first", "second", "tie")


@dataclass
class Votes:
    """Parallel lists, one entry per vote, plus the frame rows that make up each item."""

    items: list = field(default_factory=list)
    raters: list = field(default_factory=list)
    values: list = field(default_factory=list)
    sources: list = field(default_factory=list)        # source file of the vote's row
    rows_of: dict = field(default_factory=dict)        # item → frame row indices, in order
    texts_of: dict = field(default_factory=dict)       # pair item → (first text, second text)
    scores: list = field(default_factory=list)         # pair level: (first, second) scores

    def add(self, item, rater, value, source, scores=None) -> None:
        self.items.append(item)
        self.raters.append(rater)
        self.values.append(value)
        self.sources.append(source)
        self.scores.append(scores)


def source_file(source: str | None) -> str:
    """`data/a.jsonl:12` → `data/a.jsonl` (the per-source statistics' key)."""
    return (source or "").rsplit(":", 1)[0]


def rater_of(meta: str | None, keys: list[str]) -> str | None:
    if not meta or meta == "{}" or not keys:
        return None
    try:
        value = json.loads(meta)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    for key in keys:
        if value.get(key) is not None:
            return str(value[key])
    return None


def vote_column(frame: pl.DataFrame, value: str, threshold: float | None) -> pl.Expr:
    """What one row says: its label, its score, or (with a threshold) score ≥ threshold."""
    if value == "label":
        return pl.col("label")
    if threshold is not None:
        return rank_score() >= threshold
    return rank_score()


def answer_votes(frame: pl.DataFrame, vote: pl.Expr | None, columns: list[str],
                 annotator_keys: list[str], threshold: float | None) -> Votes:
    """Items = rows with the same prompt and completion; one vote per row (or per column)."""
    exprs = [answer_key().alias("k"), pl.col("completion").is_not_null().alias("has"),
             pl.col("source"), pl.col("meta")]
    exprs += [_column_vote(c, threshold).alias(f"v{i}") for i, c in enumerate(columns)] or \
        [vote.alias("v0")]
    view = select_in_slices(frame, *exprs)
    votes = Votes()
    names = [f"v{i}" for i in range(max(len(columns), 1))]
    for row, (k, has, source, meta, *vals) in enumerate(
            view.select("k", "has", "source", "meta", *names).iter_rows()):
        if not has:
            continue
        votes.rows_of.setdefault(k, []).append(row)
        rater = None if columns else rater_of(meta, annotator_keys)
        for name, v in zip(columns or [None], vals):
            if v is not None:
                votes.add(k, name if columns else rater, v, source_file(source))
    return votes


def pair_votes(frame: pl.DataFrame, columns: list[str], annotator_keys: list[str]) -> Votes:
    """Items = two-answer records with the same prompt and answers; one preference per record
    (or per column). Records with another number of answers are not items."""
    value_cols = columns or ["__s"]
    view = (frame.with_row_index("__row").filter(pl.col("completion").is_not_null())
            .with_columns(rank_score().alias("__s"))
            .group_by("id", maintain_order=True)
            .agg(pl.col("__row"), pl.col("completion"), pl.col("prompt").first(),
                 pl.col("source").first(), pl.col("meta").first(),
                 *[pl.col(c) for c in value_cols])
            .filter(pl.col("__row").list.len() == 2))
    keys = view.select(pl.struct(pl.col("prompt"), pl.col("completion").list.sort())
                       .hash(seed=0).alias("k"))["k"]
    votes = Votes()
    for k, r in zip(keys, view.iter_rows(named=True)):
        texts = r["completion"]
        order = [0, 1] if texts[0] <= texts[1] else [1, 0]
        votes.rows_of.setdefault(k, []).extend(r["__row"][i] for i in order)
        votes.texts_of.setdefault(k, (texts[order[0]], texts[order[1]]))
        rater = None if columns else rater_of(r["meta"], annotator_keys)
        for c in value_cols:
            a, b = r[c][order[0]], r[c][order[1]]
            if a is None or b is None:
                continue
            pref = "first" if a > b else "second" if b > a else "tie"
            votes.add(k, c if columns else rater, pref, source_file(r["source"]), (a, b))
    return votes


def _column_vote(column: str, threshold: float | None) -> pl.Expr:
    col = pl.col(column)
    return col >= threshold if threshold is not None else col
