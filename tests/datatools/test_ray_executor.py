"""The `ray` executor against the local one: the same recipe, the same outputs.

A real local Ray instance (2 CPUs) is started once for this module. The recipe reads real
third-party data (HH-RLHF harmless-base, LLaMA-Factory's DPO demo) plus a file of planted
exact and near duplicates of it (with a BOM), runs validate, exact_dedup, near_dedup, length
and low_info, and builds all three datasets; every output is compared, row for row.
"""
from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

pytest.importorskip("ray")

from datatools.pipeline import run_build  # noqa: E402
from datatools.recipe import load_recipe_dict  # noqa: E402

pytestmark = pytest.mark.slow


def planted_copies(shared_data, path):
    """Exact copies and one-word edits of real DPO records, as a user's second export."""
    records = json.loads((shared_data / "llama-factory" / "dpo_en_demo.json").read_text())
    lines = []
    for i, r in enumerate(records[:60]):
        r = json.loads(json.dumps(r))
        if i % 2:  # near copy: one word appended to the prompt, a different answer
            r["conversations"][-1]["value"] += " please"
            r["chosen"]["value"] = "Sure. " + r["chosen"]["value"]
        lines.append(json.dumps(r, ensure_ascii=False))
    lines.append(json.dumps({"conversations": [{"from": "human", "value": "Thanks!"}],
                             "chosen": {"from": "gpt", "value": "ok"},
                             "rejected": {"from": "gpt", "value": "ok ok ok ok ok ok ok ok"}}))
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def kto_subset(shared_data, path):
    """LLaMA-Factory's KTO demo (single answers labelled 150 / 150), a third of its
    undesirable ones kept: the unary classes are unequal, so `balance: downsample` drops."""
    records = json.loads((shared_data / "llama-factory" / "kto_en_demo.json").read_text())
    undesirable = [r for r in records if not r["label"]]
    path.write_text(json.dumps([r for r in records if r["label"]] + undesirable[::3],
                               ensure_ascii=False))
    return path


def recipe(shared_data, tmp_path, out: str, block_rows: int = 1500, unary: bool = True,
           first_steps: list | None = None, mix: bool = False, kto: bool = False):
    extra = planted_copies(shared_data, tmp_path / "copies.jsonl")
    outputs = {"dir": str(tmp_path / out), "pairwise": {"rejected": "random_lower"},
               "unary": {"balance": "downsample"}, "sft": {}}
    if not unary:
        del outputs["unary"]
    hh = str(shared_data / "hh-rlhf" / "harmless-base-test.jsonl.gz")
    return load_recipe_dict({
        "name": "ray-vs-local", "seed": 3,
        **({"mix": {"counts": {hh: 400}}} if mix else {}),  # the other sources keep all
        "sources": [{"path": hh},
                    {"path": str(shared_data / "llama-factory" / "dpo_en_demo.json")},
                    {"path": str(extra), "format": "sharegpt"},
                    *([{"path": str(kto_subset(shared_data, tmp_path / "kto.json"))}]
                      if kto else [])],
        "steps": [*(first_steps or []), {"validate": {}}, {"exact_dedup": {}},
                  {"near_dedup": {"threshold": 0.7, "keep": "longest"}},
                  {"length": {"prompt": {"max_words": 300}}}, {"low_info": {}}],
        "outputs": outputs,
        "executor": {"kind": "local", "num_cpus": 2, "block_rows": block_rows},
    })


