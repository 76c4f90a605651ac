"""near_dedup's clusters in Ray tasks: connected components of the verified pairs, then each
component's survivor by the local step's own rule, so the driver holds refs and counts only.

Components come from alternating large-star and small-star rounds over edge lists (Kiveris,
Lattanzi, Mirrokni, Rastogi & Vassilvitskii 2014, "Connected Components in MapReduce and
Beyond", Algorithms 1-3), each round one hash grouping by node (`ray_shuffle.joined_refs`).
Edges are rows (c, p) with c > p (frame orders). Large-star links every larger neighbour of a
node to the least member of its neighbourhood; small-star links a node and its smaller
neighbours to the least of them. They converge to a star forest, each component a star
around its least order, in O(log² n) rounds (a near-duplicate family takes 1-3). The graph is
a star forest when every child has one parent and no parent is a child: the large-star round
counts the nodes where that fails in its input, and stops when there are none (large-star of a
star forest is that forest).

Then every component lies in one hash group (by its root): each group task runs the local
`clusters_of` over its components, with ranks in frame order, which is the local step's
decision restricted to them (both cluster rules depend only on a document's own component).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from datatools.executors.ray_blocks import ORDER
from datatools.executors.ray_shuffle import joined_refs, row_count
from datatools.filters.near_dedup import clusters_of, rank_of

MAX_ROUNDS = 64  # large-star/small-star pairs; families converge in a few, 2·log² n at worst
_EDGE = {"c": pl.Int64, "p": pl.Int64}


def star_forest(edge_refs: list, edges: int, partitions: int) -> list:
    """Refs of tables (c, p): every node of the graph of `edge_refs` (tables (c, p), c > p)
    but each component's least order, with p = that least order."""
    import ray

    bad_of = ray.remote(lambda table: int((table.schema.metadata or {})[b"bad"]))
    refs = edge_refs
    for _ in range(MAX_ROUNDS):
        refs = joined_refs([(refs, _large_star_rows)], "__node", _large_star, 2 * edges,
                           partitions)
        if sum(ray.get([bad_of.remote(r) for r in refs])) == 0:
            return refs
        refs = joined_refs([(refs, _small_star_rows)], "__node", _small_star, edges, partitions)
        edges = row_count(refs)
    raise RuntimeError(f"near_dedup components: no star forest after {MAX_ROUNDS} rounds")


def _large_star_rows(table) -> pl.DataFrame:
    edges = pl.from_arrow(table)
    return pl.concat([
        edges.select(pl.col("c").alias("__node"), pl.col("p").alias("__nb"),
                     pl.lit(True).alias("__child")),
        edges.select(pl.col("p").alias("__node"), pl.col("c").alias("__nb"),
                     pl.lit(False).alias("__child"))])


def _large_star(group: pl.DataFrame):
    """Per node u: every neighbour v > u gets the edge (v, least of u and its neighbours).
    The Arrow table's metadata `bad` counts the nodes whose input edges are not a star's."""
    group = group.unique()
    least = pl.min_horizontal(pl.col("__nb").min().over("__node"), pl.col("__node"))
    out = group.with_columns(least.alias("__m")).filter(pl.col("__nb") > pl.col("__node"))
    out = out.select(pl.col("__nb").alias("c"), pl.col("__m").alias("p")).unique()
    per_node = group.group_by("__node").agg(
        pl.col("__child").sum().alias("parents"), (~pl.col("__child")).sum().alias("children"))
    bad = per_node.filter((pl.col("parents") > 1)
                          | ((pl.col("parents") > 0) & (pl.col("children") > 0))).height
    return out.cast(_EDGE).to_arrow().replace_schema_metadata({"bad": str(bad)})


def _small_star_rows(table) -> pl.DataFrame:
    return pl.from_arrow(table).select(pl.col("c").alias("__node"), pl.col("p").alias("__nb"))


def _small_star(group: pl.DataFrame) -> pl.DataFrame:
    """Per node u: u and each of its smaller neighbours get the edge to the least of those."""
    group = group.unique()
    least = pl.col("__nb").min().over("__node")
    group = group.with_columns(least.alias("__m"))
    return pl.concat([
        group.filter(pl.col("__nb") != pl.col("__m")).select(
            pl.col("__nb").alias("c"), pl.col("__m").alias("p")),
        group.select(pl.col("__node").alias("c"), pl.col("__m").alias("p")),
    ]).unique().cast(_EDGE)


