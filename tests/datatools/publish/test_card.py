"""The dataset card: YAML configs that `datasets.load_dataset(OUT, kind)` understands, and
prose naming the recipe, sources, models, judges, drops and KTO weights."""
from __future__ import annotations

import json

import datasets
import pytest
import yaml

from datatools.publish.card import render_card
from tests.datatools.publish.build_fixture import RECIPE


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_card_metadata_declares_a_config_per_kind(built):
    out, report = built
    card = (out / "README.md").read_text()
    assert card == render_card(report)  # the build wrote the same card
    meta = front_matter(card)
    assert [c["config_name"] for c in meta["configs"]] == ["pairwise", "unary", "sft"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "pairwise/*.parquet"}]
    assert meta["configs"][0]["default"] is True
    assert meta["license"] == "cc-by-4.0"  # from outputs.push.license
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert {"dpo", "kto", "sft", "synthetic"} <= set(meta["tags"])


def test_card_prose_states_sources_models_judges_steps_and_weights(built):
    out, report = built
    card = (out / "README.md").read_text()
    unary = report["outputs"]["unary"]
    for needle in [
        "[acme/feedback](https://huggingface.co/datasets/acme/feedback) | en | a1b2c3d",
        "| `data/prefs.jsonl` |  | local file | trl | 50 |",
        "| steps[2].generate | policy | `Qwen/Qwen3-0.6B` | vllm | not pinned |",
        "| steps[4].reward_model | judge | `acme/rm-small` | transformers | v2 |",
        "| steps[3].judge_rubric | judge_rubric | judge-large | `judge_rubric` | yes | "
        "helpfulness, honesty |",
        "| steps[1].near_dedup | 138 | 120 | 18 | `near_dedup.cluster` 18 |",
        "| `build.unary.unlabelled` | 23 |",
        f"{unary['n_desirable']} desirable and {unary['n_undesirable']} undesirable",
        f"KTOConfig(desirable_weight={unary['desirable_weight']}, undesirable_weight=1.0)",
        'pairwise = load_dataset("path/to/OUT", "pairwise", split="train")',
    ]:
        assert needle in card, needle
    recipe = yaml.safe_load(card.split("```yaml\n")[1].split("```")[0])
    assert recipe["steps"] == RECIPE["steps"]


@pytest.mark.parametrize("kind", ["pairwise", "unary", "sft"])
def test_load_dataset_reads_every_config_of_the_build_folder(built, kind):
    out, report = built
    ds = datasets.load_dataset(str(out), kind, split="train")
    assert ds.num_rows == report["outputs"][kind]["rows"]
    if kind == "pairwise":
        assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)


def test_load_dataset_without_config_gets_the_default(built):
    out, report = built
    assert datasets.load_dataset(str(out), split="train").num_rows == \
        report["outputs"]["pairwise"]["rows"]


def test_card_redacts_secret_looking_values_and_narrows_to_kinds(built):
    _, report = built
    report = json.loads(json.dumps(report))
    report["recipe_dump"]["train"] = {"hub_token": "hf_abcdef", "max_tokens": 7}
    card = render_card(report, repo_id="acme/prefs-unary", kinds=["unary"], license="mit")
    assert "hf_abcdef" not in card and "hub_token: <redacted>" in card and "max_tokens: 7" in card
    meta = front_matter(card)
    assert [c["config_name"] for c in meta["configs"]] == ["unary"] and meta["license"] == "mit"
    assert 'load_dataset("acme/prefs-unary", "unary"' in card and "DPOTrainer" not in card


def test_card_of_an_old_report_without_recipe_dump(built):
    _, report = built
    old = {k: v for k, v in report.items() if k != "recipe_dump"}
    card = render_card(old)
    assert front_matter(card)["license"] == "other"
    assert "## Recipe" not in card and "## Steps" in card


def test_a_real_build_writes_card_report_and_recipe_dump(tmp_path):
    from datatools.pipeline import run_build
    from datatools.recipe import load_recipe_dict

    rows = [{"prompt": [{"role": "user", "content": f"Question {i}?"}],
             "chosen": [{"role": "assistant", "content": f"A careful answer number {i}."}],
             "rejected": [{"role": "assistant", "content": "No."}]} for i in range(6)]
    rows.append(rows[0])
    (tmp_path / "prefs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    loaded = load_recipe_dict({
        "name": "tiny", "sources": [{"path": str(tmp_path / "prefs.jsonl")}],
        "steps": [{"validate": {}}, {"exact_dedup": {"fields": ["prompt"]}}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}, "unary": {}}})
    result = run_build(loaded, quiet=True)
    out = tmp_path / "out"
    assert result.report["recipe_dump"]["steps"][1] == {"exact_dedup": {"fields": ["prompt"]}}
    card = (out / "README.md").read_text()
    assert "| steps[1].exact_dedup | 14 | 12 | 2 | `exact_dedup.duplicate` 2 |" in card
    assert "No model was run by this build" in card
    assert datasets.load_dataset(str(out), "unary", split="train").num_rows == 12
    assert "<svg" in (out / "report.html").read_text()
