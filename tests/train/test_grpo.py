"""GRPO with the verifiers as rewards learns a planted verifiable reward on a tiny model: the
pass rate of sampled answers rises, counted by this test's own code (not the verifiers)."""
import json

import polars as pl
import pytest

from datatools.schemas.errors import ConfigError
from datatools.schemas.train import TrainSection

# planted reward: at least two letters "e" (IFEval's letter_frequency); ~20% of the tiny
# model's sampled answers have them before training
RULE = {"keywords:letter_frequency": {"letter": "e", "let_frequency": 2,
                                      "let_relation": "at least"}}


@pytest.fixture(scope="module")
def reshapeable_model(tmp_path_factory):
    """A tiny random Llama whose logits are not flat (init 0.2), so LoRA can move sampling."""
    from tests.tiny_models import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-grpo"), initializer_range=0.2)


def own_pass_rate(model, tokenizer, prompts, samples=8, tokens=6):
    """Share of sampled answers with two or more "e"s, counted here with str.count."""
    import torch

    torch.manual_seed(1234)
    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
             for p in prompts]
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0,
                             max_new_tokens=tokens, num_return_sequences=samples,
                             pad_token_id=tokenizer.pad_token_id)
    answers = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return sum(a.lower().count("e") >= 2 for a in answers) / len(answers)


def prompts_build(tmp_path, n=24):
    """OUT/prompts built by the pipeline from a JSONL whose rows carry IFEval constraints."""
    import yaml

    from datatools.pipeline import run_build
    from datatools.recipe import load_recipe

    with (tmp_path / "prompts.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt": f"please write {i}", "constraints": RULE}) + "\n")
    recipe = {"name": "grpo", "sources": [{"path": "prompts.jsonl"}],
              "outputs": {"dir": "out", "prompts": {}}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    run_build(load_recipe(tmp_path / "r.yaml"), quiet=True)
    return tmp_path / "out"


def test_grpo_learns_a_planted_verifiable_reward(tmp_path, reshapeable_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from datatools.train.run import run_training

    out = prompts_build(tmp_path)
    prompts = [r["prompt"] for r in pl.read_parquet(out / "prompts" / "train.parquet")
               .head(8).to_dicts()]
    tokenizer = AutoTokenizer.from_pretrained(reshapeable_model)
    base = AutoModelForCausalLM.from_pretrained(reshapeable_model)
    before = own_pass_rate(base, tokenizer, prompts)
    steps = 10  # ~1 s a step on an idle 2-core CPU; all-linear LoRA learns the rule in ~6
    section = TrainSection(model=str(reshapeable_model), method="grpo", data=str(out), cpu=True,
                           learning_rate=2e-2, max_steps=steps, batch_size=16, eval_fraction=0.0,
                           warmup_ratio=0.0, samples=0, output_dir=str(tmp_path / "run"),
                           lora={"r": 16, "alpha": 32, "target_modules": "all-linear"},
                           grpo={"num_generations": 8, "max_completion_length": 6},
                           trainer_args={"lr_scheduler_type": "constant", "disable_tqdm": True})
    report = run_training(section, base_dir=tmp_path)
    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(reshapeable_model),
                                        report["final_adapter"])
    after = own_pass_rate(trained, tokenizer, prompts)
    assert after >= before + 0.3, (before, after)
    # per-step logs: reward per verifier, pass rate per constraint type, completion length
    logs = [json.loads(line) for line in (tmp_path / "run" / "log_history.jsonl").open()]
    logged = [entry for entry in logs if "reward" in entry]
    assert len(logged) == steps
    key = "pass_rate/keywords:letter_frequency"
    assert {"rewards/verifier_constraints/mean", key, "completions/mean_length"} <= set(logged[0])
    first, last = logged[0][key], sum(e[key] for e in logged[-3:]) / 3
    assert last > first, (first, last)
    # the base weights are untouched: the adapter carries everything learned
    reloaded = AutoModelForCausalLM.from_pretrained(reshapeable_model)
    assert own_pass_rate(reloaded, tokenizer, prompts) == before


def test_generations_must_divide_the_batch(tmp_path):
    from datatools.train.checks import check_section
    from datatools.train.methods.grpo import grpo_args

    section = TrainSection(model="m", method="grpo", batch_size=6, grpo={"num_generations": 4})
    with pytest.raises(ConfigError, match="train.grpo.num_generations: 4 does not divide"):
        check_section(section)  # before any data or model is loaded
    vllm = TrainSection(model="m", method="grpo", batch_size=8, grpo={
        "num_generations": 4, "generation": "vllm_server",
        "vllm_server_base_url": "http://127.0.0.1:8000"}).resolved_stages()[0]
    args = grpo_args(vllm)
    assert args["use_vllm"] and args["vllm_mode"] == "server"
    assert args["vllm_server_base_url"] == "http://127.0.0.1:8000"
    colocate = TrainSection(model="m", method="grpo", grpo={
        "num_generations": 4, "generation": "vllm_colocate"}).resolved_stages()[0]
    assert grpo_args(colocate)["vllm_mode"] == "colocate"
    assert "use_vllm" not in grpo_args(TrainSection(model="m", method="grpo").resolved_stages()[0])


def test_grpo_data_never_includes_the_held_out_prompts(tmp_path):
    """`--method grpo --data OUT` reads OUT/prompts/train.parquet, not test.parquet."""
    import yaml

    from datatools.pipeline import run_build
    from datatools.recipe import load_recipe
    from datatools.train.data import load_training_data

    seeds = [{"instruction": f"Describe animal number {i} in the zoo catalogue {i * 7}"}
             for i in range(30)]
    (tmp_path / "seeds.json").write_text(json.dumps(seeds))
    recipe = {"name": "p", "sources": [{"path": "seeds.json"}],
              "steps": [{"constrain_prompts": {"held_out_fraction": 0.3, "held_out_ngram": 13}}],
              "outputs": {"dir": "out", "prompts": {}}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    run_build(load_recipe(tmp_path / "r.yaml"), quiet=True)
    test_ids = set(pl.read_parquet(tmp_path / "out" / "prompts" / "test.parquet")["id"])
    ds = load_training_data(tmp_path / "out", "grpo")
    assert test_ids and len(ds) == 30 - len(test_ids) and not test_ids & set(ds["id"])
