"""Distributed plans for the global dedup steps, keeping the same rows as the local steps.

Both follow one shape: the expensive per-row work (normalise + hash; shingle + MinHash + LSH
band keys) runs in block tasks and yields narrow rows (order, key), split into hash groups
that one task per group reads. exact_dedup's group tasks find each repeated key's first
occurrence by the local rule. near_dedup's group tasks turn their buckets seen twice into
candidate pairs (the local neighbour rule; a bucket lies wholly in one group); a second
grouping by pair drops the copies of a pair found in several bands. The pairs are verified in
tasks: each block sends the shingle hashes and signature of its documents in pairs to the
pair's hash group. The verified pairs are clustered in tasks too (`ray_clusters`: connected
components, then the local rule per component). The decisions are stacked in a task into
one Arrow object that the block tasks read to split each block with the local step's own
`split`: the driver holds object refs and counts, never rows that grow with the data.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from datatools.executors.ray_blocks import ORDER, block_task
from datatools.executors.ray_clusters import cluster_info_refs
from datatools.executors.ray_shuffle import grouped_refs, made, row_count, stacked_ref
from datatools.filters import lsh, minhash
from datatools.filters.hash_mix import FMIX64, fmix
from datatools.filters.near_dedup import band_keys_of, rank_primary
from datatools.step import text_slices

GROUP_SIDES = 200_000  # pair sides verified per task (~2 KB each: shingle hashes + signature)
PART_SIDES = 500  # pair sides per map output object, at least (~1 MB; see ray_shuffle)


def exact_dedup_plan(step, ds, books, location: str, partitions: int):
    """Hash column per block → keys seen twice, in hash groups → each group's first
    occurrences per key."""
    import ray

    name = step.keep_column
    # keyed by record: a record's rows share its key, so one narrow row per record (else every
    # row of every record would be a repeat, and all of them would come to the driver)
    by = name if name == "id" else ORDER

    def keys(table):
        keyed = step.with_keys(pl.from_arrow(table))
        if name == "id":
            keyed = keyed.filter(pl.col("id").is_first_distinct())
        return keyed.select(ORDER, name, pl.col("__key").reinterpret(signed=True))

    def first_occurrences(group: pl.DataFrame) -> pl.DataFrame:
        # a key's rows all lie in one group; in frame order, `first` is the first occurrence,
        # as locally
        rows = group.filter(pl.len().over("__key") > 1).sort(ORDER)
        firsts = rows.with_columns(pl.col(name).first().over("__key").alias("__first"))
        return firsts.filter(pl.col(name) != pl.col("__first")).select(by, "__first")

    empty = pl.DataFrame(schema={by: pl.Int64 if by == ORDER else pl.String,
                                 "__first": pl.String})
    # stacked in a task, kept as Arrow (put and read without a pickled copy)
    dups_ref = stacked_ref(grouped_refs(ds.to_arrow_refs(), keys, "__key", first_occurrences,
                                        ds.count(), partitions), empty)

    def split(frame):
        keyed = step.with_keys(frame).join(pl.from_arrow(ray.get(dups_ref)), on=by, how="left",
                                           maintain_order="left")
        keyed = keyed.with_columns(pl.col("__first").fill_null(pl.col(name)))
        return _checked(step.split(keyed), frame, location)

    return ds.map_batches(block_task(split, books), batch_format="pyarrow", batch_size=None)


def near_dedup_plan(step, ds, books, location: str, partitions: int):
    """Band keys per block → buckets seen twice → candidate pairs → verified and clustered
    in tasks (`ray_clusters`) with the local rule → cluster info back to the blocks."""
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

    bands = lsh.choose_bands(p.threshold, p.num_perm, p.max_miss)[0]
    # a bucket (band, key) lies wholly in one hash group, so its pairs are made there: the
    # driver gets pairs, not the rows of every bucket seen twice (at 10M records those, and
    # their sorted copies, set the driver's peak)
    rows = ds.count() * bands
    found = grouped_refs(ds.to_arrow_refs(), band_rows, "__bkey", _bucket_pairs, rows,
                         partitions)
    # a pair is found in most of its bands (~20 times at 25 bands): the copies are dropped in
    # a second grouping by pair, so the driver gets each pair once (at 1M records the copies
    # and their sort were +51 MiB of the driver's peak, growing with N)
    unique_refs = grouped_refs(found, _with_pair_hash, "__ph", _distinct_pairs,
                               row_count(found), partitions)
    del found  # the copies are freed once the second grouping has read them
    pairs = row_count(unique_refs)
    info_refs = []
    if pairs:  # the pairs, their documents and the clusters stay in tasks and the object store
        pairs_ref = made(ray.remote(_stacked_pairs).remote(*unique_refs))
        del unique_refs
        verified = _verified(step, ds, pairs_ref, pairs, text, partitions)
        info_refs = cluster_info_refs(step, _narrow_refs(step, ds, pairs_ref, text), verified,
                                      pairs, partitions)
    info_ref = stacked_ref(info_refs, step.cluster_info(
        pl.DataFrame(schema={step.key: pl.String}), _no_clusters()))

    def split(frame):
        return _checked(step.split(frame, pl.from_arrow(ray.get(info_ref))), frame, location)

    return ds.map_batches(block_task(split, books), batch_format="pyarrow", batch_size=None)


def _with_pair_hash(table) -> pl.DataFrame:
    """A table of candidate pairs (a, b) with a 64-bit hash of the pair, to group by."""
    pairs = pl.from_arrow(table)
    a = pairs["a"].to_numpy().astype(np.uint64)
    b = pairs["b"].to_numpy().astype(np.uint64)
    with np.errstate(over="ignore"):
        h = fmix(a * np.uint64(0x9E3779B97F4A7C15) ^ b, FMIX64)
    return pairs.with_columns(pl.Series("__ph", h.view(np.int64)))


def _distinct_pairs(group: pl.DataFrame) -> pl.DataFrame:
    return group.select("a", "b").unique()


def _bucket_pairs(group: pl.DataFrame) -> pl.DataFrame:
    """A hash group's band-key rows → the candidate pairs (of frame orders) of its buckets
    seen twice: per band, the local neighbour rule (`lsh.pairs_from_keys`) bucket by bucket
    in frame order."""
    rows = group.filter(pl.len().over("__band", "__bkey") > 1).sort("__band", "__bkey", ORDER)
    bands = rows["__band"].to_numpy()
    cuts = np.flatnonzero(np.diff(bands)) + 1
    pairs = [lsh.pairs_from_keys(rows["__bkey"][lo:hi].to_numpy().view(np.uint64)[None, :],
                                 rows[ORDER][lo:hi].to_numpy())
             for lo, hi in zip([0, *cuts], [*cuts, len(bands)]) if hi > lo]
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    return pl.DataFrame({"a": pairs[:, 0], "b": pairs[:, 1]},
                        schema={"a": pl.Int64, "b": pl.Int64})


def _stacked_pairs(*tables) -> np.ndarray:
    """The candidate pairs of `tables` as one (n, 2) array of frame orders (a < b)."""
    frame = pl.concat([pl.from_arrow(t) for t in tables])
    return frame.select("a", "b").to_numpy()


def _documents_in(pairs: np.ndarray) -> np.ndarray:
    """The frame orders of the documents in `pairs`, sorted, each once."""
    return np.unique(pairs)


def _narrow_refs(step, ds, pairs_ref, text: pl.Expr) -> list:
    """Refs of each block's narrow rows of its documents in pairs: ORDER, key, and the keep
    rule's sort key (`__primary`)."""
    import ray

    keep = step.params.keep
    wanted_ref = made(ray.remote(_documents_in).remote(pairs_ref))  # once, not per block

    def narrow(table):
        docs = step.docs_of(pl.from_arrow(table), extra=(ORDER,))
        wanted = pl.Series(ray.get(wanted_ref), dtype=pl.Int64)
        docs = docs.filter(pl.col(ORDER).is_in(wanted.implode()))
        primary = rank_primary(docs, keep, text)
        return docs.select(ORDER, step.key).with_columns(
            pl.Series("__primary", primary if primary is not None else np.zeros(docs.height),
                      dtype=pl.Float64)).to_arrow()

    return ds.map_batches(narrow, batch_format="pyarrow", batch_size=None).to_arrow_refs()


