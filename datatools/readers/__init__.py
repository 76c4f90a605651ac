"""Read one recipe source into the canonical frame plus ledger rows for what could not be read.

`read_source` is the entry point the pipeline, `convert` and `inspect` call. Loading (files,
folders, saved datasets, the Hub) lives in `files` / `hf`; turning records into rows lives in
`datatools.formats`. A bad record is a ledger row; a source unusable as a whole a SourceError.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Callable

import polars as pl
from datatools.schemas.errors import Problem, SourceError
from datatools.schemas.recipe import Source

from datatools.formats import detect_name
from datatools.readers import raw
from datatools.readers.columnar_source import read_columnar
from datatools.readers.files import file_kind, iter_file
from datatools.readers.hf import is_saved_dataset, iter_hub, iter_saved
from datatools.readers.raw import RawPart
from datatools.readers.result import Pieces, ReadResult, check_empty, read_result
from datatools.readers.rows import DeferredIds, frame_from_candidate_rows, parse_part

# Files in a data folder that describe the data rather than hold it.
NOT_DATA = {"dataset_info.json", "dataset_dict.json", "state.json", "dataset_infos.json"}





def read_source(source: Source, workdir: Path, limit: int | None = None,
                sink: Callable[[pl.DataFrame], None] | None = None) -> ReadResult:
    """`sink`: called with each piece of the frame as it is read (in order; a piece holds
    whole records), instead of keeping them: the result's `frame` is then empty (its schema)
    and `rows` counts what went to the sink. The Ray executor streams a source this way; its
    pieces have deferred ids (`rows.DeferredIds`), which it settles after reading."""
    limits = [n for n in (limit, source.limit) if n is not None]
    columnar = read_columnar(source, Path(workdir), bool(limits), sink)
    if columnar is not None:
        return columnar
    parts = iter_parts(source, Path(workdir), min(limits) if limits else None)
    if source.columns:  # a mapped column absent from the whole source fails before parsing
        parts = list(parts)
        check_empty(source, sum(p.seen for p in parts))
        rename_columns(parts, source.columns, source.name)
    seen = 0
    frames, rejects, formats, kinds, fmt_of = Pieces(sink), [], [], set(), {}
    ids: Counter[str] = Counter() if sink is None else DeferredIds()
    notes: Counter[str] = Counter()
    for part in parts:
        seen += part.seen
        rejects.extend(part.rejects)
        if not part.records:
            continue
        if part.name not in fmt_of:  # a file's first records decide its format
            fmt_of[part.name] = (source.format if source.format != "auto"
                                 else detect_name(part.records, part.name))
            formats.append(fmt_of[part.name])
        rows: list = []
        kinds |= parse_part(part, fmt_of[part.name], rows, rejects, ids, notes)
        part.records = part.sources = []
        if rows:
            frames.append(frame_from_candidate_rows(rows))
    return read_result(source, frames, rejects, formats, kinds, seen, notes)


def rename_columns(parts: list[RawPart], columns: dict[str, str], name: str) -> None:
    """Apply the recipe's {source_name: expected_name} before detection; a mapped column that
    never occurs is an error (a typo would otherwise silently change the detected format)."""
    found: set[str] = set()
    nested = {k: k.split(".") for k in columns if "." in k}
    for part in parts:
        renamed = []
        for record in part.records:
            found.update(k for k in record if k in columns)
            out = {columns.get(k, k): v for k, v in record.items()}
            for key, path in nested.items():  # metadata.score_chosen: score_chosen
                if key in record:  # a top-level key that has a dot in its name
                    continue
                value = _nested_value(record, path)
                if value is not _ABSENT:
                    found.add(key)
                    out[columns[key]] = value
            renamed.append(out)
        part.records = renamed
    absent = [k for k in columns if k not in found]
    if absent:
        keys = sorted({k for p in parts for r in p.records[:100] for k in r})
        raise SourceError(Problem(f"{name}: columns", (
            f"{', '.join(absent)} not found in the source; keys seen: {', '.join(keys)}")))


_ABSENT = object()


def _nested_value(record: dict, path: list[str]):
    """record[a][b]... for a dotted key a.b; a list index may be a number (instances.0.output)."""
    value = record
    for step in path:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return _ABSENT
    return value


def iter_parts(source: Source, workdir: Path, limit: int | None):
    """The source's RawParts in order; a JSONL file comes in batches of BATCH records."""
    if source.hub is not None:
        yield from iter_hub(source.hub, source.split, source.config, source.revision, limit,
                            raw.BATCH)
        return
    path = Path(source.path).expanduser()
    path = path if path.is_absolute() else workdir / path
    if not path.exists():
        raise SourceError(Problem(source.path, f"file not found (looked at {path})"))
    if path.is_file():
        yield from iter_file(path, source.path, limit, raw.BATCH)
    elif is_saved_dataset(path):
        yield from iter_saved(path, source.path, source.split, limit, raw.BATCH)
    else:
        yield from _read_folder(path, source.path, source.split, limit)


def _read_folder(folder: Path, name: str, split: str, limit: int | None):
    files = sorted(p for p in folder.rglob("*") if p.is_file() and file_kind(p)
                   and p.name not in NOT_DATA
                   and not any(s.startswith(".") for s in p.relative_to(folder).parts))
    if not files:
        raise SourceError(Problem(name, "folder holds no data files (.jsonl, .json, .csv, "
                                  ".parquet) and is not a saved dataset"))
    # A folder with split files (train.jsonl, data/test-0000.parquet) reads the recipe's split.
    pattern = re.compile(rf"(^|[/_.-]){re.escape(split)}([/_.-]|$)")
    in_split = [p for p in files if pattern.search(p.relative_to(folder).as_posix())]
    seen = 0
    for path in in_split or files:
        remaining = None if limit is None else limit - seen
        if remaining is not None and remaining <= 0:
            break
        for part in iter_file(path, f"{name.rstrip('/')}/{path.relative_to(folder).as_posix()}",
                              remaining, raw.BATCH):
            seen += part.seen
            yield part


__all__ = ["ReadResult", "read_source"]
