"""Run a `train:` section: for each stage load data → split → pre-flight → train → save → eval.

Layout of OUTDIR (one method) or OUTDIR/stage<i>-<method>/ (stages):
  adapter/                    the LoRA adapter (+ tokenizer) of that stage
  preflight_rejects.parquet   ledger rows of the rows pre-flight quarantined (if any)
  eval_margins.parquet        per held-out pair: log-probs under π and π_ref, implicit margin
  eval_flags.parquet          ledger rows (step train.flag) of likely mislabelled pairs
OUTDIR/eval.json gathers every stage's report; OUTDIR/merged/ when `merge: true`.
Each stage starts from the previous stage's adapter, so its reference model is a frozen copy of
that adapter (TRL's "ref" adapter), and the first stage's reference is the base.
"""
from __future__ import annotations

import gc
import logging
from pathlib import Path

from schemas.errors import ConfigError, Problem
from schemas.train import TrainSection
from train.data import KIND, eval_pairs, kto_weights, load_training_data, split_by_id
from train.defaults import stage_value

log = logging.getLogger("datatools.train")


def _resolve(base: Path, p: str | None) -> str | None:
    if p is None:
        return None
    q = Path(p).expanduser()
    if q.is_absolute():
        return str(q)
    return str(base / q) if (base / q).exists() or p.startswith(".") or "/" not in p else p


def run_training(section: TrainSection, base_dir: str | Path = ".", build_out: str | Path | None = None,
                 seed: int = 0) -> dict:
    """Train every stage of `section`; return the report also written to OUTDIR/eval.json.

    `base_dir`: where relative paths resolve (the recipe's folder). `build_out`: the recipe's
    outputs.dir, whose OUT/<kind> is a stage's data when it names none.
    """
    from train.evaluate import evaluate_pairs, write_report
    from train.methods import TRAINERS, load_model, save_adapter
    from train.preflight import preflight

    base = Path(base_dir)
    out = Path(_resolve(base, section.output_dir) or section.output_dir)
    seed = section.seed if section.seed is not None else seed
    stages = section.resolved_stages()
    adapter = _resolve(base, section.adapter)
    model_id = _resolve(base, section.model) or section.model
    report: dict = {"model": model_id, "start_adapter": adapter, "stages": []}
    for i, stage in enumerate(stages):
        where = f"train.stages[{i}]" if section.stages else "train"
        data = _resolve(base, stage.data) or (
            str(Path(_resolve(base, str(build_out))) / KIND[stage.method]) if build_out else None)
        if data is None:
            raise ConfigError(Problem(f"{where}.data", "no data: give `data`, or train from a recipe "
                                                       "whose outputs.dir holds a build"))
        stage_dir = out / f"stage{i}-{stage.method}" if section.stages else out
        ds = load_training_data(data, stage.method, seed=seed, workdir=stage_dir)
        train_ds, held_out = split_by_id(ds, section.eval_fraction, seed)
        model, tokenizer = load_model(model_id, adapter, section.cpu)
        train_ds, rejects = preflight(train_ds, tokenizer, stage.method,
                                      stage_value(stage, "max_length"),
                                      stage_value(stage, "batch_size"), section.preflight, stage_dir)
        extra = {}
        if stage.method == "kto":
            w_d, w_u, origin = kto_weights(data, ds)
            extra["weights"] = (w_d, w_u)
            log.info("KTO weights λ_D=%.3g λ_U=%.3g (%s)", w_d, w_u, origin)
        trainer = TRAINERS[stage.method](model, tokenizer, train_ds, stage, stage_dir,
                                         cpu=section.cpu, seed=seed, **extra)
        result = trainer.train()
        adapter_dir = save_adapter(trainer, stage_dir / "adapter")
        entry = {"stage": i, "method": stage.method, "data": data, "adapter": str(adapter_dir),
                 "reference": adapter or "base (adapter disabled)", "n_train": len(train_ds),
                 "n_held_out": len(held_out), "n_preflight_rejects": rejects.height,
                 "beta": stage_value(stage, "beta"), "learning_rate": stage_value(stage, "learning_rate"),
                 "train_loss": getattr(result, "training_loss", None), **(
                     {"kto_weights": list(extra["weights"])} if "weights" in extra else {})}
        pairs = eval_pairs(held_out, stage.method)
        if pairs:
            entry["eval"] = evaluate_pairs(trainer.model, tokenizer, pairs, entry["beta"], stage_dir,
                                           stage_value(stage, "max_length"), section.flag_threshold)
        report["stages"].append(entry)
        adapter = str(adapter_dir)
        del trainer, model
        gc.collect()
    report["final_adapter"] = adapter
    out.mkdir(parents=True, exist_ok=True)
    write_report(report, out)
    if section.merge or section.push_merged:
        from train.merge import merge_adapter

        report["merged"] = str(merge_adapter(adapter, out / "merged", base_model=model_id))
    if section.push_to:
        from train.merge import push

        push(report["merged"] if section.push_merged else adapter, section.push_to)
        report["pushed_to"] = section.push_to
    return report