def _verified(step, ds, pairs_ref, pairs: int, text: pl.Expr, partitions: int) -> list:
    """`lsh.verify` of each candidate pair (`pairs_ref`: their (n, 2) array of frame orders),
    in tasks: every block sends each of its documents' sides of pairs (shingle hashes,
    signature) to the pair's group; a group's task verifies its pairs as the local step
    does. Returns the refs of tables (a, b, `__ok`, `__est`), one row per pair."""
    import pyarrow as pa
    import ray

    p = step.params

    def sides(table):
        docs = step.docs_of(pl.from_arrow(table), extra=(ORDER,))
        orders = docs[ORDER].to_numpy()
        found_pair, found_side, found_doc = [], [], []
        for side, column in enumerate(ray.get(pairs_ref).T):
            at = np.minimum(np.searchsorted(orders, column), max(len(orders) - 1, 0))
            hit = np.flatnonzero(orders[at] == column) if len(orders) else at[:0]
            found_pair.append(hit)
            found_side.append(np.full(len(hit), side, dtype=np.int8))
            found_doc.append(at[hit])
        doc = np.concatenate(found_doc)
        used, local = np.unique(doc, return_inverse=True)
        if len(used):
            hashes, offsets = minhash.shingle_hashes_of_parts(
                list(text_slices(docs[used], text)), p.shingle, p.ngram)
        else:  # no document of this block is in a pair
            hashes, offsets = np.zeros(0, np.uint64), np.zeros(1, np.int64)
        sig = minhash.signatures_of(hashes, offsets, np.arange(len(used)), p.num_perm, p.seed)
        shingles = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int64), pa.int64())
                                            .cast(pa.int32()), pa.array(hashes))
        signature = pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel()), p.num_perm)
        return pl.from_arrow(pa.table({
            "__pair": pa.array(np.concatenate(found_pair), pa.int64()),
            "__side": pa.array(np.concatenate(found_side), pa.int8()),
            "__shingles": shingles.take(pa.array(local)),
            "__sig": signature.take(pa.array(local)),
        }))

    def verify(group: pl.DataFrame) -> pl.DataFrame:
        if group.height == 0:
            return pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64, "__ok": pl.Boolean,
                                        "__est": pl.Float64})
        group = group.sort("__pair", "__side")
        first, second = group["__pair"][0::2], group["__pair"][1::2]
        if group.height % 2 or not first.equals(second) or (group["__side"][0::2] != 0).any():
            raise RuntimeError("near_dedup verification: a candidate pair lacks a document")
        shingles = group["__shingles"]
        hashes = shingles.explode().drop_nulls().to_numpy()
        offsets = np.zeros(group.height + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(shingles.list.len().to_numpy())
        local = np.arange(group.height).reshape(-1, 2)
        ok, est = lsh.verify(local, group["__sig"].to_numpy(), hashes, offsets, p.threshold)
        ab = ray.get(pairs_ref)[first.to_numpy()]
        return pl.DataFrame({"a": ab[:, 0], "b": ab[:, 1], "__ok": ok, "__est": est})

    checked = grouped_refs(ds.to_arrow_refs(), sides, "__pair", verify, 2 * pairs, partitions,
                           GROUP_SIDES, PART_SIDES)
    if (done := row_count(checked)) != pairs:
        raise RuntimeError(f"near_dedup verification: {done} of {pairs} candidate pairs "
                           "verified")
    return checked


def _no_clusters():
    from datatools.filters.near_dedup import Clusters

    none = np.zeros(0, dtype=np.int64)
    return Clusters(rep=none, link=none, jaccard=np.zeros(0), is_rep=np.zeros(0, bool))


def _checked(result, frame: pl.DataFrame, location: str):
    kept, rejected = result
    if kept.height + rejected.height != frame.height:
        raise RuntimeError(f"{location}: rows_in {frame.height} != kept {kept.height} + "
                           f"rejected {rejected.height} in a block")
    return kept, rejected


PLANS = {"exact_dedup": exact_dedup_plan, "near_dedup": near_dedup_plan}
