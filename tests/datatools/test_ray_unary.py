"""The streamed unary driver (executors/ray_unary.py) without Ray: a frame cut into blocks of
whole records, each block built as a Ray block task builds it and written as parts, then
finished on the driver, must give the local build's dataset (row order included), metadata
and ledger rows. A tiny write slice makes the interleaving cross many slice boundaries.
(tests/datatools/test_ray_executor.py runs the same on a real Ray build.)"""
from __future__ import annotations

import random

import polars as pl
import pytest

from datatools.executors import ray_unary
from datatools.frame import frame_from_rows, rows_from_record
from datatools.parquet_out import write_slices
from datatools.pipeline import build_datasets
from datatools.recipe import load_recipe_dict

TEXTS = ["fine answer", "\ttabbed\tanswer", "no\u00a0break\u2003space", "", "  ", "ok",
         "é accent", "line\nbreak"]


def frame(n: int = 200, seed: int = 0) -> pl.DataFrame:
    """Records with 1–4 candidates: scores (some None), some labelled, some prompt-only."""
    r, rows = random.Random(seed), []
    for i in range(n):
        prompt = [{"role": "user", "content": r.choice(TEXTS) + f" q{i}"}]
        if i % 17 == 0:  # a prompt-only record
            rows += rows_from_record(f"r{i}", "src", prompt, [])
            continue
        cands = [{"content": r.choice(TEXTS) + str(j),
                  "score": r.choice([None, 0.5, 1.0, 2.0, 2.0, 3.5, 4.0])}
                 for j in range(r.randint(1, 4))]
        if i % 3 == 0:  # mostly desirable: the classes are unequal in every mode
            cands = [{"content": r.choice(TEXTS), "label": r.random() < 0.85}]
        rows += rows_from_record(f"r{i}", r.choice(["src", "other"]), prompt, cands,
                                 {"tab\tkey": "v"} if i % 5 == 0 else None)
    return frame_from_rows(rows)


def blocks(f: pl.DataFrame, seed: int):
    """Consecutive blocks of whole records (1 to 30 records each), as the Ray reader cuts."""
    r, ids = random.Random(seed), f["id"].unique(maintain_order=True).to_list()
    start = 0
    while start < len(ids):
        size = r.choice([1, 2, 5, 30])
        yield f.filter(pl.col("id").is_in(ids[start:start + size]))
        start += size


@pytest.mark.parametrize("unary", [
    {"balance": "downsample"},
    {"balance": "downsample", "threshold": 2.0},
    {"balance": "downsample", "mode": "pairs"},
    {"threshold": 1.0},
])
@pytest.mark.parametrize("pairwise", [False, True])
def test_unary_from_block_parts_equals_the_local_build(tmp_path, monkeypatch, unary, pairwise):
    monkeypatch.setattr(ray_unary, "WRITE_ROWS", 6)  # slices of 3 + 3 rows
    outputs = {"dir": str(tmp_path / "out"), "unary": unary,
               **({"pairwise": {"rejected": "random_lower"}} if pairwise else {})}
    loaded = load_recipe_dict({"name": "unary-parts", "seed": 11,
                               "sources": [{"path": str(tmp_path / "in.jsonl")}],
                               "outputs": outputs})
    f = frame()
    ids = f["id"].unique(maintain_order=True).to_list()
    lost_best = {i: "near_dedup dropped the best" for i in ids[1::8]}
    datasets, ledgers, metadata = build_datasets(loaded, f, lost_best)
    local, local_skipped = datasets["unary"], ledgers[list(datasets).index("unary")]
    assert local.height > 40 and local["label"].sum() not in (0, local.height)
    if unary.get("balance") == "downsample":
        assert (local_skipped["reason"] == "build.unary.downsampled").sum() >= 2

    parts = tmp_path / "parts"
    (parts / "unary").mkdir(parents=True)
    (parts / "skipped-unary").mkdir()
    for n, block in enumerate(blocks(f, seed=len(unary))):
        built, skipped, _ = build_datasets(loaded, block, lost_best, block=True)
        name = f"{n * 1000:020d}"
        built["unary"].write_ipc(parts / "unary" / f"{name}.arrow")
        skipped[list(built).index("unary")].write_parquet(parts / "skipped-unary" /
                                                         f"{name}.parquet")
    data, meta, ledger_parts = ray_unary.unary_from_parts(loaded, parts)

    assert meta == metadata["unary"]
    write_slices(data.slices(), data.empty, tmp_path / "unary.parquet")
    streamed = pl.read_parquet(tmp_path / "unary.parquet")
    assert data.height == streamed.height
    assert streamed.equals(local)  # the same rows in the same interleaved order
    ledger = pl.concat([p.frame() for p in ledger_parts])
    assert ledger.sort(ledger.columns).equals(local_skipped.sort(local_skipped.columns))
    downsampled = pl.col("reason") == "build.unary.downsampled"  # these in frame order
    assert ledger.filter(downsampled).equals(local_skipped.filter(downsampled))
