"""KTO on unary data (prompt, completion, label): no pairs needed."""
from __future__ import annotations

import logging

from datatools.schemas.errors import Problem
from datatools.train.defaults import PREFERENCE_LR, stage_value
from datatools.train.methods.base import Method
from datatools.train.methods.common import common_args, keep_columns, peft_for

COLUMNS = ("prompt", "completion", "label")
log = logging.getLogger("datatools.train")


def trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0, weights=(1.0, 1.0)):
    """KTO (Ethayarajh et al. 2024). λ_D, λ_U come from the builder's metadata (Eq. 8) unless the
    stage overrides them. Needs per-device batch ≥ 2 (checked in pre-flight)."""
    from trl import KTOConfig, KTOTrainer

    args = KTOConfig(**common_args(stage, out_dir, cpu, seed, model), beta=stage_value(stage, "beta"),
                     desirable_weight=stage.desirable_weight or weights[0],
                     undesirable_weight=stage.undesirable_weight or weights[1])
    return KTOTrainer(model=model, args=args, train_dataset=keep_columns(train_ds, COLUMNS),
                      processing_class=tokenizer, peft_config=peft_for(model, stage))


def interleave_across_prompts(rows: list[dict]) -> list[int]:
    """An order of `rows` alternating desirable / undesirable in which neighbours have different
    prompts. TRL's KTO estimates its KL reference point (Ethayarajh et al. 2024, Eq. 4) from each
    completion paired with the *next* row's prompt (sequential sampling); the builder writes a
    prompt's two answers side by side, so as written half those pairs would share a prompt.
    The undesirable rows are rotated by half their count against the desirable ones."""
    from datatools.train.evaluate import prompt_key

    good = [i for i, r in enumerate(rows) if r["label"]]
    bad = [i for i, r in enumerate(rows) if not r["label"]]
    if bad:
        shift = len(bad) // 2
        bad = bad[shift:] + bad[:shift]
    order = [i for pair in zip(good, bad) for i in pair]
    order += good[len(bad):] + bad[len(good):]
    keys = [prompt_key(rows[i]["prompt"]) for i in order]
    for k in range(1, len(order)):  # the rest of a one-sided tail: swap a clash forward
        if keys[k] == keys[k - 1]:
            swap = next((j for j in range(k + 1, len(order)) if keys[j] != keys[k - 1]
                         and (j + 1 >= len(order) or keys[j + 1] != keys[k])), None)
            if swap is not None:
                order[k], order[swap], keys[k], keys[swap] = order[swap], order[k], keys[swap], keys[k]
    return order


def prepare(train_ds, data, stage, tokenizer=None):
    """λ_D, λ_U computed on the rows that are trained (after the split and pre-flight; KTO Eq. 8)
    and those rows interleaved across prompts for the KL term."""
    from datatools.train.data import kto_weights

    rows = train_ds.to_list()
    train_ds = train_ds.select(interleave_across_prompts(rows))
    w_d, w_u, origin = kto_weights(None, train_ds)
    log.info("KTO weights λ_D=%.3g λ_U=%.3g (%s)", w_d, w_u, origin)
    return train_ds, {"weights": (w_d, w_u)}, {"kto_weights": [w_d, w_u], "kto_weights_from": origin}


def pieces(row):
    return [("", row["prompt"], row["completion"])]


def run_checks(values: dict) -> list:
    if values["batch_size"] < 2:
        return [Problem("train.batch_size", "KTO needs a per-device batch of at least 2 (its KL "
                                            "term pairs each completion with another prompt's)")]
    return []


def evaluate(model, tokenizer, held_out, train_ds, stage, out_dir, flag_threshold=0.0):
    """Label accuracy of the implicit reward on single answers, pair metrics where a prompt has
    both labels; every training row scored and the ones whose reward contradicts their label
    flagged."""
    from datatools.train.evaluate import evaluate_unary, flag_training_rows

    beta, max_length = stage_value(stage, "beta"), stage_value(stage, "max_length")
    report = evaluate_unary(model, tokenizer, list(held_out), beta, out_dir, max_length)
    report["flags"] = flag_training_rows(model, tokenizer, list(train_ds), beta, out_dir,
                                         max_length, flag_threshold, unary=True)
    return report


def _config_class():
    from trl import KTOConfig

    return KTOConfig


METHOD = Method(
    name="kto", kind="unary", columns=COLUMNS, required=(COLUMNS,),
    defaults={"learning_rate": PREFERENCE_LR, "epochs": 1.0, "batch_size": 8, "max_length": 1024,
              "beta": 0.1},
    trainer=trainer, config_class=_config_class, evaluate=evaluate, prepare=prepare,
    pieces=pieces, run_checks=run_checks,
)
