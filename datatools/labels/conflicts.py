"""Conflicting labels for one answer: the same prompt and completion labelled both desirable and
undesirable in different rows. `validate` reports them as a warning (they are not wrong
records, they are several opinions); `aggregate_labels` is what combines them.
"""
from __future__ import annotations

import polars as pl

from datatools.frame import answer_key
from datatools.step import select_in_slices

EXAMPLES = 3


def conflicting_labels(frame: pl.DataFrame) -> dict:
    """{} when no answer has two different labels; else counts, example ids and a warning."""
    if "label" not in frame.columns or frame["label"].null_count() == frame.height:
        return {}
    labelled = frame.filter(pl.col("label").is_not_null() & pl.col("completion").is_not_null())
    keys = select_in_slices(labelled, answer_key().alias("k"), pl.col("label"),
                            pl.col("candidate_id"))
    groups = (keys.group_by("k", maintain_order=True)
              .agg(pl.col("label").n_unique().alias("labels"), pl.len().alias("rows"),
                   pl.col("candidate_id").head(2).alias("ids"))
              .filter(pl.col("labels") > 1))
    if groups.height == 0:
        return {}
    rows = int(groups["rows"].sum())
    examples = [" / ".join(ids) for ids in groups["ids"].head(EXAMPLES).to_list()]
    return {
        "conflicting_labels": {"answers": groups.height, "rows": rows, "examples": examples},
        "warnings": [
            f"{groups.height} answer(s) carry conflicting labels across {rows} rows (same prompt "
            f"and completion labelled both desirable and undesirable, e.g. {examples[0]}); "
            "aggregate_labels combines them, without it they reach KTO as contradictory rows"],
    }
