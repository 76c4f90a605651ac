"""DPO on pairwise data (prompt, chosen, rejected) and its TRL 1.16 loss variants."""
from __future__ import annotations

from datatools.train.defaults import PREFERENCE_LR, stage_value
from datatools.train.methods.base import Method
from datatools.train.methods.common import common_args, keep_columns, peft_for

COLUMNS = ("prompt", "chosen", "rejected")


def trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0, precompute_ref=False):
    """DPO (Rafailov et al. 2023, Eq. 7) and variants: ipo (Azar et al. 2023), robust
    (Chowdhury et al. 2024; label_smoothing = flip rate), sigmoid_norm (TÜLU 3, length-normalised).
    `sft_weight` > 0 adds TRL's "sft" loss (NLL on chosen, as in RPO, Pang et al. 2024) so the
    chosen log-probs do not fall while the margin grows."""
    from trl import DPOConfig, DPOTrainer

    loss = stage_value(stage, "loss_type")
    extra = {"loss_type": [loss]}
    if stage_value(stage, "sft_weight"):
        extra = {"loss_type": [loss, "sft"], "loss_weights": [1.0, stage_value(stage, "sft_weight")]}
    if loss == "robust":
        extra["label_smoothing"] = stage_value(stage, "label_smoothing")
    args = DPOConfig(**common_args(stage, out_dir, cpu, seed, model), beta=stage_value(stage, "beta"),
                     precompute_ref_log_probs=precompute_ref, **extra)
    return DPOTrainer(model=model, args=args, train_dataset=keep_columns(train_ds, COLUMNS),
                      processing_class=tokenizer, peft_config=peft_for(model, stage))


def pieces(row):
    return [(side, row["prompt"], row[side]) for side in ("chosen", "rejected")]


def evaluate(model, tokenizer, held_out, train_ds, stage, out_dir, flag_threshold=0.0):
    """Held-out policy preference and implicit reward; then every training pair scored with the
    final adapter for likely mislabels."""
    from datatools.train.evaluate import evaluate_pairs, flag_training_rows

    beta, max_length = stage_value(stage, "beta"), stage_value(stage, "max_length")
    report = evaluate_pairs(model, tokenizer, list(held_out), beta, out_dir, max_length)
    report["flags"] = flag_training_rows(model, tokenizer, list(train_ds), beta, out_dir,
                                         max_length, flag_threshold)
    return report


def _config_class():
    from trl import DPOConfig

    return DPOConfig


METHOD = Method(
    name="dpo", kind="pairwise", columns=COLUMNS, required=(COLUMNS,),
    defaults={"learning_rate": PREFERENCE_LR, "epochs": 1.0, "batch_size": 8, "max_length": 1024,
              "beta": 0.1, "loss_type": "sigmoid", "sft_weight": 0.0, "label_smoothing": 0.1},
    trainer=trainer, config_class=_config_class, evaluate=evaluate, pieces=pieces,
)
