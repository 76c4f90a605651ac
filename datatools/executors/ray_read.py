"""Sources → Ray blocks as they are read: the driver holds one reader piece at a time.

The readers hand each piece of a source's frame (whole records, in file order) to a
`BlockSink`, which cuts it into blocks of whole records and puts them in Ray's object store
(which spills to disk), so reading a source never holds its whole frame in the driver. Ids
are unique within a source (the readers' rule); across sources the local rule
(`frame.unique_record_ids`) is applied to the records whose ids occur in more than one
source, found by `ray_shuffle.repeated_rows` over one narrow row per record, so the ids are the same
as a local build's.
"""
from __future__ import annotations

import polars as pl

from datatools.executors.ray_blocks import ORDER, record_blocks, with_order
from datatools.frame import unique_record_ids, with_new_ids


class BlockSink:
    """`read_sources`' sink: pieces → blocks in the object store, numbered in read order."""

    def __init__(self, block_rows: int):
        self.block_rows = block_rows
        self.refs: list = []
        self.sources: set[int] = set()

    def __call__(self, piece: pl.DataFrame, source_index: int) -> None:
        import ray

        for block in record_blocks(piece, self.block_rows):
            self.refs.append(ray.put(with_order(block, len(self.refs)).to_arrow()))
            self.sources.add(source_index)

    def dataset(self, partitions: int):
        """The blocks as one Ray dataset, ids made unique across sources."""
        import ray
        import ray.data

        if not self.refs:
            from datatools.frame import empty_frame

            self.refs.append(ray.put(with_order(empty_frame(), 0).to_arrow()))
        ds = ray.data.from_arrow_refs(self.refs)
        self.refs = []  # the dataset holds them now: freed once it is no longer used
        if len(self.sources) < 2:
            return ds
        return _unique_ids_across_sources(ds, partitions)


def _unique_ids_across_sources(ds, partitions: int):
    import ray

    from datatools.executors.ray_shuffle import repeated_rows

    def first_rows(table):  # one row per record (a record's rows share id and source)
        frame = pl.from_arrow(table)
        return (frame.unique("id", keep="first", maintain_order=True)
                .select(ORDER, "id", "source", "candidate_id",
                        pl.col("id").hash().reinterpret(signed=True).alias("__h")))

    shared = repeated_rows(ds, first_rows, ["__h"], partitions)  # ids seen in more than one record
    if shared.height == 0:
        return ds
    renamed = unique_record_ids(shared.drop("__h"))  # the local rule, on those records only
    changes = (renamed.select("source", pl.col("id").alias("__new"))
               .with_columns(shared["id"]).filter(pl.col("id") != pl.col("__new")))
    if changes.height == 0:
        return ds
    changes_ref = ray.put(changes)

    def rename(table):
        frame = pl.from_arrow(table)
        joined = frame.join(ray.get(changes_ref), on=["id", "source"], how="left",
                            maintain_order="left")
        return with_new_ids(joined, pl.col("__new").fill_null(pl.col("id"))).drop(
            "__new").to_arrow()

    return ds.map_batches(rename, batch_format="pyarrow", batch_size=None,
                          zero_copy_batch=True).materialize()