def cluster_info_refs(step, narrow_refs: list, verified_refs: list, pairs: int,
                      partitions: int) -> list:
    """Refs of the near_dedup cluster info (`NearDedup.cluster_info` rows of clustered
    documents) from the documents' narrow rows (`narrow_refs`: ORDER, key, `__primary`) and
    the verified candidate pairs (`verified_refs`: a < b, `__ok`, `__est`)."""
    import ray

    edges_of = ray.remote(_edges_of)
    edge_refs = [edges_of.remote(t) for t in verified_refs]
    edges = row_count(edge_refs)
    if edges == 0:
        return []
    stars = star_forest(edge_refs, edges, partitions)
    rows = 2 * pairs + 3 * edges  # documents in pairs, their roots, the edges
    # documents and edges joined to their component's root, by node ...
    rooted = joined_refs([(narrow_refs, _doc_rows), (stars, _root_rows),
                          (verified_refs, _verified_rows)], "__node", _rooted, rows, partitions)
    # ... then each component in one group, resolved by the local rule
    return joined_refs([(rooted, pl.from_arrow)], "__root", lambda g: _resolved(step, g), rows,
                       partitions)


def _edges_of(table):
    """Verified pairs (a < b, `__ok`) → edges (c, p) = (b, a)."""
    return (pl.from_arrow(table).filter("__ok")
            .select(pl.col("b").alias("c"), pl.col("a").alias("p")).cast(_EDGE).to_arrow())


_KIND_DOC, _KIND_ROOT, _KIND_EDGE = 0, 1, 2


def _doc_rows(table) -> pl.DataFrame:
    return pl.from_arrow(table).rename({ORDER: "__node"}).with_columns(
        pl.lit(_KIND_DOC, pl.Int8).alias("__kind"))


def _root_rows(table) -> pl.DataFrame:
    stars = pl.from_arrow(table)
    return pl.concat([stars.select(pl.col("c").alias("__node"), pl.col("p").alias("__root")),
                      stars.select(pl.col("p").alias("__node"), pl.col("p").alias("__root"))]
                     ).with_columns(pl.lit(_KIND_ROOT, pl.Int8).alias("__kind"))


def _verified_rows(table) -> pl.DataFrame:
    return pl.from_arrow(table).filter("__ok").select(
        pl.col("a").alias("__node"), pl.col("b").alias("__b"), "__est",
        pl.lit(_KIND_EDGE, pl.Int8).alias("__kind"))


def _rooted(group: pl.DataFrame) -> pl.DataFrame:
    """A node group's documents and edges (by their smaller end) with their component's
    root; documents in no verified pair have none and are left out."""
    roots = group.filter(pl.col("__kind") == _KIND_ROOT).select("__node", "__root").unique()
    rest = group.filter(pl.col("__kind") != _KIND_ROOT).drop("__root")
    return rest.join(roots, on="__node", how="inner")


def _resolved(step, group: pl.DataFrame) -> pl.DataFrame:
    """The cluster info of a group's whole components, by the local rule: documents indexed
    in frame order, ranks from their keep-rule key, the verified pairs in (a, b) order."""
    docs = group.filter(pl.col("__kind") == _KIND_DOC).sort("__node")
    edges = group.filter(pl.col("__kind") == _KIND_EDGE).sort("__node", "__b")
    nodes, a, b = (docs["__node"].to_numpy(), edges["__node"].to_numpy(),
                   edges["__b"].to_numpy())
    pairs = np.stack([np.searchsorted(nodes, a), np.searchsorted(nodes, b)], axis=1)
    if len(pairs) and (pairs.max() >= len(nodes) or not np.array_equal(nodes[pairs[:, 0]], a)
                       or not np.array_equal(nodes[pairs[:, 1]], b)):
        raise RuntimeError("near_dedup components: a verified pair lacks a document")
    keep = step.params.keep
    rank = rank_of(docs["__primary"].to_numpy() if keep != "first" else None, docs.height)
    ok = np.ones(len(pairs), dtype=bool)
    clusters = clusters_of(docs.height, pairs, ok, edges["__est"].to_numpy(), rank, step.params)
    info = step.cluster_info(docs.select(step.key), clusters)
    return info.filter(pl.col("near_dedup_cluster").is_not_null())
