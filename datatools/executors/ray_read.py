"""Sources → Ray blocks as they are read: the driver holds one reader piece at a time.

The readers hand each piece of a source's frame (whole records, in file order) to a
`BlockSink`, which cuts it into blocks of whole records and puts them in Ray's object store
(which spills to disk), so reading a source never holds its whole frame in the driver. The
pieces carry deferred ids (nothing is remembered per record while reading); `ray_ids`
settles them to the ids a local read gives, within and across sources.
"""
from __future__ import annotations

import polars as pl

from datatools.executors.ray_blocks import record_blocks, with_order


class BlockSink:
    """`read_sources`' sink: pieces → blocks in the object store, numbered in read order.
    `for_source(i)` is what source i's reader is given: a piece sink that can also have a
    large JSONL file read by Ray tasks (`ray_ranges`) instead of parsing it here."""

    def __init__(self, block_rows: int, read_in_tasks: bool = True):
        self.block_rows, self.read_in_tasks = block_rows, read_in_tasks
        self.refs: list = []
        self.numbers: list[int] = []  # each block's number (increasing; gaps between ranges)
        self.block_sources: list[int] = []  # the source each block was read from
        self.next_block = 0

    def for_source(self, source_index: int) -> "SourceSink":
        return SourceSink(self, source_index)

    def add(self, ref, number: int, source_index: int) -> None:
        self.refs.append(ref)
        self.numbers.append(number)
        self.block_sources.append(source_index)
        self.next_block = number + 1

    def dataset(self, partitions: int):
        """The blocks as one Ray dataset, with the ids a local read gives."""
        import ray
        import ray.data

        from datatools.executors.ray_ids import settled_ids

        if not self.refs:
            from datatools.frame import empty_frame

            self.add(ray.put(with_order(empty_frame(), 0).to_arrow()), 0, 0)
        ds = ray.data.from_arrow_refs(self.refs)
        self.refs = []  # the dataset holds them now: freed once it is no longer used
        return settled_ids(ds, self.numbers, self.block_sources, partitions)


class SourceSink:
    """One source's pieces into the blocks of a `BlockSink`."""

    def __init__(self, blocks: BlockSink, source_index: int):
        self.blocks, self.source_index = blocks, source_index

    def __call__(self, piece: pl.DataFrame) -> None:
        import ray

        for block in record_blocks(piece, self.blocks.block_rows):
            number = self.blocks.next_block
            self.blocks.add(ray.put(with_order(block, number).to_arrow()), number,
                            self.source_index)

    def read_in_ranges(self, path, name: str, fmt: str):
        """(rejects, seen, kinds, notes, rows, blocks) of a JSONL file read by Ray tasks, its
        blocks added; None when it is small, or the workers cannot open it (read it here)."""
        from datatools.executors.ray_ranges import MIN_BYTES, read_file_in_ranges

        if not self.blocks.read_in_tasks or path.stat().st_size < MIN_BYTES:
            return None
        return self._added(read_file_in_ranges(path, name, fmt, self.blocks.block_rows,
                                               self.blocks.next_block))

    def read_rows_in_ranges(self, spec: tuple, rows: int, name: str, fmt: str):
        """`read_in_ranges` for a parquet file, saved dataset or Hub dataset (`spec`: see
        `ray_ranges._records`) of `rows` rows; None when it is small or the workers cannot
        open it."""
        from datatools.executors.ray_ranges import MIN_ROWS, read_rows_in_ranges

        if not self.blocks.read_in_tasks or rows < MIN_ROWS:
            return None
        return self._added(read_rows_in_ranges(spec, rows, name, fmt, self.blocks.block_rows,
                                               self.blocks.next_block))

    def _added(self, read):
        """The tasks' blocks added in order; (rejects, seen, kinds, notes, rows, blocks)."""
        if read is None:
            return None
        refs, numbers, *result = read
        for ref, number in zip(refs, numbers):
            self.blocks.add(ref, number, self.source_index)
        return (*result, len(refs))
