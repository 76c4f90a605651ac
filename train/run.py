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
from train.data import load_training_data, split_by_id
from train.defaults import stage_value
from train.launch import is_main_process

log = logging.getLogger("datatools.train")


def _resolve(base: Path, p: str | None) -> str | None:
    """A model/data/adapter reference: a path under `base` when it exists there (or looks like a
    path), else kept as given (a Hub id such as org/name)."""
    if p is None:
        return None
    q = Path(p).expanduser()
    if q.is_absolute():
        return str(q)
    return str(base / q) if (base / q).exists() or p.startswith(".") or "/" not in p else p


def output_path(base: Path, p: str) -> Path:
    """Where results go: always a local folder, relative paths from the recipe's folder (an
    output is never a Hub id, even when it does not exist yet and contains "/")."""
    q = Path(p).expanduser()
    return q if q.is_absolute() else base / q


def run_training(section: TrainSection, base_dir: str | Path = ".", build_out: str | Path | None = None,
                 seed: int = 0) -> dict:
    """Train every stage of `section`; return the report also written to OUTDIR/eval.json.

    `base_dir`: where relative paths resolve (the recipe's folder). `build_out`: the recipe's
    outputs.dir, whose OUT/<kind> is a stage's data when it names none.
    """
    from train.evaluate import write_report
    from train.loading import load_model
    from train.methods import get_method
    from train.methods.common import save_adapter
    from train.preflight import preflight

    base = Path(base_dir)
    out = output_path(base, section.output_dir)
    seed = section.seed if section.seed is not None else seed
    stages = section.resolved_stages()
    adapter = _resolve(base, section.adapter)
    model_id = _resolve(base, section.model) or section.model
    report: dict = {"model": model_id, "start_adapter": adapter, "stages": []}
    for i, stage in enumerate(stages):
        where = f"train.stages[{i}]" if section.stages else "train"
        method = get_method(stage.method)
        data = _resolve(base, stage.data) or (
            str(output_path(base, str(build_out)) / method.kind) if build_out else None)
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
        extra, facts = {}, {}
        if method.prepare is not None:
            train_ds, extra, facts = method.prepare(train_ds, data, stage)
        trainer = method.trainer(model, tokenizer, train_ds, stage, stage_dir,
                                 cpu=section.cpu, seed=seed, **extra)
        result = trainer.train()
        adapter_dir = stage_dir / "adapter"
        if not is_main_process():  # under a launcher only rank 0 writes; the others wait
            trainer.accelerator.wait_for_everyone()
            adapter = str(adapter_dir)
            del trainer, model
            gc.collect()
            continue
        save_adapter(trainer, adapter_dir)
        entry = {"stage": i, "method": stage.method, "data": data, "adapter": str(adapter_dir),
                 "reference": adapter or "base (adapter disabled)", "n_train": len(train_ds),
                 "n_held_out": len(held_out), "n_preflight_rejects": rejects.height,
                 "num_processes": trainer.accelerator.num_processes,
                 "beta": stage_value(stage, "beta"), "learning_rate": stage_value(stage, "learning_rate"),
                 "train_loss": getattr(result, "training_loss", None), **facts}
        if method.evaluate is not None:
            evaluation = method.evaluate(trainer.model, tokenizer, held_out, stage, stage_dir,
                                         flag_threshold=section.flag_threshold)
            if evaluation is not None:
                entry["eval"] = evaluation
        report["stages"].append(entry)
        trainer.accelerator.wait_for_everyone()  # the next stage's processes read this adapter
        adapter = str(adapter_dir)
        del trainer, model
        gc.collect()
    report["final_adapter"] = adapter
    if not is_main_process():
        return report
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
