"""The reference model: base with the adapter disabled for a new adapter; a frozen copy of the SFT
adapter when continuing from it (peers silently get this wrong)."""
from __future__ import annotations

import pytest
import torch

from datatools.schemas.train import Stage
from tests.train.conftest import planted_pairs

pytestmark = pytest.mark.slow


def _batch(trainer, n=4):
    rows = [trainer.train_dataset[i] for i in range(n)]
    return trainer.data_collator(rows)


def _logps(model, batch):
    """Summed completion log-probs of a DPO batch under `model` (as TRL computes them)."""
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logp = torch.log_softmax(logits[:, :-1].float(), -1)
    tgt = labels[:, 1:]
    tok = logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (tgt != -100)
    return tok.sum(-1)


def test_reference_is_frozen_sft_adapter(tiny_model_dir, tmp_path):
    import datasets

    from datatools.train.loading import load_model
    from datatools.train.methods import dpo, sft
    from datatools.train.methods.common import save_adapter

    pairs = planted_pairs(16, seed=3)
    sft_ds = datasets.Dataset.from_list([{"messages": p["prompt"] + p["chosen"]} for p in pairs])
    dpo_ds = datasets.Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")}
                                         for p in pairs])

    # 1. an SFT adapter that really moved away from the base
    model, tok = load_model(str(tiny_model_dir), cpu=True)
    sft_tr = sft.trainer(model, tok, sft_ds, Stage(method="sft", learning_rate=2e-2, max_steps=6,
                                                batch_size=4, max_length=64), tmp_path / "sft",
                      cpu=True)
    sft_tr.train()
    adapter = save_adapter(sft_tr, tmp_path / "sft" / "adapter")

    # 2. a new adapter: the reference is the base
    model, tok = load_model(str(tiny_model_dir), cpu=True)
    fresh = dpo.trainer(model, tok, dpo_ds, Stage(method="dpo", batch_size=4, max_length=64),
                        tmp_path / "fresh", cpu=True)
    batch = _batch(fresh)
    base_model, _ = load_model(str(tiny_model_dir), cpu=True)
    base_logps = _logps(base_model, batch)
    ref_fresh = torch.cat(fresh.compute_ref_log_probs(fresh.model, batch))
    torch.testing.assert_close(ref_fresh, base_logps, atol=1e-4, rtol=1e-4)

    # 3. continuing from the SFT adapter: the reference is that adapter, frozen
    model, tok = load_model(str(tiny_model_dir), adapter=str(adapter), cpu=True)
    cont = dpo.trainer(model, tok, dpo_ds, Stage(method="dpo", learning_rate=2e-2, max_steps=4,
                                                 batch_size=4, max_length=64),
                       tmp_path / "cont", cpu=True)
    sft_model, _ = load_model(str(tiny_model_dir), adapter=str(adapter), cpu=True)
    sft_logps = _logps(sft_model.eval(), batch)
    assert (sft_logps - base_logps).abs().max() > 1e-2, "SFT adapter should differ from the base"
    ref_before = torch.cat(cont.compute_ref_log_probs(cont.model, batch))
    torch.testing.assert_close(ref_before, sft_logps, atol=1e-4, rtol=1e-4)
    cont.train()
    ref_after = torch.cat(cont.compute_ref_log_probs(cont.model, batch))
    torch.testing.assert_close(ref_after, sft_logps, atol=1e-4, rtol=1e-4)  # frozen
    # and the evaluator uses the same reference (the "ref" adapter), not the base
    from datatools.train.scoring import reference, sequence_logps

    prompts = [p["prompt"] for p in pairs[:4]]
    chosen = [p["chosen"] for p in pairs[:4]]
    with reference(cont.model):
        ev_ref = sequence_logps(cont.model, tok, prompts, chosen, 64)
    ev_sft = sequence_logps(sft_model, tok, prompts, chosen, 64)
    assert ev_ref == pytest.approx(ev_sft, abs=1e-3)


@pytest.mark.parametrize("loss, expect", [("robust", ["robust"]), ("sigmoid_norm", ["sigmoid_norm"])])
def test_dpo_loss_variants_train(tiny_model_dir, tmp_path, loss, expect):
    import datasets

    from datatools.train.loading import load_model
    from datatools.train.methods import dpo

    pairs = planted_pairs(8, seed=4)
    ds = datasets.Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")}
                                     for p in pairs])
    model, tok = load_model(str(tiny_model_dir), cpu=True)
    trainer = dpo.trainer(model, tok, ds, Stage(method="dpo", loss_type=loss, max_steps=2,
                                                batch_size=4, max_length=64), tmp_path, cpu=True)
    assert trainer.args.loss_type == expect
    assert trainer.args.label_smoothing == (0.1 if loss == "robust" else 0.0)
    assert trainer.train().training_loss > 0
