"""KTO on unary data (prompt, completion, label): no pairs needed."""
from __future__ import annotations

import logging

from schemas.errors import Problem
from train.defaults import stage_value
from train.methods.base import Method
from train.methods.common import common_args, keep_columns, peft_for

COLUMNS = ("prompt", "completion", "label")
log = logging.getLogger("datatools.train")


def trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0, weights=(1.0, 1.0)):
    """KTO (Ethayarajh et al. 2024). λ_D, λ_U come from the builder's metadata (Eq. 8) unless the
    stage overrides them. Needs per-device batch ≥ 2 (checked in pre-flight)."""
    from trl import KTOConfig, KTOTrainer

    args = KTOConfig(**common_args(stage, out_dir, cpu, seed), beta=stage_value(stage, "beta"),
                     desirable_weight=stage.desirable_weight or weights[0],
                     undesirable_weight=stage.undesirable_weight or weights[1])
    return KTOTrainer(model=model, args=args, train_dataset=keep_columns(train_ds, COLUMNS),
                      processing_class=tokenizer, peft_config=peft_for(model, stage))


def prepare(train_ds, data, stage):
    """λ_D, λ_U for the rows that are trained (KTO Eq. 8)."""
    from train.data import kto_weights

    w_d, w_u, origin = kto_weights(data, train_ds)
    log.info("KTO weights λ_D=%.3g λ_U=%.3g (%s)", w_d, w_u, origin)
    return train_ds, {"weights": (w_d, w_u)}, {"kto_weights": [w_d, w_u]}


def pieces(row):
    return [("", row["prompt"], row["completion"])]


def run_checks(values: dict) -> list:
    if values["batch_size"] < 2:
        return [Problem("train.batch_size", "KTO needs a per-device batch of at least 2 (its KL "
                                            "term pairs each completion with another prompt's)")]
    return []


def evaluate(model, tokenizer, held_out, stage, out_dir, flag_threshold=-1.0):
    from train.data import eval_pairs
    from train.evaluate import evaluate_pairs

    pairs = eval_pairs(held_out, "kto")
    if not pairs:
        return None
    return evaluate_pairs(model, tokenizer, pairs, stage_value(stage, "beta"), out_dir,
                          stage_value(stage, "max_length"), flag_threshold)


def _config_class():
    from trl import KTOConfig

    return KTOConfig


METHOD = Method(
    name="kto", kind="unary", columns=COLUMNS, required=(COLUMNS,),
    defaults={"learning_rate": 5e-5, "epochs": 1.0, "batch_size": 8, "max_length": 1024,
              "beta": 0.1},
    trainer=trainer, config_class=_config_class, evaluate=evaluate, prepare=prepare,
    pieces=pieces, run_checks=run_checks,
)
