"""What every format adapter shares: the parsed-record shape, the per-record error, field getters.

An adapter turns one raw record (a dict) into a `Parsed` record or raises `RecordError`; the
reader turns that error into a ledger row naming the field and what was expected. Adapters
never see files or line numbers, so they stay pure and easy to test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Record kinds, as reported by `read_source` (several kinds in one source → "mixed").
PAIRWISE, UNARY, SFT, CANDIDATES, PROMPT = "pairwise", "unary", "sft", "candidates", "prompt"


class RecordError(Exception):
    """One record does not fit its format. `reason` is a ledger code, `detail` says what was
    expected (field and type), e.g. ("read.missing_field", "output: required string")."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Parsed:
    """A record in canonical form: the prompt (system turn included) and its candidate answers.

    Each completion is {content, score?, label?, model?, meta?}; `meta` on a completion is merged
    into that row's meta (per-answer ratings), `meta` here applies to every row of the record.
    """

    kind: str
    prompt: list[dict[str, str]]
    completions: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)
    scores_synthesised: bool = False  # a pair without scores: 1.0 / 0.0 stand in for them


def type_name(value: Any) -> str:
    """JSON's names for types: error details speak the user's file format, not Python."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def missing(field_name: str, expected: str) -> RecordError:
    return RecordError("read.missing_field", f"{field_name}: required {expected} is missing")


def wrong_type(field_name: str, expected: str, value: Any) -> RecordError:
    return RecordError("read.wrong_type",
                       f"{field_name}: expected {expected}, got {type_name(value)}")


def get_str(record: dict, name: str, *, required: bool = True) -> str | None:
    """A string field. Null counts as missing: CSV empty cells and parquet nulls read as None."""
    value = record.get(name)
    if value is None:
        if required:
            raise missing(name, "string")
        return None
    if not isinstance(value, str):
        raise wrong_type(name, "a string", value)
    return value


def get_list(record: dict, name: str, *, required: bool = True) -> list | None:
    value = record.get(name)
    if value is None:
        if required:
            raise missing(name, "list")
        return None
    # Parquet / datasets may hand back tuples or numpy arrays for list columns.
    if not isinstance(value, list):
        if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        else:
            raise wrong_type(name, "a list", value)
    return value


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def get_label(record: dict, name: str) -> bool | None:
    """A desirable/undesirable flag. Strings and 0/1 are accepted because CSV has no booleans."""
    value = record.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise wrong_type(name, "a boolean (true/false)", value)


def get_score(record: dict, name: str, where: str | None = None) -> float | None:
    """A numeric score; numeric strings are accepted (CSV). NaN is kept: validate rejects it."""
    value = record.get(name)
    name = where or name
    if value is None:
        return None
    if isinstance(value, bool):
        raise wrong_type(name, "a number", value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise wrong_type(name, "a number", value)


def mean_or_none(values: list[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


# Where real pairwise files keep the two answers' scores: key pairs, at the top level or in a
# nested object (UltraFeedback-binarized: top level; argilla: chosen-rating; exports that
# group extras: metadata: {score_chosen, score_rejected}; scores: {chosen, rejected}).
PAIR_SCORE_KEYS = (("score_chosen", "score_rejected"), ("chosen_score", "rejected_score"),
                   ("chosen_rating", "rejected_rating"), ("chosen-rating", "rejected-rating"),
                   ("chosen", "rejected"))
SCORE_HOLDERS = ("metadata", "meta", "scores", "ratings", "info", "extra")


def pair_scores(record: dict) -> tuple[float | None, float | None] | None:
    """(chosen score, rejected score) from the first layout that holds them, else None."""
    holders = [("", record)] + [(f"{h}.", record[h]) for h in SCORE_HOLDERS
                                if isinstance(record.get(h), dict)]
    for prefix, holder in holders:
        for c, r in PAIR_SCORE_KEYS:
            if not prefix and c == "chosen":  # top-level chosen/rejected are the answers
                continue
            if holder.get(c) is not None or holder.get(r) is not None:
                return get_score(holder, c, f"{prefix}{c}"), get_score(holder, r, f"{prefix}{r}")
    return None


def pairwise(prompt: list[dict], chosen: str, rejected: str, record: dict) -> Parsed:
    """chosen/rejected → two rows with the source's scores (pair_scores); a pair without
    any gets 1/0 so ranking by score recovers it, and says so (`scores_synthesised`)."""
    scores = pair_scores(record)
    score_chosen, score_rejected = scores or (None, None)
    return Parsed(PAIRWISE, prompt, [
        {"content": chosen, "score": 1.0 if score_chosen is None else score_chosen},
        {"content": rejected, "score": 0.0 if score_rejected is None else score_rejected},
    ], scores_synthesised=scores is None)


def single(prompt: list[dict], completion: str | None, label: bool | None = None) -> Parsed:
    """One answer (SFT), one labelled answer (unary), or no answer yet (prompt-only)."""
    if completion is None:
        return Parsed(PROMPT, prompt, [])
    if label is None:
        return Parsed(SFT, prompt, [{"content": completion}])
    return Parsed(UNARY, prompt, [{"content": completion, "label": label}])
