"""Which sources the columnar reader (`readers.columnar`) takes, and how: a local JSONL file
(lines; in byte ranges by processes or Ray tasks), a parquet file, a saved dataset or a Hub
dataset (decoded rows, a batch at a time; a large parquet file or saved dataset in row
ranges by Ray tasks), in one of its formats. Anything else is read by the per-line path."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from datatools.schemas.errors import SourceError
from datatools.schemas.recipe import Source

from datatools.formats import detect_name
from datatools.formats.detect import SAMPLE_SIZE
from datatools.readers import raw
from datatools.readers.files import file_kind, parquet_records, parquet_rows
from datatools.readers.hf import dataset_records, hub_name, is_saved_dataset, load_hub, load_saved
from datatools.readers.json_file import add_json_line
from datatools.readers.raw import RawPart
from datatools.readers.result import Pieces, ReadResult, read_result
from datatools.readers.rows import DeferredIds


def read_columnar(source: Source, workdir: Path, limited: bool,
                   sink=None) -> ReadResult | None:
    """A plain local JSONL or parquet file, a saved dataset or a Hub dataset in one of the
    formats `readers.columnar` reads, read columnar; None when the source is anything else
    (then the per-line path reads it)."""
    from datatools.readers.columnar import FORMATS

    if source.columns or limited or (source.format != "auto" and source.format not in FORMATS):
        return None
    if source.hub is not None:
        where = (source.hub, source.split, source.config, source.revision)
        dataset = load_hub(*where)
        return _read_records_columnar(source, hub_name(source.hub),
                                      lambda batch: dataset_records(dataset, batch), sink,
                                      ("hub", *where), len(dataset))
    path = Path(source.path).expanduser()
    path = path if path.is_absolute() else workdir / path
    if path.is_dir() and is_saved_dataset(path):
        dataset = load_saved(path, source.path, source.split)
        return _read_records_columnar(source, source.path,
                                      lambda batch: dataset_records(dataset, batch), sink,
                                      ("saved", str(path), source.split), len(dataset))
    kind = file_kind(path) if path.is_file() else None
    if kind == "parquet":
        return _read_records_columnar(
            source, source.path, lambda batch: parquet_records(path, source.path, batch), sink,
            ("parquet", str(path)), parquet_rows(path, source.path))
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

    def here(notes: Counter, frames: Pieces):
        processes = 1 if sink is not None else read_workers(path)  # a sink takes pieces in order
        if processes > 1:
            return read_jsonl_parallel(path, source.path, fmt, notes, frames, processes)[1:]
        ids = Counter() if sink is None else DeferredIds()
        return read_jsonl(path, source.path, fmt, ids, notes, frames)[1:]

    in_tasks = getattr(sink, "read_in_ranges", None)  # the Ray executor's read tasks
    return _result_of(source, fmt, sink,
                      in_tasks(path, source.path, fmt) if in_tasks is not None else None, here)


def _read_records_columnar(source: Source, name: str, records, sink, spec: tuple,
                           rows: int) -> ReadResult | None:
    """Decoded records (`records(batch)`: (index, row) pairs of a parquet file or a dataset,
    as the per-row path decodes them) read columnar. `spec` names the dataset for the Ray
    executor's sink, which may read its `rows` rows in tasks (`ray_ranges._records`)."""
    from datatools.readers.columnar import read_records

    fmt = source.format
    if fmt == "auto":  # the per-row path detects from the first records of the first part
        sample = RawPart(name)
        for index, row in records(SAMPLE_SIZE):
            sample.add(row, f"{name}:{index}")
            if len(sample.records) >= SAMPLE_SIZE or sample.seen >= raw.BATCH:
                break
        fmt = _columnar_format(sample)
        if fmt is None:
            return None

    def here(notes: Counter, frames: Pieces):
        ids = Counter() if sink is None else DeferredIds()
        return read_records(name, fmt, ids, notes, frames, records(raw.BATCH))[1:]

    in_tasks = getattr(sink, "read_rows_in_ranges", None)  # the Ray executor's read tasks
    return _result_of(source, fmt, sink,
                      in_tasks(spec, rows, name, fmt) if in_tasks is not None else None, here)


def _result_of(source: Source, fmt: str, sink, from_tasks, here) -> ReadResult:
    """The source's result: from the Ray tasks that read it into the sink's blocks
    (`from_tasks`: (rejects, seen, kinds, notes, rows, blocks)), or, when they did not (None),
    read in this process by `here(notes, frames)` → (rejects, seen, kinds)."""
    notes: Counter[str] = Counter()
    frames = Pieces(sink)
    if from_tasks is not None:  # the blocks went to the sink's dataset from the tasks
        rejects, seen, kinds, task_notes, frames.rows, frames.pieces = from_tasks
        notes.update(task_notes)
    else:
        rejects, seen, kinds = here(notes, frames)
    return read_result(source, frames, rejects, [fmt], kinds, seen, notes)
