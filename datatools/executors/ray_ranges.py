"""A large JSONL file read by Ray tasks, one per byte range, straight into blocks.

The driver parsing every line kept one core busy for the whole read (10M records: 261 s)
however many CPUs the cluster had. Here the file is cut at line ends (`parallel.byte_ranges`);
tasks first count each range's lines, so every range is read with its true line numbers,
then each range is read by the columnar reader (`columnar.read_jsonl`, the same rules and
ledger rows as a one-process read) in a task that yields its blocks to the object store as
it goes (a streaming generator: the driver owns them, and holds only references). Ids are
deferred (`rows.DeferredIds`: unique within a range, so within a block) and settled after
reading by `ray_ids`, as for a driver read. Blocks are numbered in file order, each range
from its own base (`RANGE_BLOCKS` numbers apart), so orders stay increasing in read order.
The file must be at the same path for every worker (one machine, or shared storage); a
worker that cannot open it makes the driver read it instead.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

MIN_BYTES = 64 * 2**20    # a smaller file is read on the driver (task start-up would dominate)
RANGE_BYTES = 64 * 2**20  # per task: ~28k records of 2.3 KB, a frame of ~150 MB
RANGE_BLOCKS = 1 << 12    # block numbers per range (4,096 blocks: ≥ 4,096 records each)


def count_range(path: str, start: int, end: int) -> int:
    from datatools.readers.parallel import count_lines

    return count_lines(Path(path), start, end)


def read_range(path: str, start: int, end: int, first_line: int, name: str, fmt: str,
               block_rows: int, first_block: int):
    """Yields the range's blocks (with orders from block `first_block` on), then its
    (rejects, seen, kinds, notes, rows)."""
    from datatools.executors.ray_blocks import record_blocks, with_order
    from datatools.readers.columnar import read_jsonl
    from datatools.readers.parallel import range_lines
    from datatools.readers.rows import DeferredIds

    notes, pieces = Counter(), []
    _, rejects, seen, kinds = read_jsonl(Path(path), name, fmt, DeferredIds(), notes, pieces,
                                         range_lines(Path(path), start, end, first_line))
    block, rows = first_block, 0
    for piece in pieces:
        rows += piece.height
        for part in record_blocks(piece, block_rows):
            if block - first_block >= RANGE_BLOCKS:
                raise RuntimeError(f"{name}: more than {RANGE_BLOCKS} blocks in one range")
            yield with_order(part, block).to_arrow()
            block += 1
    yield rejects, seen, kinds, notes, rows


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
    if first_block + len(ranges) * RANGE_BLOCKS >= 1 << 31:
        raise RuntimeError(f"{name}: too many byte ranges ({len(ranges)}) for block numbers")
    reader = ray.remote(read_range).options(num_returns="streaming")
    first_line, streams = 1, []
    for r, ((start, end), lines) in enumerate(zip(ranges, counts)):
        streams.append(reader.remote(str(path), start, end, first_line, name, fmt, block_rows,
                                     first_block + r * RANGE_BLOCKS))
        first_line += lines
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
