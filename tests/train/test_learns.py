"""Proof it learns: a planted preference (good answers end with "good", bad ones with "bad") on
a tiny random model. Held-out pairwise accuracy of the implicit reward must rise from 0.5 (an
untrained adapter: π = π_ref, every margin 0) to ≥ 0.95 (DPO) / ≥ 0.9 (KTO); only LoRA weights move.
"""
from __future__ import annotations

import pytest
import torch

from schemas.train import Stage

pytestmark = pytest.mark.slow


def _train_and_eval(method, planted_out, tiny_model_dir, tmp_path, **hp):
    from train.data import eval_pairs, kto_weights, load_training_data, split_by_id
    from train.evaluate import evaluate_pairs
    from train.loading import load_model
    from train.methods import METHODS
    from train.preflight import preflight

    ds = load_training_data(planted_out, method)
    train_ds, held = split_by_id(ds, 0.25, seed=0)
    model, tok = load_model(str(tiny_model_dir), cpu=True)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    stage = Stage(method=method, batch_size=8, max_length=96, **hp)
    train_ds, rejects = preflight(train_ds, tok, method, 96, 8, "stop", tmp_path)
    extra = {"weights": kto_weights(planted_out, ds)[:2]} if method == "kto" else {}
    trainer = METHODS[method].trainer(model, tok, train_ds, stage, tmp_path, cpu=True, seed=0, **extra)
    trainer.train()
    report = evaluate_pairs(trainer.model, tok, eval_pairs(held, method), stage.beta or 0.1,
                            tmp_path, 96)
    print(method, report)  # shown with -s: base → trained accuracy

    after = dict(trainer.model.named_parameters())
    lora = {k: v for k, v in after.items() if "lora_" in k}
    assert lora and all(v.requires_grad for v in lora.values())
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in lora.items() if "lora_B" in k), \
        "LoRA B starts at zero: it must have moved"
    for name, value in after.items():
        if "lora_" in name:
            continue
        orig = name.replace("base_model.model.", "").replace(".base_layer", "")
        assert torch.equal(value.detach(), before[orig]), f"base weight {orig} changed"
    return report


def test_dpo_learns_planted_preference(planted_out, tiny_model_dir, tmp_path):
    report = _train_and_eval("dpo", planted_out, tiny_model_dir, tmp_path,
                             learning_rate=5e-3, max_steps=20)
    assert report["n_pairs"] >= 40
    assert report["base"]["accuracy"] == pytest.approx(0.5)
    assert 0.25 <= report["base"]["logp_accuracy"] <= 0.75  # the base has no preference
    assert report["trained"]["accuracy"] >= 0.95
    assert report["trained"]["mean_margin"] > 0


def test_kto_learns_planted_preference(planted_out, tiny_model_dir, tmp_path):
    report = _train_and_eval("kto", planted_out, tiny_model_dir, tmp_path,
                             learning_rate=5e-3, max_steps=20)
    assert report["n_pairs"] >= 40
    assert report["base"]["accuracy"] == pytest.approx(0.5)
    assert report["trained"]["accuracy"] >= 0.9
    assert report["trained"]["mean_margin"] > 0
