"""The prompts output kind: prompt + answer + constraints for GRPO, held-out rows in test."""
import json

import polars as pl
import yaml

from datatools.pipeline import run_build
from datatools.recipe import load_recipe
from datatools.verifiers import score_completion

# google/IFEval's rows as they are: key, prompt, instruction_id_list, kwargs (nulls included)
IFEVAL_ROWS = [
    {"key": 1000, "prompt": "Write a 300+ word summary of the wikipedia page. Do not use any commas.",
     "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
     "kwargs": [{"num_words": None, "relation": None},
                {"num_words": 300, "relation": "at least"}]},
    {"key": 1001, "prompt": "I am planning a trip to Japan. Write it in all lowercase letters.",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
]


def build(tmp_path, sources, steps, outputs):
    recipe = {"name": "prompts", "seed": 0, "sources": sources, "steps": steps,
              "outputs": {"dir": "out", **outputs}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    return run_build(load_recipe(tmp_path / "r.yaml"), quiet=True)


def test_ifeval_rows_read_directly_into_prompts(tmp_path):
    lines = [json.dumps(r) for r in IFEVAL_ROWS]
    lines.append(json.dumps({"prompt": "What is 6 * 7?", "answer": "#### 42"}))
    lines.append(json.dumps({"prompt": "Tell me a joke."}))  # nothing to verify
    lines.append(json.dumps({"prompt": "Say hi.", "constraints": {"max_wrods": 3}}))
    (tmp_path / "ifeval.jsonl").write_text("\n".join(lines) + "\n")
    result = build(tmp_path, [{"path": "ifeval.jsonl"}], [], {"prompts": {}})
    data = pl.read_parquet(tmp_path / "out" / "prompts" / "train.parquet")
    assert set(data.columns) >= {"prompt", "answer", "constraints", "id", "source", "meta"}
    assert data.height == 3 and not (tmp_path / "out" / "prompts" / "test.parquet").exists()
    by_text = {r["prompt"][-1]["content"]: r for r in data.to_dicts()}
    first = by_text[IFEVAL_ROWS[0]["prompt"]]
    assert score_completion("word " * 300, None, first["constraints"]).all_passed
    assert not score_completion("word, " * 300, None, first["constraints"]).all_passed
    assert by_text["What is 6 * 7?"]["answer"] == "#### 42"
    reasons = dict(zip(result.ledger["reason"], result.ledger["detail"]))
    assert "build.prompts.unverifiable" in reasons
    assert "max_wrods" in reasons["build.prompts.bad_constraints"]


def test_constrained_seed_prompts_with_held_out_split(tmp_path):
    from datasets import load_dataset

    seeds = [{"instruction": f"Describe animal number {i} in the zoo catalogue {i * 7}"}
             for i in range(30)]
    (tmp_path / "seeds.json").write_text(json.dumps(seeds))
    result = build(tmp_path, [{"path": "seeds.json"}],
                   [{"constrain_prompts": {"held_out_fraction": 0.3, "held_out_ngram": 13}}],
                   {"prompts": {}})
    splits = result.report["outputs"]["prompts"]["splits"]
    assert splits["train"] + splits["test"] == 30 and splits["test"] > 0
    ds = load_dataset(str(tmp_path / "out"), "prompts")
    assert ds["train"].num_rows == splits["train"] and ds["test"].num_rows == splits["test"]
    row = ds["test"][0]
    assert json.loads(row["constraints"])["instruction_id_list"]
    train_ids = set(ds["train"]["id"])
    assert not train_ids & set(ds["test"]["id"])


def test_tulu_ground_truth_messages_and_unverifiable_kept(tmp_path):
    """TÜLU 3 RLVR rows (messages + a Python-literal `ground_truth`), read with
    `constraints_key: ground_truth`; with require_checks off a plain prompt is kept too."""
    truth = str([json.dumps({"instruction_id": ["keywords:existence", "punctuation:no_comma"],
                             "kwargs": [{"keywords": ["moon"]}, None]})])
    rows = [{"messages": [{"role": "user", "content": "Write about the night sky."}],
             "ground_truth": truth, "dataset": "ifeval"},
            {"messages": [{"role": "system", "content": "Be kind."},
                          {"role": "user", "content": "Tell me a joke."}]}]
    (tmp_path / "tulu.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = build(tmp_path, [{"path": "tulu.jsonl"}], [],
                   {"prompts": {"constraints_key": "ground_truth", "require_checks": False}})
    data = pl.read_parquet(tmp_path / "out" / "prompts" / "train.parquet")
    assert data.height == 2 and result.ledger.filter(
        pl.col("step") == "build.prompts").height == 0
    sky = data.filter(pl.col("constraints").is_not_null()).row(0, named=True)
    assert sky["prompt"] == [{"role": "user", "content": "Write about the night sky."}]
    assert score_completion("The moon is bright tonight.", None, sky["constraints"]).all_passed
    assert not score_completion("The moon, bright.", None, sky["constraints"]).all_passed
    joke = data.filter(pl.col("constraints").is_null()).row(0, named=True)
    assert joke["answer"] is None and joke["prompt"][0]["role"] == "system"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "config_name: prompts" in card and "GRPOTrainer" in card


def test_verifiable_step_reads_ifeval_columns(tmp_path):
    """The `verifiable` judge and the prompts kind read constraints by one rule: IFEval's own
    instruction_id_list + kwargs columns count as the record's constraints."""
    good = dict(IFEVAL_ROWS[1], completion="we will visit the old temples in kyoto and eat "
                "fresh sushi near the river every evening.")
    bad = dict(IFEVAL_ROWS[1], key=1002, prompt="Another trip.", completion="A Loud Trip.")
    (tmp_path / "answered.jsonl").write_text(
        "\n".join(json.dumps(r) for r in (good, bad)) + "\n")
    result = build(tmp_path, [{"path": "answered.jsonl"}], [{"verifiable": {}}],
                   {"sft": {}})
    scores = dict(zip(result.frame["completion"], result.frame["score"]))
    assert scores == {good["completion"]: 1.0, bad["completion"]: 0.0}
