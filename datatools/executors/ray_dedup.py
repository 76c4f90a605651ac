"""Distributed plans for the global dedup steps, keeping the same rows as the local steps.

Both follow one shape: the expensive per-row work (normalise + hash; shingle + MinHash + LSH
band keys) runs in block tasks and yields narrow rows (order, key), split into hash groups
that one task per group reads to find the keys seen more than once (`repeated_rows`); only
the rows
of those keys — the duplicate groups, a few percent of the data — come to the driver, where
the local step's own rule decides (first occurrence; LSH pairs → verification → greedy
clusters, `filters.near_dedup.resolve_pairs`); the decision, small, goes back to block tasks
that split each block with the local step's own `split`.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from datatools.executors.ray_blocks import ORDER, block_task
from datatools.filters import lsh
from datatools.filters.near_dedup import band_keys_of, keep_rank, resolve_pairs
from datatools.step import text_slices


GROUP_ROWS = 4_000_000  # narrow rows per hash group, at most (~80 MB of keys)


def repeated_rows(ds, narrow_rows, keys: list[str], partitions: int,
                  rows_per_row: int = 1) -> pl.DataFrame:
    """The narrow rows (`narrow_rows`: block → frame with ORDER and `keys`) whose `keys` occur
    more than once across `ds`'s blocks, collected here in frame order.

    A map/reduce of Ray tasks (the shuffle pattern of Ray's own docs): one task per block
    computes its narrow rows and returns them as G objects, split by the last key's value
    modulo G (keys are 64-bit hashes, so the groups are even, and equal keys share a group);
    one task per group joins its G-th objects from every block and keeps the repeated keys
    column-wise with polars. G is sized to the data (at most GROUP_ROWS rows per group), so
    a reduce task's memory does not grow with N. Ray Data's hash shuffle did the same job
    with aggregator actors: at 10M records (250M band keys) it spilled and restored for over
    40 minutes; Ray's `groupby().count()` aggregates group by group (117 s for 100k docs)."""
    import ray

    expected = ds.count() * rows_per_row
    groups = max(partitions, -(-expected // GROUP_ROWS))
    key = keys[-1]

    @ray.remote(num_returns=groups)
    def split(table):
        frame = narrow_rows(table)
        group = (frame[key].reinterpret(signed=False) % groups).to_numpy()
        order = np.argsort(group, kind="stable")
        cuts = np.searchsorted(group[order], np.arange(groups + 1))
        sorted_frame = frame[order]
        parts = [sorted_frame.slice(lo, hi - lo).to_arrow()
                 for lo, hi in zip(cuts[:-1], cuts[1:])]
        return parts if groups > 1 else parts[0]

    @ray.remote
    def repeated(*tables):
        frame = pl.concat([pl.from_arrow(t) for t in tables], how="vertical_relaxed")
        return frame.filter(pl.len().over(keys) > 1).to_arrow()

    outputs = [split.remote(block) for block in ds.to_arrow_refs()]
    by_group = [outputs] if groups == 1 else list(zip(*outputs))
    picked = [repeated.remote(*refs) for refs in by_group]
    del outputs, by_group  # a group's objects are freed once its task has read them
    frames = [f for f in (pl.from_arrow(t) for t in ray.get(picked)) if f.height]
    return pl.concat(frames).sort(ORDER) if frames else pl.DataFrame()


def exact_dedup_plan(step, ds, books, location: str, partitions: int):
    """Hash column per block → keys seen twice (`repeated_rows`) → first occurrence per key."""
    import ray

    name = step.keep_column

    def keys(table):
        return step.with_keys(pl.from_arrow(table)).select(
            ORDER, name, pl.col("__key").reinterpret(signed=True))

    groups = repeated_rows(ds, keys, ["__key"], partitions)
    if groups.height:  # in frame order, so `first` is the first occurrence, as locally
        firsts = groups.with_columns(pl.col(name).first().over("__key").alias("__first"))
        dups = firsts.filter(pl.col(name) != pl.col("__first")).select(ORDER, "__first")
    else:
        dups = pl.DataFrame(schema={ORDER: pl.Int64, "__first": pl.String})
    dups_ref = ray.put(dups)

    def split(frame):
        keyed = step.with_keys(frame).join(ray.get(dups_ref), on=ORDER, how="left",
                                           maintain_order="left")
        keyed = keyed.with_columns(pl.col("__first").fill_null(pl.col(name)))
        return _checked(step.split(keyed), frame, location)

    return ds.map_batches(block_task(split, books), batch_format="pyarrow", batch_size=None)


def near_dedup_plan(step, ds, books, location: str, partitions: int):
    """Band keys per block → buckets seen twice (`repeated_rows` on band, key) → candidate pairs
    → verified on the driver with the local rule → cluster info back to the blocks."""
    import ray

    p, text = step.params, step.text()

    def band_rows(table):
        docs = step.docs_of(pl.from_arrow(table), extra=(ORDER,))
        _, _, idx, keys = band_keys_of(text_slices(docs, text), p)
        orders = docs[ORDER].to_numpy()[idx]
        bands = keys.shape[0]
        return pl.DataFrame({
            "__band": np.repeat(np.arange(bands, dtype=np.int32), len(idx)),
            "__bkey": keys.ravel().view(np.int64), ORDER: np.tile(orders, bands),
        }, schema={"__band": pl.Int32, "__bkey": pl.Int64, ORDER: pl.Int64})

    buckets = repeated_rows(ds, band_rows, ["__band", "__bkey"], partitions,
                            rows_per_row=lsh.choose_bands(p.threshold, p.num_perm,
                                                          p.max_miss)[0])
    info = _cluster_info(step, ds, buckets, text) if buckets.height else None
    info_ref = ray.put(info if info is not None else step.cluster_info(
        pl.DataFrame(schema={step.key: pl.String}), _no_clusters()))

    def split(frame):
        return _checked(step.split(frame, ray.get(info_ref)), frame, location)

    return ds.map_batches(block_task(split, books), batch_format="pyarrow", batch_size=None)


def _cluster_info(step, ds, buckets: pl.DataFrame, text: pl.Expr) -> pl.DataFrame:
    """Pairs per band (the local neighbour rule, `lsh.pairs_from_keys`, bucket by bucket in
    frame order) → the documents in pairs, fetched → verified pairs → greedy clusters."""
    import ray

    pairs = []
    for (band,), rows in buckets.sort("__band", "__bkey", ORDER, maintain_order=True).group_by(
            "__band", maintain_order=True):
        pairs.append(lsh.pairs_from_keys(rows["__bkey"].to_numpy().view(np.uint64)[None, :],
                                         rows[ORDER].to_numpy()))
    pairs = np.unique(np.concatenate(pairs), axis=0)
    wanted = pl.Series(ORDER, np.unique(pairs), dtype=pl.Int64)
    wanted_ref = ray.put(wanted)

    def fetch(table):
        docs = step.docs_of(pl.from_arrow(table), extra=(ORDER,))
        return docs.filter(pl.col(ORDER).is_in(ray.get(wanted_ref))).to_arrow()

    parts = [pl.from_arrow(t) for t in ray.get(
        ds.map_batches(fetch, batch_format="pyarrow", batch_size=None).to_arrow_refs())]
    docs = pl.concat([f for f in parts if f.height]).sort(ORDER)
    from datatools.filters import minhash

    hashes, offsets = minhash.shingle_hashes_of_parts(
        list(text_slices(docs, text)), step.params.shingle, step.params.ngram)
    # the documents' order is the frame's, so their rank orders them as the local rank does
    rank = keep_rank(docs, step.params.keep, text)
    local_pairs = np.searchsorted(docs[ORDER].to_numpy(), pairs)
    clusters = resolve_pairs(local_pairs, hashes, offsets, rank, step.params)
    info = step.cluster_info(docs, clusters)
    return info.filter(pl.col("near_dedup_cluster").is_not_null())


def _no_clusters():
    from datatools.filters.near_dedup import Clusters

    return Clusters(rep=np.zeros(0, dtype=np.int64), jaccard=np.zeros(0), is_rep=np.zeros(0, bool))


def _checked(result, frame: pl.DataFrame, location: str):
    kept, rejected = result
    if kept.height + rejected.height != frame.height:
        raise RuntimeError(f"{location}: rows_in {frame.height} != kept {kept.height} + "
                           f"rejected {rejected.height} in a block")
    return kept, rejected


PLANS = {"exact_dedup": exact_dedup_plan, "near_dedup": near_dedup_plan}
