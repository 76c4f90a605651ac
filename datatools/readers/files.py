"""Local files → RawPart: JSONL (plain or .gz), JSON (array or an object holding one), CSV,
Parquet. Bad lines become ledger rows (readers/json_file.py, readers/csv_file.py); a file
unusable as a whole is a SourceError.
"""
from __future__ import annotations

import zlib
from pathlib import Path

from datatools.readers.csv_file import read_csv
from datatools.readers.json_file import add_json_line, read_json
from datatools.readers.raw import RawPart
from datatools.readers.text import byte_lines
from datatools.schemas.errors import Problem, SourceError

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
            ".parquet": "parquet"}


def file_kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def read_file(path: Path, name: str, limit: int | None) -> RawPart:
    """A JSON, CSV or Parquet file whole (JSONL streams through `iter_file`)."""
    kind = file_kind(path)
    if kind is None:
        suffix = "".join(path.suffixes) or "(none)"
        raise SourceError(Problem(name, f"unsupported file type {suffix}; supported: .jsonl, "
                                  f".json, .csv (optionally .gz), .parquet"))
    part = RawPart(name, limit)
    try:
        {"json": read_json, "csv": read_csv, "parquet": read_parquet}[kind](
            path, part)
    except (OSError, EOFError, zlib.error) as err:  # unreadable, not gzip, truncated/corrupt gzip
        raise SourceError(Problem(name, f"cannot read file: {err}")) from err
    return part


def iter_file(path: Path, name: str, limit: int | None, batch: int):
    """`read_file` in parts of up to `batch` records: JSONL streams (so a million-record file
    never sits in memory as Python objects all at once); other kinds load whole."""
    if file_kind(path) != "jsonl":
        yield read_file(path, name, limit)
        return
    part, before, lineno = RawPart(name, limit), 0, 0
    try:
        for lineno, line in enumerate(byte_lines(path), 1):
            if part.full:
                break
            if not line.strip():
                continue
            add_json_line(part, line, f"{name}:{lineno}")
            if len(part.records) >= batch:
                yield part
                before += part.seen
                part = RawPart(name, None if limit is None else limit - before)
    except (OSError, EOFError, zlib.error) as err:  # unreadable, not gzip, truncated/corrupt gzip
        raise SourceError(Problem(name, f"cannot read file after line {lineno}: {err}")) from err
    yield part


def read_parquet(path: Path, part: RawPart) -> None:
    import polars as pl

    try:
        frame = pl.read_parquet(path, n_rows=part.limit)
    except pl.exceptions.PolarsError as err:
        raise SourceError(Problem(part.name, f"cannot read parquet: {err}")) from err
    for index, row in enumerate(frame.iter_rows(named=True)):
        part.add(row, f"{part.name}:{index}")

