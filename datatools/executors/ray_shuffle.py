"""Hash-grouped map/reduce over a Ray dataset's blocks, with Ray tasks (the shuffle pattern
of Ray's own docs), for the global plans' narrow rows.

One task per block computes its rows and returns them as G objects, split by one integer
column modulo G; one task per group joins its objects from every block and reduces them.
G is sized to the data, so no task's memory grows with N. Ray Data's hash shuffle
(`repartition(keys=...)`, aggregator actors) did the same job for the band keys: at 10M
records (250M rows) it spilled and restored for over 40 minutes; this plan took 4 minutes.
Ray's `groupby().count()` aggregates group by group (117 s for the band keys of 100k docs).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import polars as pl


GROUP_ROWS = 4_000_000  # narrow rows per hash group, at most (~80 MB of keys)
# narrow rows per map output object, at least (~1 MB of keys): Ray hands a task's returns
# under 100 KB (`max_direct_call_object_size`) to the caller's own memory, so small parts
# would all be held by the driver (10M records: ~5 GB of band keys in 5,000-row parts)
PART_ROWS = 50_000


def group_count(rows: int, partitions: int, per_group: int | None = None) -> int:
    """Groups for `rows` rows: at least one per partition, at most `per_group` rows each."""
    return max(partitions, -(-rows // (per_group or GROUP_ROWS)))


def map_task_count(blocks: int, rows: int, groups: int, partitions: int,
                   per_part: int | None = None) -> int:
    """Map tasks over `blocks` blocks of `rows` rows in all, so that each task's part for
    each of `groups` groups holds about `per_part` rows or more (one block per task when the
    blocks are large enough; at least one task per partition while there are blocks)."""
    wanted = rows // (groups * (per_part or PART_ROWS))
    return max(1, min(blocks, max(wanted, partitions)))


def grouped_refs(blocks: list, rows_of: Callable, by: str, reduce: Callable, rows: int,
                 partitions: int, per_group: int | None = None,
                 per_part: int | None = None) -> list:
    """[reduce(frame of group g) for each g], as refs (they stay in the object store until
    fetched): `rows_of(block table) → frame` per block of `blocks` (refs of Arrow tables),
    its rows grouped by `by` (an integer column, taken modulo the group count, sized to
    `rows`, the rows expected in all). Consecutive blocks share a map task when parts would
    be small."""
    return joined_refs([(blocks, rows_of)], by, reduce, rows, partitions, per_group, per_part)


def joined_refs(sources: list[tuple[list, Callable]], by: str, reduce: Callable, rows: int,
                partitions: int, per_group: int | None = None,
                per_part: int | None = None) -> list:
    """`grouped_refs` over several sources at once, (table refs, rows_of) each: a group's
    task reduces the rows of every source that hash to it, stacked diagonally (a column one
    source lacks is null in its rows), so a reduce can join the sources on `by`. `reduce` may
    return a polars frame or an Arrow table (to carry schema metadata)."""
    import pyarrow as pa
    import ray

    groups = group_count(rows, partitions, per_group)
    how = "diagonal_relaxed" if len(sources) > 1 else "vertical_relaxed"

    def split_task(rows_of):
        @ray.remote(num_returns=groups)
        def split(*tables):
            frame = pl.concat([rows_of(t) for t in tables], how="vertical_relaxed")
            group = (frame[by].cast(pl.Int64).reinterpret(signed=False) % groups).to_numpy()
            order = np.argsort(group, kind="stable")  # stable: rows keep their block order
            cuts = np.searchsorted(group[order], np.arange(groups + 1))
            grouped = frame[order]
            parts = [grouped.slice(lo, hi - lo).to_arrow()
                     for lo, hi in zip(cuts[:-1], cuts[1:])]
            return parts if groups > 1 else parts[0]
        return split

    @ray.remote
    def reduced(*tables):
        out = reduce(pl.concat([pl.from_arrow(t) for t in tables], how=how))
        return out if isinstance(out, pa.Table) else out.to_arrow()

    outputs = []
    for blocks, rows_of in sources:
        split = split_task(rows_of)
        tasks = map_task_count(len(blocks), rows, groups, partitions, per_part)
        cuts = np.linspace(0, len(blocks), tasks + 1).round().astype(int)
        outputs += [split.remote(*blocks[lo:hi]) for lo, hi in zip(cuts[:-1], cuts[1:])
                    if hi > lo]
    by_group = [outputs] if groups == 1 else list(zip(*outputs))
    results = [reduced.remote(*refs) for refs in by_group]
    del outputs, by_group  # a group's objects are freed once its task has read them
    return results


def row_count(refs: list) -> int:
    """Rows in all the Arrow tables of `refs`, counted where they are."""
    import ray

    num_rows = ray.remote(lambda table: table.num_rows)
    return sum(ray.get([num_rows.remote(t) for t in refs]))


def made(ref):
    """`ref` once its object exists, not fetched here. Lazy block tasks that read a task's
    result must not wait on that task: it needs a CPU, which a later step's actors may hold
    (a deadlock otherwise)."""
    import ray

    ray.wait([ref], fetch_local=False)
    return ref


def stacked_ref(refs: list, empty: pl.DataFrame):
    """The ref of one Arrow table stacking the tables of `refs` (`empty` gives the schema
    when there are none), made in a task (the driver never holds the rows), and `made`."""
    import ray

    @ray.remote
    def stacked(*tables):
        frames = [empty, *(pl.from_arrow(t) for t in tables)]
        return pl.concat(frames, how="vertical_relaxed").to_arrow()

    return made(stacked.remote(*refs))
