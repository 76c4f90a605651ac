"""Read one recipe source into the canonical frame plus ledger rows for what could not be read.

`read_source` is the entry point the pipeline, `convert` and `inspect` call. Loading (files,
folders, saved datasets, the Hub) lives in `files` / `hf`; turning records into rows lives in
`datatools.formats`. A bad record is a ledger row; a source unusable as a whole a SourceError.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl
from datatools.schemas.errors import Problem, SourceError
from datatools.schemas.recipe import Source

from datatools.formats import combine_kinds, detect_name
from datatools.frame import LEDGER_SCHEMA
from datatools.formats.detect import SAMPLE_SIZE
from datatools.readers.files import file_kind, iter_file, parquet_records, parquet_rows
from datatools.readers.json_file import add_json_line
from datatools.readers.hf import (
    dataset_records, hub_name, is_saved_dataset, iter_hub, iter_saved, load_hub, load_saved,
)
from datatools.readers.raw import RawPart
from datatools.readers.rows import DeferredIds, frame_from_candidate_rows, parse_part

# Files in a data folder that describe the data rather than hold it.
NOT_DATA = {"dataset_info.json", "dataset_dict.json", "state.json", "dataset_infos.json"}


@dataclass
class ReadResult:
    frame: pl.DataFrame    # canonical rows (FRAME_SCHEMA)
    rejects: pl.DataFrame  # ledger rows (LEDGER_SCHEMA), step "read"
    format: str            # detected (or forced) format; "mixed" for folders of several
    kind: str              # pairwise / unary / sft / candidates / prompt, or mixed
    records: int           # raw records seen, readable or not
    scores_synthesised: int = 0  # pairs whose source had no scores (1.0 / 0.0 stand in)
    no_completion: int = 0       # records read with a prompt but no answer
    rows: int = 0                # frame rows read (also when they went to a sink, not `frame`)
    unused_keys: dict[str, int] = field(default_factory=dict)  # of those records: key → count

    def notes(self) -> list[str]:
        """What a user should know about how the source was read, in sentences."""
        out = []
        if self.scores_synthesised:
            out.append(f"{self.scores_synthesised} pairs had no scores in the source: chosen "
                       "1.0 / rejected 0.0 were synthesised (min_margin and ties cannot act on "
                       "them; map real scores with `columns:`, e.g. metadata.score_chosen: "
                       "score_chosen)")
        if self.no_completion:
            keys = ", ".join(f"{k} ({n})" for k, n in self.unused_keys.items())
            out.append(f"{self.no_completion} records have no completion"
                       + (f"; source keys not read: {keys}" if keys else ""))
        return out


# Records parsed into frame rows at a time: the raw dicts and row dicts of one batch are freed
# (and their memory reused) before the next, so a 1M-record JSONL file peaks at its frame plus
# one batch, not at the frame plus every record as Python objects (measured: ~3x less RSS).
BATCH = 50_000


def read_source(source: Source, workdir: Path, limit: int | None = None,
                sink: Callable[[pl.DataFrame], None] | None = None) -> ReadResult:
    """`sink`: called with each piece of the frame as it is read (in order; a piece holds
    whole records), instead of keeping them: the result's `frame` is then empty (its schema)
    and `rows` counts what went to the sink. The Ray executor streams a source this way; its
    pieces have deferred ids (`rows.DeferredIds`), which it settles after reading."""
    limits = [n for n in (limit, source.limit) if n is not None]
    columnar = _read_columnar(source, Path(workdir), bool(limits), sink)
    if columnar is not None:
        return columnar
    parts = iter_parts(source, Path(workdir), min(limits) if limits else None)
    if source.columns:  # a mapped column absent from the whole source fails before parsing
        parts = list(parts)
        _check_empty(source, sum(p.seen for p in parts))
        rename_columns(parts, source.columns, source.name)
    seen = 0
    frames, rejects, formats, kinds, fmt_of = _Pieces(sink), [], [], set(), {}
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
    return _result(source, frames, rejects, formats, kinds, seen, notes)


class _Pieces(list):
    """The frame's pieces as read: kept (a list), or each handed to `sink` and only counted."""

    def __init__(self, sink=None):
        super().__init__()
        self.sink, self.rows, self.pieces = sink, 0, 0

    def append(self, piece: pl.DataFrame) -> None:
        self.rows += piece.height
        self.pieces += 1
        if self.sink is None:
            super().append(piece)
        else:
            self.sink(piece)


def _result(source: Source, frames: _Pieces, rejects: list, formats: list, kinds: set,
            seen: int, notes: Counter) -> ReadResult:
    _check_empty(source, seen)
    if not frames.pieces:
        reasons = Counter(r["reason"] for r in rejects)
        first = rejects[0] if rejects else None
        counts = ", ".join(f"{reason}: {n}" for reason, n in reasons.items())
        raise SourceError(Problem(source.name, (
            f"no readable records among {seen} ({counts})"
            + (f"; first: {first['source']}: {first['detail']}" if first else ""))))
    from datatools.frame import empty_frame

    return ReadResult(
        frame=(pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]) if frames
        else empty_frame(),
        rows=frames.rows,
        rejects=pl.DataFrame(rejects, schema=LEDGER_SCHEMA) if rejects
        else pl.DataFrame(schema=LEDGER_SCHEMA),
        format=formats[0] if len(set(formats)) == 1 else "mixed",
        kind=combine_kinds(kinds),
        records=seen,
        scores_synthesised=notes["scores_synthesised"],
        no_completion=notes["no_completion"],
        unused_keys={k[7:]: n for k, n in notes.most_common() if k.startswith("unused:")},
    )


