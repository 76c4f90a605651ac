"""The Ray executor's global plans and its hash-grouped map/reduce, against the local steps
on small frames cut into many blocks and hash groups (a real local Ray instance, 2 CPUs)."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("part_rows,map_tasks", [(4, 10), (25, 2)])
def test_repeated_keys_found_across_many_hash_groups(ray_cluster, monkeypatch, part_rows,
                                                     map_tasks):
    """16 hash groups over 10 blocks, a map task per block or five blocks per map task (when
    a block's part per group would be under `PART_ROWS`): each key's rows in one group, in
    frame order, and the same rows as a filter over the whole frame."""
    import ray

    from datatools.executors import ray_shuffle
    from datatools.executors.ray_blocks import ORDER

    monkeypatch.setattr(ray_shuffle, "GROUP_ROWS", 64)  # 1,000 rows: 16 groups, not 2
    monkeypatch.setattr(ray_shuffle, "PART_ROWS", part_rows)
    assert ray_shuffle.map_task_count(10, 1000, 16, 2) == map_tasks
    rows = pl.DataFrame({ORDER: range(1000), "__key": [i % 700 for i in range(1000)]},
                        schema={ORDER: pl.Int64, "__key": pl.Int64})
    blocks = [ray.put(rows.slice(i, 100).to_arrow()) for i in range(0, 1000, 100)]
    groups = ray.get(ray_shuffle.grouped_refs(
        blocks, pl.from_arrow, "__key", lambda f: f.filter(pl.len().over("__key") > 1),
        rows.height, partitions=2))
    assert len(groups) == 16
    found = pl.concat([pl.from_arrow(t) for t in groups])
    assert all(pl.from_arrow(t)["__key"].is_in(pl.from_arrow(u)["__key"].implode()).sum() == 0
               for i, t in enumerate(groups) for u in groups[i + 1:])  # a key in one group
    assert found.sort(ORDER).equals(rows.filter(pl.len().over("__key") > 1))
    assert found.height == 600
    for t in groups:  # within a group, rows keep their frame order
        assert pl.from_arrow(t)[ORDER].is_sorted()


def test_map_tasks_keep_every_part_above_the_inline_size():
    """Ray returns objects under 100 KB to the driver's own memory: map tasks are sized so a
    part holds `PART_ROWS` rows or more, and never exceed the blocks."""
    from datatools.executors.ray_shuffle import PART_ROWS, group_count, map_task_count

    band_rows = 10_000_000 * 25  # 10M records' band keys in 400 blocks
    groups = group_count(band_rows, 2)
    tasks = map_task_count(400, band_rows, groups, 2)
    assert tasks < 400 and band_rows // (tasks * groups) >= PART_ROWS
    assert map_task_count(40, 25_000_000, group_count(25_000_000, 2), 2) == 40  # 1M: big parts
    assert map_task_count(3, 10, 2, 2) == 2  # small data: still one task per partition
    assert map_task_count(1, 10, 2, 8) == 1


@pytest.mark.parametrize("keep,cluster", [("first", "components"), ("highest_score", "star"),
                                          ("longest", "components")])
def test_near_dedup_plan_equals_the_local_step_over_many_blocks_and_verification_groups(
        ray_cluster, tmp_path, monkeypatch, keep, cluster):
    """Families whose copies are just above the threshold to the original and below it to
    each other, hard negatives and unrelated texts, spread over blocks of 3 records, the
    band keys in hash groups of 200 rows (each group making its buckets' pairs) and the
    candidate pairs verified in groups of 8 sides: the same rows kept and the same drops
    (reason and detail: survivor, matched partner, Jaccard) as the local step."""
    from datatools.executors import ray_dedup, ray_shuffle
    from datatools.filters.near_dedup import NearDedup, NearDedupParams
    from tests.datatools.filters.test_near_dedup import _family, doc, frame

    monkeypatch.setattr(ray_dedup, "GROUP_SIDES", 8)
    monkeypatch.setattr(ray_shuffle, "GROUP_ROWS", 200)  # band keys in many groups, their
    monkeypatch.setattr(ray_shuffle, "PART_ROWS", 10)  # buckets' pairs made group by group
    texts = [" ".join(w) for _ in range(5) for w in (*_family(), doc(200))]
    order = np.random.default_rng(7).permutation(len(texts))
    texts = [texts[i] + " end" * (i % 3) for i in order]  # lengths differ for keep=longest
    scores = [None if i % 4 == 0 else float(i % 5) for i in range(len(texts))]
    data = frame(texts, scores)
    step = NearDedup(NearDedupParams(keep=keep, cluster=cluster))
    kept_local, rejected_local = step(data)
    assert rejected_local["id"].n_unique() >= 5  # the families were found

    assert_plan_equals_local(ray_dedup.near_dedup_plan, step, data, kept_local, rejected_local,
                             tmp_path)


@pytest.mark.parametrize("fields", [["prompt"], ["prompt", "completion"]])
def test_exact_dedup_plan_equals_the_local_step(ray_cluster, tmp_path, monkeypatch, fields):
    """Whole records (a record's rows share its key: one narrow row each) and single rows,
    repeats spread over blocks of 3 records and many hash groups: the same rows kept and the
    same drops (detail: the first occurrence) as the local step."""
    from datatools.core_steps import ExactDedup, ExactDedupParams
    from datatools.executors import ray_dedup, ray_shuffle
    from datatools.frame import frame_from_rows, rows_from_record

    monkeypatch.setattr(ray_shuffle, "GROUP_ROWS", 8)
    monkeypatch.setattr(ray_shuffle, "PART_ROWS", 2)
    rows = []
    for i in range(40):  # prompts repeat every 7 records, answers every 5
        rows += rows_from_record(f"r{i}", f"t:{i}", [{"role": "user", "content": f"Q {i % 7}"}],
                                 [{"content": f"A {i % 5}"}, {"content": f"B {i % 3}"}])
    data = frame_from_rows(rows)
    step = ExactDedup(ExactDedupParams(fields=fields))
    kept_local, rejected_local = step(data)
    assert rejected_local.height > 10
    assert_plan_equals_local(ray_dedup.exact_dedup_plan, step, data, kept_local, rejected_local,
                             tmp_path)


def assert_plan_equals_local(plan, step, data, kept_local, rejected_local, tmp_path):
    """`plan` over `data` in blocks of 6 rows (3 records, 8 blocks or more) keeps the local
    step's rows, in order, and drops the same rows with the same reasons and details."""
    from datatools.executors.ray_blocks import collect, to_blocks

    books = tmp_path / "books"
    books.mkdir()
    ds = to_blocks(data, block_rows=6).materialize()
    assert ds.num_blocks() >= 8
    kept_ray = collect(plan(step, ds, books, "steps[1]", 2).materialize())
    assert kept_ray.equals(kept_local)
    books_written = sorted(books.glob("*.parquet"))
    if not books_written:  # a block writes its rejected rows only when it has some
        assert rejected_local.height == 0
        return
    rejected_ray = pl.concat([pl.read_parquet(f) for f in books_written])
    columns = ["id", "candidate_id", "reason", "detail"]
    assert rejected_ray.select(columns).sort("candidate_id").equals(
        rejected_local.select(columns).sort("candidate_id"))


def _union_find_roots(lo: np.ndarray, hi: np.ndarray) -> dict[int, int]:
    """Each node's least connected node, by plain union-find (the reference)."""
    parent: dict[int, int] = {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for x, y in zip(lo.tolist(), hi.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return {x: find(x) for x in set(lo.tolist()) | set(hi.tolist())}


@pytest.mark.parametrize("graph", ["path", "random", "stars"])
def test_star_forest_finds_the_connected_components_across_hash_groups(
        ray_cluster, monkeypatch, graph):
    """Large-star / small-star rounds in many hash groups give every node its component's
    least node, as union-find does: a shuffled 300-node path (the longest chain), random
    sparse graphs with many components, and a graph that is already a star forest."""
    import ray

    from datatools.executors import ray_clusters, ray_shuffle

    monkeypatch.setattr(ray_shuffle, "GROUP_ROWS", 40)
    monkeypatch.setattr(ray_shuffle, "PART_ROWS", 5)
    rng = np.random.default_rng(3)
    if graph == "path":
        ids = rng.permutation(300) * 11 + (5 << 32)  # sparse orders, as blocks give
        a, b = ids[:-1], ids[1:]
    elif graph == "random":
        a, b = rng.integers(0, 400, 300), rng.integers(0, 400, 300)
        a, b = a[a != b], b[a != b]
    else:
        a = np.repeat(np.arange(0, 100, 10), 9)
        b = a + np.tile(np.arange(1, 10), 10)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    edges = pl.DataFrame({"c": hi, "p": lo}, schema={"c": pl.Int64, "p": pl.Int64})
    refs = [ray.put(edges.slice(i, 50).to_arrow()) for i in range(0, edges.height, 50)]
    stars = pl.concat([pl.from_arrow(t) for t in ray.get(
        ray_clusters.star_forest(refs, edges.height, partitions=2))])
    expected = _union_find_roots(lo, hi)
    assert stars["c"].n_unique() == stars.height  # one parent per node
    found = dict(zip(stars["c"].to_list(), stars["p"].to_list()))
    assert set(found) <= set(expected)  # no node the graph lacks
    assert {x: found.get(x, x) for x in expected} == expected
    assert set(found.values()) == set(expected.values())  # every root is a parent


def test_near_dedup_plan_without_any_candidate_pair_keeps_every_row(ray_cluster, tmp_path):
    """Unrelated texts only: no candidate pair, so no clusters; every row is kept (this used
    to fail building the empty decision)."""
    from datatools.executors import ray_dedup
    from datatools.filters.near_dedup import NearDedup, NearDedupParams
    from tests.datatools.filters.test_near_dedup import doc, frame

    data = frame([" ".join(doc(60)) for _ in range(30)])
    step = NearDedup(NearDedupParams())
    kept_local, rejected_local = step(data)
    assert rejected_local.height == 0
    assert_plan_equals_local(ray_dedup.near_dedup_plan, step, data, kept_local, rejected_local,
                             tmp_path)
