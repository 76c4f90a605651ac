"""The pipeline end to end on small real files: ledger, accounting, cache, staged outputs."""
import json

import datasets
import polars as pl
import pytest

from datatools.pipeline import run_build, run_step
from datatools.recipe import load_recipe_dict
from datatools.step import Step

PREFS = [
    {"prompt": [{"role": "user", "content": "Name a primary colour."}],
     "chosen": [{"role": "assistant", "content": "Red."}],
     "rejected": [{"role": "assistant", "content": "Purple."}]},
    {"prompt": [{"role": "user", "content": "Name a primary colour."}],          # duplicate prompt
     "chosen": [{"role": "assistant", "content": "Blue."}],
     "rejected": [{"role": "assistant", "content": "Pink."}]},
    {"prompt": [{"role": "user", "content": "What is 3 + 4?"}],
     "chosen": [{"role": "assistant", "content": "7"}],
     "rejected": [{"role": "assistant", "content": "7"}]},                         # chosen == rejected
    {"prompt": [{"role": "user", "content": "Largest ocean?"}],
     "chosen": [{"role": "assistant", "content": "The Pacific."}],
     "rejected": [{"role": "assistant", "content": "The Atlantic."}]},
]


def write_jsonl(path, records, bad_lines=()):
    lines = [json.dumps(r) for r in records] + list(bad_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe(tmp_path, **outputs):
    return load_recipe_dict({
        "name": "t", "sources": [{"path": str(tmp_path / "prefs.jsonl")}],
        "steps": [{"validate": {}}, {"exact_dedup": {"fields": ["prompt"]}}],
        "outputs": {"dir": str(tmp_path / "out"), **(outputs or {"pairwise": {}, "unary": {}, "sft": {}})},
    })


def test_build_writes_trl_datasets_ledger_and_report(tmp_path):
    write_jsonl(tmp_path / "prefs.jsonl", PREFS, bad_lines=['{"prompt": oops'])
    result = run_build(recipe(tmp_path), quiet=True)
    out = tmp_path / "out"
    pairwise = datasets.load_dataset("parquet", data_dir=str(out / "pairwise"))["train"]
    assert pairwise.num_rows == 2
    assert {"prompt", "chosen", "rejected", "score_chosen", "score_rejected", "id", "source"} <= set(pairwise.column_names)
    unary = datasets.load_dataset("parquet", data_dir=str(out / "unary"))["train"]
    assert unary["label"] == [True, False, True, False]
    assert json.loads((out / "unary" / "metadata.json").read_text())["desirable_weight"] == 1.0
    sft = datasets.load_dataset("parquet", data_dir=str(out / "sft"))["train"]
    assert sft[0]["messages"][-1] == {"role": "assistant", "content": "Red."}

    ledger = pl.read_parquet(out / "rejects" / "rejects.parquet")
    reasons = ledger.group_by("step", "reason").len().sort("step")
    assert dict(zip(reasons["reason"], reasons["len"])) == {
        "read.malformed_json": 1, "validate.chosen_equals_rejected": 2, "exact_dedup.duplicate": 2}
    bad = ledger.filter(pl.col("reason") == "read.malformed_json")
    assert bad["source"][0].endswith("prefs.jsonl:5") and bad["record"][0] == '{"prompt": oops'
    dup = ledger.filter(pl.col("reason") == "exact_dedup.duplicate")
    assert json.loads(dup["record"][0])["completion"] in {"Blue.", "Pink."}

    report = json.loads((out / "report.json").read_text())
    for step in report["steps"]:
        assert step["rows_in"] == step["kept"] + step["rejected"]
    assert report["steps"][0]["by_reason"] == {"validate.chosen_equals_rejected": 2}
    assert report["ledger"]["total"] == ledger.height == 5
    assert result.report["final_rows"] == 4
    assert not list(out.glob(".staging-*"))


def test_unchanged_rerun_is_cached_and_param_change_reruns_from_that_step(tmp_path):
    write_jsonl(tmp_path / "prefs.jsonl", PREFS)
    first = run_build(recipe(tmp_path), quiet=True).report["steps"]
    assert [s["cached"] for s in first] == [False, False]
    again = run_build(recipe(tmp_path), quiet=True).report["steps"]
    assert [s["cached"] for s in again] == [True, True]
    changed = load_recipe_dict({**recipe(tmp_path).recipe.model_dump(mode="json"),
                                "steps": [{"validate": {}}, {"exact_dedup": {"fields": ["prompt", "completion"]}}]})
    steps = run_build(changed, quiet=True).report["steps"]
    assert [s["cached"] for s in steps] == [True, False]
    write_jsonl(tmp_path / "prefs.jsonl", PREFS[:2])  # a changed source invalidates everything
    assert [s["cached"] for s in run_build(recipe(tmp_path), quiet=True).report["steps"]] == [False, False]


def test_stale_outputs_removed_when_recipe_stops_building_them(tmp_path):
    write_jsonl(tmp_path / "prefs.jsonl", PREFS)
    run_build(recipe(tmp_path), quiet=True)
    run_build(recipe(tmp_path, pairwise={}), quiet=True)
    assert (tmp_path / "out" / "pairwise").is_dir()
    assert not (tmp_path / "out" / "sft").exists() and not (tmp_path / "out" / "unary").exists()


class Leaky(Step):
    name = "leaky"

    def __call__(self, frame):
        return frame.head(1), frame.clear().with_columns(pl.lit("x").alias("reason"), pl.lit("").alias("detail"))


def test_accounting_violation_is_caught(tmp_path):
    from datatools.frame import frame_from_rows, rows_from_record

    f = frame_from_rows(rows_from_record("a", "s", [{"role": "user", "content": "q"}],
                                         [{"content": "x"}, {"content": "y"}]))
    with pytest.raises(RuntimeError, match="rows_in 2 != kept 1 \\+ rejected 0"):
        run_step(Leaky(), f, "steps[0].leaky")


def test_drop_rate_gate_stops_the_build(tmp_path):
    from datatools.schemas.errors import QualityGateError

    write_jsonl(tmp_path / "prefs.jsonl", PREFS)
    loaded = load_recipe_dict({**recipe(tmp_path).recipe.model_dump(mode="json"),
                               "gates": {"max_drop_rate": {"exact_dedup": 0.1}}})
    with pytest.raises(QualityGateError, match="steps\\[1\\].exact_dedup: rejected 2/6 rows"):
        run_build(loaded, quiet=True)


def test_push_without_token_fails_before_any_work(tmp_path, monkeypatch):
    from datatools.schemas.errors import UserError

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no saved login either
    write_jsonl(tmp_path / "prefs.jsonl", PREFS)
    loaded = load_recipe_dict({**recipe(tmp_path).recipe.model_dump(mode="json", exclude_none=True),
                               "outputs": {"dir": str(tmp_path / "out"), "pairwise": {},
                                           "push": {"repo_id": "acme/prefs"}}})
    with pytest.raises(UserError, match="token"):
        run_build(loaded, quiet=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("relpath,expect", [
    ("llama-factory/dpo_en_demo.json", {"pairwise": 300, "unary": 600, "sft": 300}),
    ("llama-factory/kto_en_demo.json", {"unary": 300}),
    ("llama-factory/alpaca_zh_demo.json", {"sft": 1000}),
    ("hh-rlhf/harmless-base-test.jsonl.gz", {"pairwise": None, "unary": None, "sft": None}),
])
def test_real_data_builds_load_into_trl_columns(shared_data, tmp_path, relpath, expect):
    """Real third-party files → built datasets that load with `datasets` in TRL's columns and
    whose rows satisfy the record schemas."""
    from datatools.schemas.records import PairwiseRecord, SFTRecord, UnaryRecord

    loaded = load_recipe_dict({
        "name": "real", "sources": [{"path": str(shared_data / relpath)}],
        "steps": [{"validate": {}}],
        "outputs": {"dir": str(tmp_path / "out"), **{kind: {} for kind in expect}},
    })
    result = run_build(loaded, quiet=True)
    columns = {"pairwise": {"prompt", "chosen", "rejected"}, "unary": {"prompt", "completion", "label"},
               "sft": {"messages"}}
    models = {"pairwise": PairwiseRecord, "unary": UnaryRecord, "sft": SFTRecord}
    for kind, rows in expect.items():
        ds = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out" / kind))["train"]
        assert columns[kind] <= set(ds.column_names)
        if rows is not None:
            assert ds.num_rows == rows
        else:
            assert ds.num_rows > 1000
        for row in ds.select(range(min(50, ds.num_rows))):
            models[kind].model_validate({k: v for k, v in row.items() if k in models[kind].model_fields})
    ledger_total = result.report["ledger"]["total"]
    by_reason = result.report["ledger"]["by_reason"]
    assert ledger_total == sum(by_reason.values())


def test_filter_steps_cache_a_kept_mask_and_a_rerun_reproduces_the_build(tmp_path):
    """Filtering steps cache which rows they kept + the columns they added (not a copy of the
    frame); a fully cached rerun must write exactly the same files."""
    from pathlib import Path

    from datatools.registry import STEPS

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "eval.jsonl").write_text(json.dumps(
        {"id": "cap", "question": "What is the capital of Australia?"}) + "\n")
    spec = yaml_recipe(repo / "recipes" / "quickstart.yaml")
    spec["sources"][0]["path"] = str(repo / "recipes" / "data" / "quickstart.jsonl")
    spec["steps"].insert(3, {"decontaminate": {"eval_sets": [str(tmp_path / "eval.jsonl")],
                                               "ngram": 4}})
    spec["outputs"]["dir"] = str(tmp_path / "out")
    first = run_build(load_recipe_dict(spec), quiet=True)
    out = tmp_path / "out"
    files = {p: p.read_bytes() for p in sorted(out.rglob("*.parquet")) if ".cache" not in p.parts}
    names = [s["name"] for s in first.report["steps"]]
    assert "decontaminate.match" in first.report["steps"][3]["by_reason"]
    for folder in sorted((out / ".cache" / "steps").iterdir()):
        name = folder.name.split("-")[1]
        form = json.loads((folder / "form.json").read_text())
        assert form["form"] == ("mask" if STEPS[name].filters_rows else "frame"), name
        assert (folder / "kept.parquet").exists() == (form["form"] == "frame")
    near = json.loads(next((out / ".cache" / "steps").glob("*near_dedup*/form.json")).read_text())
    assert near["added"] == ["near_dedup_cluster"]

    again = run_build(load_recipe_dict(spec), quiet=True)
    assert [s["cached"] for s in again.report["steps"]] == [True] * len(names)
    assert again.frame.equals(first.frame)
    for path, data in files.items():
        assert path.read_bytes() == data, path  # byte for byte the same files


def yaml_recipe(path):
    import yaml

    return yaml.safe_load(path.read_text())


def test_only_the_asked_outputs_are_written_and_stale_ones_removed(tmp_path):
    write_jsonl(tmp_path / "prefs.jsonl", PREFS)
    out = tmp_path / "out"
    run_build(recipe(tmp_path), quiet=True)  # defaults: full candidates and report.html
    assert (out / "report.html").exists() and (out / "sft").exists()
    full = pl.read_parquet(out / "candidates" / "candidates.parquet")
    assert {"prompt", "completion", "meta", "score"} <= set(full.columns)

    run_build(recipe(tmp_path, pairwise={}, candidates="scores", report_html=False), quiet=True)
    scores = pl.read_parquet(out / "candidates" / "candidates.parquet")
    assert not {"prompt", "completion", "meta"} & set(scores.columns)
    assert scores.select("candidate_id", "score").equals(full.select("candidate_id", "score"))
    assert not (out / "report.html").exists()  # not asked for: the old one is gone too
    assert not (out / "sft").exists() and (out / "pairwise").exists()

    result = run_build(recipe(tmp_path, pairwise={}, candidates="none"), quiet=True)
    assert not (out / "candidates").exists()
    assert (out / "report.html").exists() and (out / "rejects" / "rejects.parquet").exists()
    writers = [p["phase"] for p in result.profile.phases[-2]["parts"]]  # before publish
    assert writers == ["write rejects (ledger)", "write pairwise", "write report.html"]
