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
    """`read_sources`' sink: pieces → blocks in the object store, numbered in read order."""

    def __init__(self, block_rows: int):
        self.block_rows = block_rows
        self.refs: list = []
        self.block_sources: list[int] = []  # the source each block was read from

    def __call__(self, piece: pl.DataFrame, source_index: int) -> None:
        import ray

        for block in record_blocks(piece, self.block_rows):
            self.refs.append(ray.put(with_order(block, len(self.refs)).to_arrow()))
            self.block_sources.append(source_index)

    def dataset(self, partitions: int):
        """The blocks as one Ray dataset, with the ids a local read gives."""
        import ray
        import ray.data

        from datatools.executors.ray_ids import settled_ids

        if not self.refs:
            from datatools.frame import empty_frame

            self.refs.append(ray.put(with_order(empty_frame(), 0).to_arrow()))
            self.block_sources.append(0)
        ds = ray.data.from_arrow_refs(self.refs)
        self.refs = []  # the dataset holds them now: freed once it is no longer used
        return settled_ids(ds, self.block_sources, partitions)
