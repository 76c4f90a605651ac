"""Dataset formats: detect which one a source uses and turn its records into canonical rows.

Each adapter module has `KEYS` (the fields it consumes; every other field is kept in `meta`)
and `parse(record) -> Parsed`, raising `RecordError` for a record that does not fit.
`export` holds the reverse direction (canonical records → a target format).
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

from datatools.schemas.errors import Problem, SourceError

from datatools.formats import (
    alpaca, hh_rlhf, llamafactory, preference_label, sharegpt, swift, trl, ultrafeedback,
)
from datatools.formats.base import Parsed, RecordError
from datatools.formats.detect import SAMPLE_SIZE, detect, explain_failure

ADAPTERS: dict[str, ModuleType] = {
    "trl": trl, "swift": swift, "sharegpt": sharegpt, "alpaca": alpaca,
    "llamafactory": llamafactory, "hh_rlhf": hh_rlhf, "ultrafeedback": ultrafeedback,
    "preference_label": preference_label,
}
FORMAT_NAMES = tuple(ADAPTERS)
ID_KEY = "id"  # a source's own record id is used as the record id, not kept in meta

__all__ = ["ADAPTERS", "FORMAT_NAMES", "Parsed", "RecordError", "combine_kinds",
           "detect_format", "detect_name", "parse_record", "parse_records"]


def detect_name(records: list[dict[str, Any]], where: str = "") -> str:
    """The format of these records (from the first ones); SourceError when none fits."""
    dicts = [r for r in records[:SAMPLE_SIZE] if isinstance(r, dict)]
    name = detect(dicts)
    if name is None:
        raise SourceError(Problem(where, f"unknown format: {explain_failure(dicts)}"))
    return name


def parse_records(record: dict[str, Any], format_name: str) -> list[Parsed]:
    """One raw record → its Parsed records (usually one; an adapter with `parse_many` may
    expand a record, e.g. Alpaca seed tasks' `instances`), with the fields the format does not
    consume moved to meta."""
    module = ADAPTERS[format_name]
    many = getattr(module, "parse_many", None)
    parsed = many(record) if many else [module.parse(record)]
    extras = {k: v for k, v in record.items()
              if k not in module.KEYS and k != ID_KEY and v is not None}
    if extras:
        for p in parsed:
            p.meta = {**extras, **p.meta}
    return parsed


def parse_record(record: dict[str, Any], format_name: str) -> Parsed:
    """One raw record → its first Parsed record (see parse_records)."""
    return parse_records(record, format_name)[0]


def combine_kinds(kinds: set[str]) -> str:
    if not kinds:
        return "empty"
    return next(iter(kinds)) if len(kinds) == 1 else "mixed"


def detect_format(records: list[dict[str, Any]]) -> tuple[str, str]:
    """(format name, kind) from the first records: the kind is what those records parse into
    (pairwise / unary / sft / candidates / prompt, or mixed)."""
    name = detect_name(records)
    kinds = set()
    for record in records[:SAMPLE_SIZE]:
        try:
            kinds.add(parse_record(record, name).kind)
        except RecordError:
            continue
    return name, combine_kinds(kinds)
