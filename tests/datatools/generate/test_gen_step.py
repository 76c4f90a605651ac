"""The `generate` step over canonical frames, with the tiny transformers model."""
from __future__ import annotations

import json

import polars as pl
import pytest

from datatools.registry import STEPS
from datatools.generate.step import Generate, GenerateParams
from datatools.step import StepContext


def params(model_dir, **kw):
    pol = [{"backend": "transformers", "model": str(model_dir), "name": "tiny", "n": 2,
            "max_tokens": 8, "temperature": 1.0},
           {"backend": "transformers", "model": str(model_dir), "name": "greedy", "n": 1,
            "max_tokens": 8, "temperature": 0.0}]
    return GenerateParams.model_validate({"policies": pol, **kw})


def test_generates_n_per_policy_and_records_provenance(tiny_model_dir, tmp_path, prompt_frame):
    assert STEPS["generate"] is Generate
    frame = prompt_frame(3, with_completion=True)
    frame = pl.concat([frame, prompt_frame(2).with_columns(pl.lit("x1").alias("id"))])
    step = Generate(params(tiny_model_dir), StepContext(cache_dir=tmp_path, quiet=True, seed=3))
    kept, rejected = step(frame)
    ids = set(frame["id"])
    assert set(kept["id"]) | set(rejected["id"]) == ids, "every input record accounted for"
    assert kept.columns == frame.columns and rejected.columns == [*frame.columns, "reason",
                                                                 "detail"]
    assert kept["completion"].null_count() == 0, "placeholders replaced"
    all_new = pl.concat([kept.filter(pl.col("model") != "dataset"), rejected.drop(
        "reason", "detail")])
    assert all_new.group_by("id").len()["len"].to_list() == [3] * len(ids)  # 2 + 1 per record
    assert all_new["candidate_id"].n_unique() == len(all_new)
    assert (kept["model"] == "dataset").sum() == 3, "dataset completions kept (keep_existing)"
    assert set(rejected["reason"]) <= {"generate.empty"}
    row = kept.filter(pl.col("model") != "dataset").row(0, named=True)
    meta = json.loads(row["meta"])
    gen = meta["generation"]
    assert meta["i"] == 0 and gen["backend"] == "transformers" and gen["path"]
    assert gen["sampling"]["seed"] == 3 and gen["policy"] in {"tiny", "greedy"}
    assert row["model"] == str(tiny_model_dir)
    # records stay together, dataset candidate first
    assert kept["id"].to_list() == sorted(kept["id"].to_list(), key=kept["id"].to_list().index)
    # rerun: same outputs, nothing sent (stats count no new tokens)
    step2 = Generate(params(tiny_model_dir), StepContext(cache_dir=tmp_path, quiet=True, seed=3))
    kept2, _ = step2(frame)
    assert kept2.equals(kept)
    assert all(p["new_tokens"] == 0 for p in step2.stats["policies"].values())


class Scripted:
    """Stands in for a model to force the failure paths (empty text, a raising request)."""

    def identity(self):
        return {"backend": "scripted"}

    def chat(self, convs, sampling):
        if any("boom" in c[-1]["content"] for c in convs):
            raise ConnectionError("server went away")
        return [["" if "empty" in c[-1]["content"] else "fine"] * sampling.n for c in convs]


def test_failures_and_keep_existing_false(tmp_path, prompt_frame):
    frame = prompt_frame(3, with_completion=True).with_columns(
        pl.Series("prompt", [[{"role": "user", "content": t}] for t in ["ok", "empty", "boom"]]))
    p = GenerateParams.model_validate({"keep_existing": False, "batch_size": 8, "policies": [
        {"backend": "transformers", "model": "unused", "name": "s", "n": 2}],
        "max_failure_rate": None})  # 1 of 3 fails on purpose: the rows are under test here
    kept, rej = Generate(p, StepContext(quiet=True, backends={"s": Scripted()}))(frame)
    assert kept["id"].to_list() == ["r0", "r0"] and set(kept["completion"]) == {"fine"}
    reasons = rej.group_by("reason").len().sort("reason")
    assert reasons.rows() == [("generate.empty", 2), ("generate.error", 2),
                              ("generate.not_kept", 3)]
    assert "server went away" in rej.filter(pl.col("reason") == "generate.error")["detail"][0]
    assert set(rej["id"]) == {"r0", "r1", "r2"}


def test_params_are_strict():
    with pytest.raises(ValueError, match="distinct"):
        GenerateParams.model_validate({"policies": [{"model": "a"}, {"model": "a"}]})
    with pytest.raises(ValueError):
        GenerateParams.model_validate({"policies": [{"model": "a", "temprature": 1}]})
    with pytest.raises(ValueError):
        GenerateParams.model_validate({"policies": []})


def test_unseeded_policy_and_bench_without_vllm(monkeypatch):
    import sys

    p = GenerateParams.model_validate({"policies": [{"model": "m", "seeded": False}]})
    assert p.policies[0].sampling(default_seed=4).seed is None
    assert GenerateParams.model_validate({"policies": [{"model": "m"}]}).policies[0].sampling(
        default_seed=4).seed == 4
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed
    from datatools.bench.generate import run_generate_bench

    with pytest.raises(RuntimeError, match="needs the vllm package"):
        run_generate_bench("m", prompts=2, n=1, max_tokens=4)
