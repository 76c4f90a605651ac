"""Raw records as loaded from one file (or dataset), each with its location, plus the ledger
rows for what could not be loaded. Loaders fill a `RawPart`; `read_source` parses it.

Locations: "name:line" (1-based) for JSONL, CSV and top-level JSON arrays (the line where
the record starts); "name:index" (0-based, as `ds[index]`) for parquet, saved datasets and
lists inside a JSON object; "hub:org/name:row" for the Hub.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from datatools.formats.base import type_name
from datatools.frame import stable_id


def ledger_row(reason: str, detail: str, source: str, record: str | None,
               record_id: str | None = None, candidate_id: str | None = None) -> dict[str, Any]:
    return {"step": "read", "reason": reason, "detail": detail, "source": source,
            "id": record_id, "candidate_id": candidate_id, "record": record}


def record_text(record: Any) -> str:
    """The raw record for the ledger: JSON, never truncated; odd values (bytes, dates) as str."""
    return json.dumps(record, ensure_ascii=False, default=str)


def record_id_of(record: Any) -> str:
    """The source's own id when it has one, else one derived from the raw content."""
    if isinstance(record, dict):
        own = record.get("id")
        if isinstance(own, str) and own:
            return own
        if isinstance(own, int) and not isinstance(own, bool):
            return str(own)
    return stable_id(record)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


# Records parsed into frame rows at a time: the raw dicts and row dicts of one batch are freed
# (and their memory reused) before the next, so a 1M-record JSONL file peaks at its frame plus
# one batch, not at the frame plus every record as Python objects (measured: ~3x less RSS).
BATCH = 50_000


@dataclass
class RawPart:
    """Records of one file. `seen` counts every record met, good or bad (for `limit` too)."""

    name: str
    limit: int | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    seen: int = 0

    @property
    def full(self) -> bool:
        return self.limit is not None and self.seen >= self.limit

    def reject(self, reason: str, detail: str, source: str, raw: str | None,
               record_id: str | None = None) -> None:
        self.seen += 1
        self.rejects.append(ledger_row(reason, detail, source, raw, record_id))

    def add(self, value: Any, source: str, raw: str | None = None) -> None:
        """Admit one parsed value: objects with content become records, the rest ledger rows."""
        if not isinstance(value, dict):
            self.reject("read.wrong_type",
                        f"expected a JSON object per record, got {type_name(value)}", source,
                        raw if raw is not None else record_text(value))
            return
        if all(_is_blank(v) for v in value.values()):
            self.reject("read.empty_record", "the record has no fields with a value", source,
                        raw if raw is not None else record_text(value))
            return
        self.seen += 1
        self.records.append(value)
        self.sources.append(source)


def parts_of(records, name: str, batch: int):
    """(index, record) pairs (parquet rows, a dataset's rows) as RawParts of `batch` records
    located `name:index`; one empty part when there are none."""
    part, parts = RawPart(name), 0
    for index, record in records:
        part.add(record, f"{name}:{index}")
        if part.seen >= batch:
            yield part
            part, parts = RawPart(name), parts + 1
    if part.seen or not parts:
        yield part
