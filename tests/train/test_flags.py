"""Mislabel flags over every training pair: flip 20% of a planted-preference set, train DPO at the
defaults through the whole runner, and the flags must find the flipped pairs."""
from __future__ import annotations

import json
import random

import polars as pl
import pytest

from datatools.schemas.train import TrainSection
from tests.train.conftest import planted_pairs

pytestmark = pytest.mark.slow


def test_flags_find_planted_flips(tiny_model_dir, tmp_path):
    from datatools.train.run import run_training

    pairs = planted_pairs(256, seed=11)
    rng = random.Random(0)
    flipped = set(rng.sample(range(len(pairs)), k=len(pairs) // 5))
    for i in flipped:
        pairs[i]["chosen"], pairs[i]["rejected"] = pairs[i]["rejected"], pairs[i]["chosen"]
    data = tmp_path / "pairwise"
    data.mkdir()
    pl.DataFrame(pairs).write_parquet(data / "data.parquet")
    section = TrainSection(model=str(tiny_model_dir), method="dpo", data=str(data), epochs=2,
                           max_length=96, cpu=True, output_dir=str(tmp_path / "run"), samples=2)
    report = run_training(section)
    stage = report["stages"][0]
    flags = pl.read_parquet(tmp_path / "run" / "train_flags.parquet")
    scored = pl.read_parquet(tmp_path / "run" / "train_margins.parquet")
    assert scored.height == stage["n_train"]  # every training pair, not only the held-out ones
    flipped_ids = {pairs[i]["id"] for i in flipped}
    trained_flipped = flipped_ids & set(scored["id"])
    hits = set(flags["id"]) & trained_flipped
    precision, recall = len(hits) / max(flags.height, 1), len(hits) / len(trained_flipped)
    print(f"flags: {flags.height} of {scored.height}; precision {precision:.2f}, recall {recall:.2f}")
    assert precision >= 0.8 and recall >= 0.8
    assert set(flags["reason"]) == {"train.likely_mislabelled"}
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())["stages"][0]
    assert ev["eval"]["flags"]["n_flagged"] == flags.height
    assert len(ev["samples"]) == 2 and {"prompt", "base", "trained"} <= set(ev["samples"][0])
    assert ev["eval"]["policy_preference"]["trained"]["n"] == ev["eval"]["n_pairs"] > 0


def test_kto_flags_find_planted_label_flips(tiny_model_dir, tmp_path):
    """Single answers (KTO): flip 20% of the labels of a planted unary set; the rows whose
    trained implicit reward contradicts their label must be the flipped ones."""
    from datatools.train.run import run_training
    from tests.train.conftest import unary_from_pairs

    rows = unary_from_pairs(planted_pairs(256, seed=12))
    for k, row in enumerate(rows):  # one id per answer, so a flag names the row it flags
        row["id"] = f"{row['id']}-{k % 2}"
    rng = random.Random(0)
    flipped = set(rng.sample(range(len(rows)), k=len(rows) // 5))
    for i in flipped:
        rows[i]["label"] = not rows[i]["label"]
    data = tmp_path / "unary"
    data.mkdir()
    pl.DataFrame(rows).write_parquet(data / "data.parquet")
    section = TrainSection(model=str(tiny_model_dir), method="kto", data=str(data), epochs=2,
                           max_length=96, cpu=True, output_dir=str(tmp_path / "run"), samples=0)
    report = run_training(section)
    flags = pl.read_parquet(tmp_path / "run" / "train_flags.parquet")
    scored = pl.read_parquet(tmp_path / "run" / "train_margins.parquet")
    assert scored.height == report["stages"][0]["n_train"]  # every training row
    trained_flipped = {rows[i]["id"] for i in flipped} & set(scored["id"])
    hits = set(flags["id"]) & trained_flipped
    precision, recall = len(hits) / max(flags.height, 1), len(hits) / len(trained_flipped)
    print(f"KTO flags: {flags.height} of {scored.height}; precision {precision:.2f}, "
          f"recall {recall:.2f}")
    assert precision >= 0.8 and recall >= 0.8
    assert set(flags["reason"]) == {"train.likely_mislabelled"}
    one = flags.row(0, named=True)
    assert "contradicts the label" in one["detail"]
    assert json.loads(one["record"])["label"] in (True, False)
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())["stages"][0]
    assert ev["eval"]["flags"]["n_flagged"] == flags.height
