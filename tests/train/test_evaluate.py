"""Held-out evaluation: the policy's own preference with n and intervals, unscorable pairs
excluded with reasons (never ties), single-answer KTO records, SFT loss before/after."""
from __future__ import annotations

import math

import pytest

from tests.train.conftest import planted_pairs


def test_wilson_interval_and_mean():
    from datatools.train.stats import mean, proportion

    p = proportion(0, 10)
    assert p["value"] == 0 and p["ci95"][0] == 0 and p["ci95"][1] == pytest.approx(0.2775, abs=1e-3)
    p = proportion(45, 50)
    assert p["ci95"][0] == pytest.approx(0.7864, abs=1e-3) and p["ci95"][1] == pytest.approx(0.9565, abs=1e-3)
    assert proportion(0, 0)["value"] is None
    m = mean([1.0, 2.0, 3.0])
    assert m["value"] == 2.0 and m["ci95"] == pytest.approx([2 - 1.96 / math.sqrt(3), 2 + 1.96 / math.sqrt(3)], abs=1e-3)


@pytest.fixture(scope="module")
def tiny_peft(tiny_model_dir):
    """The tiny model with a fresh (zero) LoRA adapter: π = π_ref."""
    from peft import get_peft_model

    from datatools.train.defaults import lora_config
    from datatools.train.loading import load_model

    model, tok = load_model(str(tiny_model_dir), cpu=True)
    return get_peft_model(model, lora_config(None, model.num_parameters())), tok


def test_unscorable_pairs_are_excluded_not_ties(tiny_peft, tmp_path):
    from datatools.train.evaluate import evaluate_pairs

    model, tok = tiny_peft
    pairs = planted_pairs(12, seed=5)
    too_long = {**pairs[0], "id": "long", "prompt": [{"role": "user", "content": "word " * 200}]}
    report = evaluate_pairs(model, tok, pairs + [too_long], 0.1, tmp_path, max_length=64)
    assert report["n_rows"] == 13 and report["n_pairs"] == 12
    assert report["excluded"] == {"preflight.prompt_too_long": 1}
    base, trained = report["policy_preference"]["base"], report["policy_preference"]["trained"]
    assert base["n"] == trained["n"] == 12
    assert base["value"] == trained["value"]  # untrained adapter: π = π_ref
    assert base["ci95"][0] <= base["value"] <= base["ci95"][1]
    # the implicit reward of an untrained adapter is 0 for every pair: 0 right, none counted half
    assert report["implicit_reward"]["accuracy"]["value"] == 0.0
    assert report["implicit_reward"]["mean_margin"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert "policy_preference_length_normalised" in report


def test_kto_single_answer_records(tiny_peft, tmp_path):
    """ms-swift style: one answer per record, no prompt with both labels."""
    from datatools.train.evaluate import evaluate_unary

    model, tok = tiny_peft
    rows = [{"id": f"r{i}", "source": "s", "prompt": p["prompt"],
             "completion": p["chosen"] if i % 2 else p["rejected"], "label": bool(i % 2)}
            for i, p in enumerate(planted_pairs(10, seed=6))]
    report = evaluate_unary(model, tok, rows, 0.1, tmp_path, max_length=64)
    assert report["label_accuracy"]["n"] == 10 and report["n_pairs"] == 0
    assert "policy_preference" not in report
    both = rows + [{**rows[0], "id": "x", "completion": planted_pairs(1, seed=6)[0]["chosen"],
                    "label": True}]
    report = evaluate_unary(model, tok, both, 0.1, tmp_path, max_length=64)
    assert report["n_pairs"] == 1 and report["policy_preference"]["trained"]["n"] == 1


def test_sft_held_out_loss(tiny_peft, tmp_path):
    from datatools.train.evaluate import evaluate_sft

    model, tok = tiny_peft
    rows = [{"messages": p["prompt"] + p["chosen"]} for p in planted_pairs(6, seed=8)]
    report = evaluate_sft(model, tok, rows, tmp_path, max_length=64)
    assert report["n_scored"] == 6 and report["n_tokens"] > 6
    assert report["base"]["loss"] == pytest.approx(report["trained"]["loss"])
    assert report["base"]["perplexity"] == pytest.approx(math.exp(report["base"]["loss"]))
    assert report["base"]["loss"] > 1.0  # a random model: high loss, not a constant