def test_ray_build_equals_local_build(ray_cluster, shared_data, tmp_path):
    """A mixture samples the whole dataset: the steps run on Ray, the frame is collected and
    built as the local executor builds it."""
    local = run_build(recipe(shared_data, tmp_path, "local", mix=True), quiet=True)
    on_ray = run_build(recipe(shared_data, tmp_path, "ray", mix=True), quiet=True,
                       executor="ray")

    steps = [s["stats"] for s in on_ray.report["steps"]]
    assert all(s["executor"] == "ray" and s["blocks"] > 1 for s in steps), steps
    assert [s["ran_as"] for s in steps] == ["blocks (record)", "plan", "plan",
                                            "blocks (record)", "blocks (row)"]
    # the planted copies were found, so the comparison is not between two empty results
    by_step = {s["name"]: s for s in local.report["steps"]}
    assert by_step["exact_dedup"]["rejected"] >= 30 and by_step["near_dedup"]["rejected"] >= 30
    assert by_step["low_info"]["rejected"] >= 1

    def counts(report):
        return [(s["name"], s["rows_in"], s["kept"], s["rejected"], s["by_reason"],
                 s["records_in"], s["records_out"]) for s in report["steps"]]

    assert counts(on_ray.report) == counts(local.report)
    assert on_ray.report["executor_streamed"].startswith("no: a mixture")
    assert local.report["mix"]["pairwise"]["groups"] == on_ray.report["mix"]["pairwise"]["groups"]
    assert on_ray.report["ledger"] == local.report["ledger"]
    assert on_ray.report["outputs"] == local.report["outputs"]
    for kind in ("pairwise", "unary", "sft"):
        a = pl.read_parquet(tmp_path / "local" / kind / "*.parquet")
        b = pl.read_parquet(tmp_path / "ray" / kind / "*.parquet")
        assert a.height > 100 and a.equals(b), kind
    assert local.ledger.equals(on_ray.ledger)  # every dropped row, reason, detail and payload
    assert pl.read_parquet(tmp_path / "local" / "candidates" / "candidates.parquet").equals(
        pl.read_parquet(tmp_path / "ray" / "candidates" / "candidates.parquet"))


def test_streamed_ray_build_equals_local_build(ray_cluster, shared_data, tmp_path):
    """Without a mixture the Ray build streams: sources read into blocks as they are read,
    the steps chained, the builders and writers per block (unary balanced by downsampling
    and interleaved on the driver from its parts); the outputs are the local ones. A global
    step without a distributed plan (decontaminate, run on the driver) comes first."""
    demo = json.loads((shared_data / "llama-factory" / "dpo_en_demo.json").read_text())
    evals = tmp_path / "eval.jsonl"  # a benchmark that contains ten of the demo's prompts
    evals.write_text("".join(json.dumps({"prompt": r["conversations"][-1]["value"]}) + "\n"
                             for r in demo[:10]))
    first = [{"decontaminate": {"eval_sets": [str(evals)]}}]
    local = run_build(recipe(shared_data, tmp_path, "local", first_steps=first, kto=True),
                      quiet=True)
    on_ray = run_build(recipe(shared_data, tmp_path, "ray", first_steps=first, kto=True),
                       quiet=True, executor="ray")
    assert on_ray.report["executor_streamed"] == "yes" and on_ray.frame is None
    assert on_ray.report["steps"][0]["stats"]["ran_as"] == "driver"
    assert local.report["steps"][0]["rejected"] >= 10
    # the copies file repeats records of the LLaMA-Factory source: their content ids collide
    # across sources and get the local rule's "~N" ids (exact_dedup or decontaminate then
    # drops them)
    renamed = on_ray.ledger.filter(pl.col("id").str.contains("~"))
    assert renamed.height >= 30 and set(renamed["step"]) == {"exact_dedup", "decontaminate"}

    def counts(report):
        return [(s["name"], s["rows_in"], s["kept"], s["rejected"], s["by_reason"],
                 s["records_in"], s["records_out"]) for s in report["steps"]]

    assert counts(on_ray.report) == counts(local.report)
    for key in ("ledger", "outputs", "final_rows", "final_records", "rows_read", "sources"):
        if key == "sources":
            strip = lambda s: [{k: v for k, v in x.items() if k != "seconds"} for x in s]  # noqa
            assert strip(on_ray.report[key]) == strip(local.report[key])
        else:
            assert on_ray.report[key] == local.report[key], key
    for kind in ("pairwise", "unary", "sft"):  # row order included (unary's interleaving)
        a = pl.read_parquet(tmp_path / "local" / kind / "*.parquet")
        b = pl.read_parquet(tmp_path / "ray" / kind / "*.parquet")
        assert a.height > 100 and a.equals(b), kind
        meta = lambda out: json.loads((tmp_path / out / kind / "metadata.json").read_text())  # noqa
        assert meta("local") == meta("ray"), kind
    downsampled = local.ledger.filter(pl.col("reason") == "build.unary.downsampled")
    assert downsampled.height > 10  # balance: downsample had a surplus to drop
    # the same rows with the same reasons, details and payloads; the builders' skipped rows
    # come block by block, so the order within them may differ
    columns = list(local.ledger.columns)
    assert local.ledger.height > 100
    assert local.ledger.sort(columns).equals(on_ray.ledger.sort(columns))
    assert pl.read_parquet(tmp_path / "local" / "candidates" / "candidates.parquet").equals(
        pl.read_parquet(tmp_path / "ray" / "candidates" / "candidates.parquet"))


