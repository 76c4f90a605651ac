"""`datatools inspect PATH`: what a file holds, before writing a recipe for it.

Detected format and kind, record and row counts, read rejects by reason, length statistics
(characters of prompt per record and of completion per row) and exact duplicate counts.
PATH may also be `hub:org/name` (train split).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from datatools.schemas.recipe import Source

from datatools.frame import prompt_text
from datatools.readers import read_source


def _length_stats(lengths: pl.Series) -> dict[str, float | int | None]:
    lengths = lengths.drop_nulls()
    if lengths.is_empty():
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None}
    return {"count": lengths.len(), "min": int(lengths.min()), "median": float(lengths.median()),
            "mean": round(float(lengths.mean()), 1), "max": int(lengths.max())}


def inspect_path(path: str) -> dict[str, Any]:
    source = Source(hub=path[4:]) if path.startswith("hub:") else Source(path=path)
    result = read_source(source, Path.cwd())
    frame = result.frame.with_columns(prompt_text().alias("_prompt_text"))
    records = frame.unique("id", keep="first", maintain_order=True)
    answered = frame.filter(pl.col("completion").is_not_null())
    reasons = result.rejects.group_by("reason").len().sort("len", descending=True)
    return {
        "path": path,
        "format": result.format,
        "kind": result.kind,
        "records": result.records,
        "records_read": records.height,
        "rows": frame.height,
        "rows_with_completion": answered.height,
        "rejects": result.rejects.height,
        "rejects_by_reason": dict(reasons.iter_rows()),
        "scores": ("synthesised (1.0 / 0.0) for all pairs" if result.scores_synthesised
                   and result.scores_synthesised == records.height else
                   f"synthesised (1.0 / 0.0) for {result.scores_synthesised} pairs"
                   if result.scores_synthesised else "read from the source"),
        "records_without_completion": result.no_completion,
        "unused_keys_of_records_without_completion": result.unused_keys,
        "notes": result.notes(),
        "length_chars": {
            "prompt": _length_stats(records["_prompt_text"].str.len_chars()),
            "completion": _length_stats(answered["completion"].str.len_chars()),
        },
        "duplicates": {
            # records whose prompt text repeats an earlier record's
            "prompt": records.height - records["_prompt_text"].n_unique(),
            # answered rows whose prompt + completion repeat an earlier row's
            "prompt_completion": answered.height
            - answered.select("_prompt_text", "completion").n_unique(),
        },
    }
