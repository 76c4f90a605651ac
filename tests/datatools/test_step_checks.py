"""Everything knowable without running is reported before work starts, all at once, with
locations: files named in params, labels a step scores, a tokenizer that must load."""
import json

import polars as pl
import pytest

from datatools.recipe import load_recipe_dict
from datatools.summary import step_columns
from datatools.schemas.errors import ConfigError


def _recipe(tmp_path, steps):
    data = tmp_path / "prefs.jsonl"
    data.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n")
    return {"name": "c", "sources": [{"path": str(data)}], "steps": steps,
            "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}}}


def test_every_problem_knowable_before_work_is_listed_with_its_location(tmp_path):
    steps = [
        {"decontaminate": {"eval_sets": ["evals/gsm8k_test.jsonl"]}},
        {"toxicity": {"model": "checkpoints/tox.ckpt", "labels": ["toxicity", "insult"],
                      "thresholds": {"insult": 0.3, "obscenity": 0.2}}},
        {"length": {"tokenizer": "./tokenizers/missing", "prompt": {"max_tokens": 512}}},
        {"reward_model": {"model": "./rm-folder"}},
    ]
    with pytest.raises(ConfigError) as err:
        load_recipe_dict(_recipe(tmp_path, steps))
    got = {p.location: p.message for p in err.value.problems}
    assert "eval set 'evals/gsm8k_test.jsonl' not found" in got["steps[0].decontaminate.eval_sets[0]"]
    assert "not a label this step scores" in got["steps[1].toxicity.thresholds.obscenity"]
    assert "steps[1].toxicity.thresholds.insult" not in got
    assert "detoxify checkpoint" in got["steps[1].toxicity.model"]
    assert "tokenizer './tokenizers/missing' not found" in got["steps[2].length.tokenizer"]
    assert "reward model './rm-folder' not found" in got["steps[3].reward_model.model"]


def test_a_tokenizer_that_does_not_load_is_named_in_one_line(tmp_path):
    broken = tmp_path / "tok"
    broken.mkdir()
    (broken / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ConfigError) as err:
        load_recipe_dict(_recipe(tmp_path, [{"length": {"tokenizer": str(broken),
                                                        "prompt": {"max_tokens": 10}}}]))
    (problem,) = err.value.problems
    assert problem.location == "steps[0].length.tokenizer"
    assert problem.message.startswith(f"cannot load tokenizer '{broken}'") and "\n" not in problem.message


def test_hub_ids_and_existing_files_pass(tmp_path):
    evals = tmp_path / "eval.jsonl"
    evals.write_text('{"question": "x"}\n')
    load_recipe_dict(_recipe(tmp_path, [{"decontaminate": {"eval_sets": [str(evals)]}},
                                        {"reward_model": {"model": "Skywork/Skywork-Reward"}}]))


def test_steps_lists_the_instances_columns():
    from datatools.registry import STEPS

    needs, adds, _ = step_columns(STEPS["toxicity"])
    assert "tox_toxicity" in adds and "score" in needs  # from the instance, not the class
    needs, _, _ = step_columns(STEPS["near_dedup"])
    assert needs == ["prompt"]


def test_exact_dedup_takes_chosen_and_rejected_on_pairwise_data(tmp_path):
    from datatools.pipeline import run_build

    rows = [{"prompt": "Name a colour.", "chosen": "Red.", "rejected": "Sky."},
            {"prompt": "Name a colour.", "chosen": "Red.", "rejected": "Sky."},    # same pair
            {"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "Sky."}]   # other pair
    recipe = _recipe(tmp_path, [{"exact_dedup": {"fields": ["prompt", "chosen", "rejected"]}}])
    (tmp_path / "prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_build(load_recipe_dict(recipe), quiet=True)
    assert [c[0]["content"] for c in result.datasets["pairwise"]["chosen"]] == ["Red.", "Blue."]
    dup = result.ledger.filter(pl.col("reason") == "exact_dedup.duplicate")
    assert dup.height == 2 and dup["detail"][0].startswith("same prompt/chosen/rejected as record")


def test_a_model_that_cannot_be_loaded_is_one_error_line(tmp_path):
    """A folder that is not a model: one `error:` line naming it, from the step that loads it."""
    from typer.testing import CliRunner

    from datatools.cli import app

    not_a_model = tmp_path / "rm"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{}")
    recipe = _recipe(tmp_path, [{"reward_model": {"model": str(not_a_model)}}])
    import yaml

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["build", str(path), "--quiet"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: steps[0].reward_model.model: cannot load "
                                                   f"reward model '{not_a_model}'"), lines