def generation_recipe(tmp_path, model, out: str, executor: dict):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Name a colour, number {i}."}) + "\n"
                               for i in range(12)))
    return load_recipe_dict({
        "name": "gen-on-ray", "seed": 1, "sources": [{"path": str(prompts)}],
        "steps": [{"generate": {"batch_size": 1, "policies": [{  # batch 1: each request seeded
            "backend": "transformers", "model": str(model), "name": "tiny",  # any block size
            "n": 1, "max_tokens": 6, "temperature": 1.0}]}}],  # gives the same seeded text
        "outputs": {"dir": str(tmp_path / out), "sft": {}},
        "executor": {"kind": "ray", "block_rows": 4, **executor},
    })


def new_tokens(report) -> int:
    [step] = report["steps"]
    return sum(p["new_tokens"] for block in step["stats"]["block_stats"]
               for p in block["policies"].values())


def test_generation_on_ray_actors_matches_local_and_resumes_from_the_cache(
        ray_cluster, tiny_model_dir, tmp_path):
    def build(out, executor=None, **kw):
        loaded = generation_recipe(tmp_path, tiny_model_dir, out, kw)
        return run_build(loaded, quiet=True, executor=executor)

    build("local", executor="local")  # its outputs are compared below
    on_ray = build("ray", actors={"generate": {"replicas": 2}})
    [step] = on_ray.report["steps"]
    assert step["stats"]["ran_as"] == "actors (record) x2" and step["stats"]["blocks"] == 3
    assert new_tokens(on_ray.report) > 0
    sft = lambda name: pl.read_parquet(tmp_path / name / "sft" / "*.parquet")  # noqa: E731
    assert sft("local").height == 12 and sft("local").equals(sft("ray"))
    # a rerun reuses the step's cached result
    again = build("ray", actors={"generate": {"replicas": 2}})
    assert again.report["steps"][0]["cached"] and sft("ray").equals(sft("local"))
    # a job killed after its requests finished but before the step's result was kept: the
    # rerun generates again, but sends nothing that finished (every answer is in the cache)
    [step_entry] = tmp_path.glob(".ray.datatools/cache/ray/00-generate-*")
    shutil.rmtree(step_entry)
    resumed = build("ray", actors={"generate": {"replicas": 2}})
    assert not resumed.report["steps"][0]["cached"]
    assert new_tokens(resumed.report) == 0 and sft("ray").equals(sft("local"))


def test_ray_step_cache_reuses_unchanged_steps_and_reruns_from_a_changed_one(
        ray_cluster, shared_data, tmp_path):
    def build(max_words=300):
        loaded = recipe(shared_data, tmp_path, "out")
        loaded.steps[3].params = loaded.steps[3].params.model_validate(
            {"prompt": {"max_words": max_words}})
        return run_build(loaded, quiet=True, executor="ray")

    first = build()
    assert [s["cached"] for s in first.report["steps"]] == [False] * 5
    again = build()
    assert [s["cached"] for s in again.report["steps"]] == [True] * 5
    assert again.report["steps"][1]["stats"]["ran_as"] == "plan (cached)"
    assert again.ledger.equals(first.ledger) and again.report["outputs"] == first.report["outputs"]
    pairs = pl.read_parquet(tmp_path / "out" / "pairwise" / "*.parquet")
    changed = build(max_words=40)  # the 4th step's params: it and the 5th rerun
    assert [s["cached"] for s in changed.report["steps"]] == [True, True, True, False, False]
    assert changed.report["steps"][3]["rejected"] > first.report["steps"][3]["rejected"]
    assert pl.read_parquet(tmp_path / "out" / "pairwise" / "*.parquet").height < pairs.height
