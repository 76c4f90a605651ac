"""A large JSONL file read by Ray tasks, one per byte range, straight into blocks; a large
parquet file, saved dataset or Hub dataset likewise, one task per range of rows.

The driver parsing every line kept one core busy for the whole read (10M records: 261 s)
however many CPUs the cluster had. Here the file is cut at line ends (`parallel.byte_ranges`);
tasks first count each range's lines, so every range is read with its true line numbers,
then each range is read by the columnar reader (`columnar.read_jsonl`, the same rules and
ledger rows as a one-process read) in a task that yields its blocks to the object store as
it goes (a streaming generator: the driver owns them, and holds only references). Ids are
deferred (`rows.DeferredIds`: unique within a range, so within a block) and settled after
reading by `ray_ids`, as for a driver read. Blocks are numbered in file order, each range
from its own base (`RANGE_BLOCKS` numbers apart), so orders stay increasing in read order.
Parquet rows and dataset rows need no counting pass: a row's location is its index. The
file must be at the same path for every worker (one machine, or shared storage); a worker
that cannot open it makes the driver read it instead.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

MIN_BYTES = 64 * 2**20    # a smaller file is read on the driver (task start-up would dominate)
RANGE_BYTES = 64 * 2**20  # per task: ~28k records of 2.3 KB, a frame of ~150 MB
RANGE_BLOCKS = 1 << 12    # block numbers per range (4,096 blocks: ≥ 4,096 records each)
MIN_ROWS = 100_000        # a parquet file or dataset with fewer rows is read on the driver
RANGE_ROWS = 50_000       # rows per task (the reader's batch)


def count_range(path: str, start: int, end: int) -> int:
    from datatools.readers.parallel import count_lines

    return count_lines(Path(path), start, end)


def read_range(path: str, start: int, end: int, first_line: int, name: str, fmt: str,
               block_rows: int, first_block: int):
    """Yields the range's blocks (with orders from block `first_block` on), then its
    (rejects, seen, kinds, notes, rows)."""
    from datatools.readers.columnar import read_jsonl
    from datatools.readers.parallel import range_lines
    from datatools.readers.rows import DeferredIds

    notes, pieces = Counter(), []
    _, rejects, seen, kinds = read_jsonl(Path(path), name, fmt, DeferredIds(), notes, pieces,
                                         range_lines(Path(path), start, end, first_line))
    yield from _blocks(pieces, block_rows, first_block, name)
    yield rejects, seen, kinds, notes, sum(p.height for p in pieces)


def _records(spec: tuple, name: str, start: int, end: int):
    """(index, row) of rows start..end-1 of the dataset `spec` names: ("parquet", path),
    ("saved", path, split) or ("hub", id, split, config, revision)."""
    from datatools.readers.files import parquet_records
    from datatools.readers.hf import dataset_records, load_hub, load_saved
    from datatools.readers.raw import BATCH

    kind, *where = spec
    if kind == "parquet":
        return parquet_records(Path(where[0]), name, BATCH, limit=end, start=start)
    dataset = load_saved(Path(where[0]), name, where[1]) if kind == "saved" else load_hub(*where)
    return dataset_records(dataset, BATCH, limit=end, first=start)


def read_rows(spec: tuple, start: int, end: int, name: str, fmt: str, block_rows: int,
              first_block: int):
    """`read_range` for rows start..end-1 of a parquet file, saved dataset or Hub dataset."""
    from datatools.readers.columnar import read_records
    from datatools.readers.rows import DeferredIds

    notes, pieces = Counter(), []
    _, rejects, seen, kinds = read_records(name, fmt, DeferredIds(), notes, pieces,
                                           _records(spec, name, start, end))
    yield from _blocks(pieces, block_rows, first_block, name)
    yield rejects, seen, kinds, notes, sum(p.height for p in pieces)


def _blocks(pieces: list, block_rows: int, first_block: int, name: str):
    """A range's frame pieces as Arrow blocks, numbered from `first_block`."""
    from datatools.executors.ray_blocks import record_blocks, with_order

    block = first_block
    for piece in pieces:
        for part in record_blocks(piece, block_rows):
            if block - first_block >= RANGE_BLOCKS:
                raise RuntimeError(f"{name}: more than {RANGE_BLOCKS} blocks in one range")
            yield with_order(part, block).to_arrow()
            block += 1


def _readable(spec: tuple) -> bool:
    """Whether a worker can open the dataset: the file or folder is at its path there, or the
    Hub dataset loads there (from its cache, or downloaded on that node)."""
    from datatools.schemas.errors import SourceError

    kind, *where = spec
    if kind != "hub":
        return Path(where[0]).exists()
    from datatools.readers.hf import load_hub

    try:
        load_hub(*where)
    except SourceError:
        return False
    return True


def read_rows_in_ranges(spec: tuple, rows: int, name: str, fmt: str, block_rows: int,
                        first_block: int):
    """`read_file_in_ranges` for a parquet file, saved dataset or Hub dataset (`spec`, see
    `_records`) of `rows` rows."""
    import ray

    if not ray.get(ray.remote(_readable).remote(spec)):
        return None  # not on the workers' machines
    ranges = [(s, min(s + RANGE_ROWS, rows)) for s in range(0, rows, RANGE_ROWS)]
    _check_numbers(name, first_block, len(ranges))
    reader = ray.remote(read_rows).options(num_returns="streaming")
    return _gathered([reader.remote(spec, s, e, name, fmt, block_rows,
                                    first_block + r * RANGE_BLOCKS)
                      for r, (s, e) in enumerate(ranges)], first_block)


def _check_numbers(name: str, first_block: int, ranges: int) -> None:
    if first_block + ranges * RANGE_BLOCKS >= 1 << 31:
        raise RuntimeError(f"{name}: too many ranges ({ranges}) for block numbers")


def _gathered(streams: list, first_block: int):
    """The ranges' block refs in file order, their numbers, and the summed (rejects, seen,
    kinds, notes, rows) the streams end with."""
    import ray

    refs, numbers, rejects, seen, kinds, notes, rows = [], [], [], 0, set(), Counter(), 0
    for r, stream in enumerate(streams):  # in file order
        mine = list(stream)
        refs.extend(mine[:-1])
        numbers.extend(first_block + r * RANGE_BLOCKS + k for k in range(len(mine) - 1))
        range_rejects, range_seen, range_kinds, range_notes, range_rows = ray.get(mine[-1])
        rejects.extend(range_rejects)
        seen, rows = seen + range_seen, rows + range_rows
        kinds |= range_kinds
        notes.update(range_notes)
    return refs, numbers, rejects, seen, kinds, notes, rows


def read_file_in_ranges(path: Path, name: str, fmt: str, block_rows: int, first_block: int):
    """(block refs, their numbers, rejects, seen, kinds, notes, rows), or None when the
    workers cannot read the file (it is not on their machines)."""
    import ray

    from datatools.readers.parallel import byte_ranges

    ranges = byte_ranges(path, max(1, path.stat().st_size // RANGE_BYTES))
    try:
        counts = ray.get([ray.remote(count_range).remote(str(path), s, e) for s, e in ranges])
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, FileNotFoundError):
            return None
        raise
    _check_numbers(name, first_block, len(ranges))
    reader = ray.remote(read_range).options(num_returns="streaming")
    first_line, streams = 1, []
    for r, ((start, end), lines) in enumerate(zip(ranges, counts)):
        streams.append(reader.remote(str(path), start, end, first_line, name, fmt, block_rows,
                                     first_block + r * RANGE_BLOCKS))
        first_line += lines
    return _gathered(streams, first_block)
