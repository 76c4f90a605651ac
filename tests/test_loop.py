"""The whole loop from one recipe, on a CPU: read → generate (on-policy, tiny model) → judge with
a verifiable rule → build pairwise / unary → train a LoRA adapter on what was built → it learned.

The planted preference is a rule the `verifiable` judge checks (answers must contain "good" and
not "bad"); nothing is written in TRL format by hand — the builder makes the training data.
"""
import json
import random

import polars as pl
import pytest
import yaml

from datatools.pipeline import run_build
from datatools.recipe import load_recipe
from datatools.schemas.train import TrainSection

WORDS = ("the answer is one two three four five six seven eight nine ten plus minus equals sum "
         "cat dog python code math final result because so and or not it this that with").split()
RULE = {"keywords": ["good"], "forbidden_words": ["bad"]}


def candidates_file(path, n=120, seed=0):
    rng = random.Random(seed)
    words = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"instruction": f"please write {words(3)} {i}", "completions": [
                {"model": "seed-a", "response": f"{words(rng.randint(2, 5))} good"},
                {"model": "seed-b", "response": f"{words(rng.randint(2, 5))} bad"}]}) + "\n")
    return path


def write_recipe(tmp_path, steps, outputs):
    recipe = {"name": "loop", "seed": 0, "sources": [{"path": "prompts.jsonl"}],
              "steps": steps, "outputs": {"dir": "out", **outputs}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return load_recipe(path)


@pytest.mark.slow
def test_verifiable_rule_builds_data_a_dpo_adapter_learns(tmp_path, tiny_model_dir):
    from datatools.train.run import run_training

    candidates_file(tmp_path / "prompts.jsonl")
    loaded = write_recipe(tmp_path, [{"validate": {}}, {"verifiable": {"constraints": RULE}}],
                          {"pairwise": {}, "unary": {}})
    report = run_build(loaded, quiet=True).report
    assert report["outputs"]["pairwise"]["rows"] == 120
    section = TrainSection(model=str(tiny_model_dir), method="dpo", cpu=True, epochs=3,
                           max_length=96, eval_fraction=0.25, output_dir=str(tmp_path / "adapter"))
    result = run_training(section, base_dir=tmp_path, build_out=loaded.out_dir, seed=0)
    ev = result["stages"][0]["eval"]
    # Default learning rate. The answers' bodies are random words of random length, so summed
    # log-probs differ by many nats per pair and 33 steps do not overturn that (the summed policy
    # preference stays ≈ base; test_learns.py proves it on a cleaner plant); per token, the
    # policy itself learns the rule, and so does the implicit reward.
    norm = ev["policy_preference_length_normalised"]
    assert norm["trained"]["value"] >= 0.85 and norm["trained"]["value"] > norm["base"]["value"] + 0.2
    assert ev["implicit_reward"]["accuracy"]["value"] >= 0.9
    assert (tmp_path / "adapter" / "eval.json").exists()


@pytest.mark.slow
def test_generate_then_judge_then_build_on_policy(tmp_path, tiny_model_dir):
    candidates_file(tmp_path / "prompts.jsonl", n=6)
    policy = {"name": "tiny", "backend": "transformers", "model": str(tiny_model_dir), "n": 3,
              "temperature": 1.0, "max_tokens": 12}
    loaded = write_recipe(tmp_path, [
        {"validate": {}},
        {"generate": {"policies": [policy], "keep_existing": True}},
        {"verifiable": {"constraints": RULE}},
    ], {"pairwise": {}, "sft": {}})
    first = run_build(loaded, quiet=True)
    frame = first.frame
    generated = frame.filter(pl.col("model") == str(tiny_model_dir))
    rejected_gen = first.ledger.filter(pl.col("step") == "generate")
    assert generated.height + rejected_gen.height == 6 * 3  # every sample kept or accounted for
    meta = json.loads(generated["meta"][0])["generation"]
    assert meta["backend"] == "transformers" and meta["sampling"]["n"] == 3
    assert frame.filter(pl.col("model").str.starts_with("seed-")).height == 12  # dataset answers kept
    assert first.report["outputs"]["pairwise"]["rows"] == 6  # "good" beats "bad" in every record
    again = run_build(loaded, quiet=True).report["steps"]
    assert all(s["cached"] for s in again)  # a rerun recomputes nothing