def _read_columnar(source: Source, workdir: Path, limited: bool,
                   sink=None) -> ReadResult | None:
    """A plain local JSONL or parquet file, a saved dataset or a Hub dataset in one of the
    formats `readers.columnar` reads, read columnar; None when the source is anything else
    (then the per-line path reads it)."""
    from datatools.readers.columnar import FORMATS

    if source.columns or limited or (source.format != "auto" and source.format not in FORMATS):
        return None
    if source.hub is not None:
        dataset = load_hub(source.hub, source.split, source.config, source.revision)
        return _read_records_columnar(source, hub_name(source.hub),
                                      lambda batch: dataset_records(dataset, batch), sink)
    path = Path(source.path).expanduser()
    path = path if path.is_absolute() else workdir / path
    if path.is_dir() and is_saved_dataset(path):
        dataset = load_saved(path, source.path, source.split)
        return _read_records_columnar(source, source.path,
                                      lambda batch: dataset_records(dataset, batch), sink,
                                      ("saved", path, len(dataset)))
    kind = file_kind(path) if path.is_file() else None
    if kind == "parquet":
        return _read_records_columnar(
            source, source.path, lambda batch: parquet_records(path, source.path, batch), sink,
            ("parquet", path, parquet_rows(path, source.path)))
    if kind != "jsonl" or path.suffix.lower() == ".gz":
        return None
    with open(path, "rb") as fh:
        if fh.read(3) == b"\xef\xbb\xbf":
            return None  # a byte-order mark: the per-line path decides what it means
    fmt = source.format
    if fmt == "auto":  # the format the per-line path would detect, from the same lines
        sample = RawPart(source.path)
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    add_json_line(sample, line, f"{source.path}:{lineno}")
                if len(sample.records) >= SAMPLE_SIZE:
                    break
        fmt = _columnar_format(sample)
        if fmt is None:
            return None
    return _read_jsonl_columnar(source, path, fmt, sink)


def _columnar_format(sample: RawPart) -> str | None:
    """The format the per-line path would detect from a file's first records, when it is one
    the columnar reader reads (else None)."""
    from datatools.readers.columnar import FORMATS

    try:
        fmt = detect_name(sample.records, sample.name) if sample.records else None
    except SourceError:
        return None
    return fmt if fmt in FORMATS else None


def _read_jsonl_columnar(source: Source, path: Path, fmt: str, sink) -> ReadResult:
    from datatools.readers.columnar import read_jsonl
    from datatools.readers.parallel import read_jsonl_parallel, read_workers

    notes: Counter[str] = Counter()
    frames = _Pieces(sink)
    in_tasks = getattr(sink, "read_in_ranges", None)  # the Ray executor's read tasks
    read = in_tasks(path, source.path, fmt) if in_tasks is not None else None
    processes = 1 if sink is not None else read_workers(path)  # a sink takes pieces in order
    if read is not None:  # the blocks went to the sink's dataset from the tasks
        rejects, seen, kinds, range_notes, frames.rows, frames.pieces = read
        notes.update(range_notes)
    elif processes > 1:
        _, rejects, seen, kinds = read_jsonl_parallel(path, source.path, fmt, notes, frames,
                                                      processes)
    else:
        ids = Counter() if sink is None else DeferredIds()
        _, rejects, seen, kinds = read_jsonl(path, source.path, fmt, ids, notes, frames)
    return _result(source, frames, rejects, [fmt], kinds, seen, notes)


def _read_records_columnar(source: Source, name: str, records, sink,
                           local: tuple | None = None) -> ReadResult | None:
    """Decoded records (`records(batch)`: (index, row) pairs of a parquet file or a dataset,
    as the per-row path decodes them) read columnar. `local`: (kind, path, rows) of a
    parquet file or saved dataset, which the Ray executor's sink may read in tasks."""
    from datatools.readers.columnar import read_records

    fmt = source.format
    if fmt == "auto":  # the per-row path detects from the first records of the first part
        sample = RawPart(name)
        for index, row in records(SAMPLE_SIZE):
            sample.add(row, f"{name}:{index}")
            if len(sample.records) >= SAMPLE_SIZE or sample.seen >= BATCH:
                break
        fmt = _columnar_format(sample)
        if fmt is None:
            return None
    notes: Counter[str] = Counter()
    frames = _Pieces(sink)
    in_tasks = getattr(sink, "read_rows_in_ranges", None) if local else None
    read = in_tasks(local[0], local[1], source.split, local[2], name, fmt) if in_tasks else None
    if read is not None:  # the blocks went to the sink's dataset from the tasks
        rejects, seen, kinds, range_notes, frames.rows, frames.pieces = read
        notes.update(range_notes)
    else:
        ids = Counter() if sink is None else DeferredIds()
        _, rejects, seen, kinds = read_records(name, fmt, ids, notes, frames, records(BATCH))
    return _result(source, frames, rejects, [fmt], kinds, seen, notes)


def _check_empty(source: Source, seen: int) -> None:
    if seen == 0:
        raise SourceError(Problem(source.name, "empty: no records found"))


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
                            BATCH)
        return
    path = Path(source.path).expanduser()
    path = path if path.is_absolute() else workdir / path
    if not path.exists():
        raise SourceError(Problem(source.path, f"file not found (looked at {path})"))
    if path.is_file():
        yield from iter_file(path, source.path, limit, BATCH)
    elif is_saved_dataset(path):
        yield from iter_saved(path, source.path, source.split, limit, BATCH)
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
                              remaining, BATCH):
            seen += part.seen
            yield part


__all__ = ["ReadResult", "read_source"]
