"""Record ids on Ray, settled after reading with the local rules, nothing held per record.

A local read gives a repeated id a `~N` suffix as it goes (`rows.take_id`, whose Counter of
every id given out grew the driver by ~106 MB per million records), and ids that collide
across sources get the local rule's `~N` (`frame.unique_record_ids`). Here the reader gives
each record a deferred id, `<base>\\x00<n>` (`rows.DeferredIds`). One hash-grouped pass over
one narrow row per record (`ray_shuffle.grouped_refs`), keyed by the base's root (the base
without its `~N` suffixes), finds the records whose root occurs more than once: take_id only
ever gives `base` or `base~N`, so records of different roots never change each other's ids,
and a record alone with its root keeps its base. A root's records all lie in one hash group,
whose task replays take_id per source in read order and applies unique_record_ids over them,
as a local read does; the changed ids, stacked in a task, go to block tasks that write every
record's final id. The driver holds no row per record, nor per repeated one.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import polars as pl

from datatools.executors.ray_blocks import BLOCK_SHIFT, ORDER
from datatools.executors.ray_shuffle import grouped_refs, stacked_ref
from datatools.frame import unique_record_ids, with_new_ids
from datatools.readers.rows import PROVISIONAL, take_id

SUFFIXES = r"(~\d+)+$"  # what take_id and unique_record_ids append to an id


def base_of(ids: pl.Expr) -> pl.Expr:
    """The id the reader would have started from: the deferred id less its record number."""
    return ids.str.replace(f"{PROVISIONAL}\\d+$", "")


def root_of(ids: pl.Expr) -> pl.Expr:
    return ids.str.replace(SUFFIXES, "")


def settled_ids(ds, numbers: list[int], block_sources: list[int], partitions: int):
    """`ds` (blocks of whole records with deferred ids; the block numbered `numbers[i]`
    read from source `block_sources[i]`) with the ids a local read gives, lazily (one block
    task each)."""
    import ray

    def record_rows(table):  # one row per record: its first (a deferred id is unique)
        frame = pl.from_arrow(table).select(ORDER, "id", "source")
        return (frame.filter(pl.col("id").is_first_distinct())
                .with_columns(base_of(pl.col("id")).alias("__base"))
                .with_columns(root_of(pl.col("__base")).hash().reinterpret(signed=True)
                              .alias("__h")))

    numbers_ref = ray.put(np.stack([np.asarray(numbers), np.asarray(block_sources)]))
    no_changes = pl.DataFrame(schema={"__first": pl.Int64, "__new": pl.String})

    def replayed(group: pl.DataFrame) -> pl.DataFrame:
        # a root's records all lie in one group: the replay over them is the whole rule
        shared = group.filter(pl.len().over("__h") > 1).sort(ORDER)
        if shared.height == 0:
            return no_changes
        block_numbers, sources = ray.get(numbers_ref)
        return _replayed(shared, block_numbers, sources)

    changes_ref = stacked_ref(grouped_refs(ds.to_arrow_refs(), record_rows, "__h", replayed,
                                           ds.count(), partitions), no_changes)

    def settle(table):
        frame = pl.from_arrow(table)
        settled = pl.from_arrow(ray.get(changes_ref))
        if settled.height == 0:
            return with_new_ids(frame, base_of(pl.col("id"))).to_arrow()
        first = pl.col(ORDER).first().over("id").alias("__first")
        joined = frame.with_columns(first).join(settled, on="__first", how="left",
                                                maintain_order="left")
        new_id = pl.col("__new").fill_null(base_of(pl.col("id")))
        return with_new_ids(joined, new_id).drop("__first", "__new").to_arrow()

    return ds.map_batches(settle, batch_format="pyarrow", batch_size=None,
                          zero_copy_batch=True)


def _replayed(shared: pl.DataFrame, numbers: np.ndarray,
              block_sources: np.ndarray) -> pl.DataFrame:
    """Final ids of the records sharing a root (in frame order): take_id per source in read
    order, then the cross-source rule, both over these records only. Returns (first row's
    order → new id)."""
    blocks = shared[ORDER].to_numpy() >> BLOCK_SHIFT
    source_of = block_sources[np.searchsorted(numbers, blocks)]  # numbers increase
    counters: defaultdict[int, Counter] = defaultdict(Counter)
    within = [take_id(counters[s], base) for s, base in zip(source_of, shared["__base"])]
    # unique_record_ids renames candidate ids too; only the record ids are used here
    frame = pl.DataFrame({"id": within, "source": shared["source"], "candidate_id": within})
    final = unique_record_ids(frame)["id"]
    return pl.DataFrame({"__first": shared[ORDER], "__new": final})
