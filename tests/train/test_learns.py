"""Proof that the policy itself learns, at the DEFAULT hyperparameters: a planted preference
(good answers end with "good", bad ones with "bad") that runs against the base model's prior
(the tiny base model ranks the rejected marker higher in most pairs).

The test measures the policy's own preference, log π(chosen|x) > log π(rejected|x), on prompts
held out by the trainer's split, with its own log-prob code (not the trainer's scorer): base
≈ 0.2, trained ≥ 0.9 after 256 pairs and the default epochs. Only LoRA weights may move.
"""
from __future__ import annotations

import datasets
import pytest
import torch

from datatools.schemas.train import Stage
from tests.train.conftest import planted_pairs, unary_from_pairs

pytestmark = pytest.mark.slow
# Chosen and rejected share their words and differ only in the final marker; the tiny model's
# prior for "true" over "ok" after these bodies is what the preference has to overturn (base
# policy preference ≈ 0.2, asserted below with the test's own log-probs).
MARKERS = ("ok", "true")


def own_logp(model, tok, prompt, completion) -> float:
    """Summed log-prob of the completion's tokens after the chat-templated prompt."""
    p = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                return_dict=True)["input_ids"]
    full = tok.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)["input_ids"]
    assert full[:len(p)] == p
    ids = torch.tensor([full])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
    return float(logp[len(p) - 1:].sum())


def preference(model, tok, pairs) -> float:
    model.eval()
    wins = sum(own_logp(model, tok, p["prompt"], p["chosen"])
               > own_logp(model, tok, p["prompt"], p["rejected"]) for p in pairs)
    return wins / len(pairs)


def _train(method, rows, tiny_model_dir, tmp_path):
    from datatools.train.data import split_by_prompt
    from datatools.train.loading import load_model
    from datatools.train.methods import METHODS
    from datatools.train.preflight import preflight

    ds = datasets.Dataset.from_list(rows)
    train_ds, held = split_by_prompt(ds, 0.25, seed=0, method=method)
    model, tok = load_model(str(tiny_model_dir), cpu=True)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    stage = Stage(method=method, epochs=2, max_length=96)  # defaults for everything else
    train_ds, _ = preflight(train_ds, tok, method, 96, 8, "stop", tmp_path)
    spec = METHODS[method]
    extra = {}
    if spec.prepare:
        train_ds, extra, _ = spec.prepare(train_ds, None, stage, tok)
    trainer = spec.trainer(model, tok, train_ds, stage, tmp_path, cpu=True, seed=0, **extra)
    trainer.train()
    after = dict(trainer.model.named_parameters())
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in after.items() if "lora_B" in k)
    for name, value in after.items():
        if "lora_" not in name:
            orig = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(value.detach(), before[orig]), f"base weight {orig} changed"
    return trainer.model, tok, held


def _base_and_trained(model, tok, pairs):
    with model.disable_adapter():
        base = preference(model, tok, pairs)
    return base, preference(model, tok, pairs)


def test_dpo_policy_learns_against_the_prior_at_defaults(tiny_model_dir, tmp_path):
    pairs = planted_pairs(256, seed=1, shared_body=True, markers=MARKERS)
    model, tok, held = _train("dpo", pairs, tiny_model_dir, tmp_path)
    base, trained = _base_and_trained(model, tok, held.to_list())
    print(f"DPO held-out policy preference {base:.2f} → {trained:.2f} on {len(held)} pairs")
    assert len(held) >= 40
    assert base <= 0.35, "the planted preference must run against the base prior"
    assert trained >= 0.9


def test_kto_policy_learns_against_the_prior_at_defaults(tiny_model_dir, tmp_path):
    pairs = planted_pairs(256, seed=2, shared_body=True, markers=MARKERS)
    model, tok, held = _train("kto", unary_from_pairs(pairs), tiny_model_dir, tmp_path)
    by_prompt: dict = {}
    for r in held.to_list():
        by_prompt.setdefault(str(r["prompt"]), {"prompt": r["prompt"]})[
            "chosen" if r["label"] else "rejected"] = r["completion"]
    held_pairs = [p for p in by_prompt.values() if len(p) == 3]
    base, trained = _base_and_trained(model, tok, held_pairs)
    print(f"KTO held-out policy preference {base:.2f} → {trained:.2f} on {len(held_pairs)} pairs")
    assert len(held_pairs) >= 40 and base <= 0.35
    assert trained >= 0.9
