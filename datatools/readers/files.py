"""Local files → RawPart: JSONL (plain or .gz), JSON (array or an object holding one), CSV,
Parquet. Bad lines become ledger rows (readers/json_file.py, readers/csv_file.py); a file
unusable as a whole is a SourceError.
"""
from __future__ import annotations

import zlib
from pathlib import Path

from datatools.readers.csv_file import read_csv
from datatools.readers.json_file import add_json_line, read_json
from datatools.readers.raw import RawPart, parts_of
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
    """A JSON or CSV file whole (JSONL and Parquet stream through `iter_file`)."""
    kind = file_kind(path)
    if kind not in ("json", "csv"):
        suffix = "".join(path.suffixes) or "(none)"
        raise SourceError(Problem(name, f"unsupported file type {suffix}; supported: .jsonl, "
                                  f".json, .csv (optionally .gz), .parquet"))
    part = RawPart(name, limit)
    try:
        {"json": read_json, "csv": read_csv}[kind](path, part)
    except (OSError, EOFError, zlib.error) as err:  # unreadable, not gzip, truncated/corrupt gzip
        raise SourceError(Problem(name, f"cannot read file: {err}")) from err
    return part


def iter_file(path: Path, name: str, limit: int | None, batch: int):
    """`read_file` in parts of up to `batch` records: JSONL and Parquet stream (so a
    million-record file never sits in memory as Python objects all at once); JSON and CSV
    load whole."""
    kind = file_kind(path)
    if kind == "parquet":
        yield from iter_parquet(path, name, limit, batch)
        return
    if kind != "jsonl":
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


def _footer(path: Path, name: str):
    """The parquet file's footer (row count, schema), read once; no data is read."""
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path)
    except (OSError, ValueError) as err:  # not parquet, truncated, unreadable
        raise SourceError(Problem(name, f"cannot read parquet: {err}")) from err


def parquet_rows(path: Path, name: str) -> int:
    """The file's row count, from its footer."""
    return _footer(path, name).num_rows


def _parquet_frame(path: Path, name: str, start: int, rows: int):
    """Rows start..start+rows-1 of a parquet file (Polars reads only the row groups they are in)."""
    import polars as pl

    try:
        return pl.scan_parquet(path).slice(start, rows).collect()
    except (pl.exceptions.PolarsError, OSError) as err:
        raise SourceError(Problem(name, f"cannot read parquet: {err}")) from err


def parquet_records(path: Path, name: str, batch: int, limit: int | None = None,
                    start: int = 0):
    """(index, row dict) of rows start..limit-1 (all rows by default), `batch` rows decoded
    at a time (index: 0-based, the row's index in the file, as in `name:index`). The next
    batch is read from the file on another thread while this one's rows are taken (Polars
    releases the GIL)."""
    from datatools.threads import ordered_map

    footer = _footer(path, name)
    rows = footer.num_rows if limit is None else min(footer.num_rows, limit)
    starts = range(start, rows, batch)
    decode = json_columns(footer.schema.to_arrow_schema())

    def read(first: int):
        return _parquet_frame(path, name, first, min(batch, rows - first))

    frames = ordered_map(read, starts, threads=2, ahead=2) if len(starts) > 1 else \
        map(read, starts)
    for first, frame in zip(starts, frames):
        batch_rows = frame.iter_rows(named=True)
        if decode:
            batch_rows = ({k: decode[k](v) if k in decode else v for k, v in row.items()}
                          for row in batch_rows)
        yield from enumerate(batch_rows, first)


def json_columns(schema) -> dict:
    """{column: decoder} for the columns of an Arrow `schema` that hold JSON text as Arrow's
    `arrow.json` extension (how `datasets` ≥ 5 stores a `Json` feature: values of varying
    shape, e.g. a list of completions with different keys). Polars reads them as strings;
    each value is decoded back into the object `datasets` gives for it, so a record's
    completions are not read as their JSON text."""
    found = {field.name: _json_decoder(field.type) for field in schema}
    return {column: decoder for column, decoder in found.items() if decoder is not None}


def _json_decoder(arrow_type):
    """A function decoding a value of `arrow_type` where it holds `arrow.json` text (also
    inside lists and structs); None when it holds none."""
    import json

    import pyarrow as pa

    if getattr(arrow_type, "extension_name", None) == "arrow.json":
        return lambda v: None if v is None else json.loads(v)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or \
            pa.types.is_fixed_size_list(arrow_type):
        inner = _json_decoder(arrow_type.value_type)
        return None if inner is None else (
            lambda v: None if v is None else [inner(x) for x in v])
    if pa.types.is_struct(arrow_type):
        fields = {f.name: _json_decoder(f.type) for f in arrow_type}
        fields = {k: d for k, d in fields.items() if d is not None}
        return None if not fields else (lambda v: None if v is None else {
            k: fields[k](x) if k in fields else x for k, x in v.items()})
    return None


def iter_parquet(path: Path, name: str, limit: int | None, batch: int):
    """A parquet file in parts of `batch` rows: the rows of one part are Python objects at a
    time, not the whole file's (a parquet file of 1M records had them all at once)."""
    yield from parts_of(parquet_records(path, name, batch, limit), name, batch)
