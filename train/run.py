"""Run a `train:` section: for each stage load data → split → pre-flight → train → save → eval.

Layout of OUTDIR (one method) or OUTDIR/stage<i>-<method>/ (stages):
  adapter/                    the LoRA adapter (+ tokenizer) of that stage
  preflight_rejects.parquet   ledger rows of the rows pre-flight quarantined (if any)
  eval_margins.parquet        per held-out pair: log-probs under π and π_ref, implicit margin
  train_margins.parquet       DPO: every training pair scored with the final adapter
  train_flags.parquet         DPO: ledger rows (step train.flag) of likely mislabelled pairs
OUTDIR/eval.json gathers every stage's report; OUTDIR/merged/ when `merge: true`.
Each stage starts from the previous stage's adapter, so its reference model is a frozen copy of
that adapter (TRL's "ref" adapter), and the first stage's reference is the base.
"""
from __future__ import annotations

import gc
import logging
from collections import Counter
from pathlib import Path

from datatools.schemas.errors import ConfigError, Problem
from datatools.schemas.train import TrainSection
from datatools.train.data import load_training_data, split_by_prompt
from datatools.train.defaults import stage_value
from datatools.train.launch import is_main_process

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
                 seed: int = 0, resume: bool = False) -> dict:
    """Train every stage of `section`; return the report also written to OUTDIR/eval.json.

    `base_dir`: where relative paths resolve (the recipe's folder). `build_out`: the recipe's
    outputs.dir, whose OUT/<kind> is a stage's data when it names none. `resume`: continue each
    unfinished stage from its last checkpoint (a finished stage's adapter is reused).
    """
    from datatools.train.checks import check_section
    from datatools.train.evaluate import write_report

    check_section(section)
    base = Path(base_dir)
    out = output_path(base, section.output_dir)
    seed = section.seed if section.seed is not None else seed
    adapter = _resolve(base, section.adapter)
    model_id = _resolve(base, section.model) or section.model
    report: dict = {"model": model_id, "start_adapter": adapter, "stages": []}
    from datatools.models.registry import ModelRegistry

    models = ModelRegistry()
    for i, stage in enumerate(section.resolved_stages()):
        where = f"train.stages[{i}]" if section.stages else "train"
        stage_dir = out / f"stage{i}-{stage.method}" if section.stages else out
        data = _stage_data(base, stage, build_out, where)
        entry = train_stage(section, stage, i, data, model_id, adapter, stage_dir, seed, resume,
                            models)
        report["stages"].append(entry)
        adapter = entry["adapter"]
    report["final_adapter"] = adapter
    if not is_main_process():
        return report
    out.mkdir(parents=True, exist_ok=True)
    write_report(report, out)
    if section.merge or section.push_merged:
        from datatools.train.merge import merge_adapter

        report["merged"] = str(merge_adapter(adapter, out / "merged", base_model=model_id))
    if section.push_to:
        from datatools.train.merge import push

        push(report["merged"] if section.push_merged else adapter, section.push_to)
        report["pushed_to"] = section.push_to
    return report


def _stage_data(base: Path, stage, build_out, where: str) -> str:
    from datatools.train.methods import get_method

    data = _resolve(base, stage.data) or (
        str(output_path(base, str(build_out)) / get_method(stage.method).kind) if build_out else None)
    if data is None:
        raise ConfigError(Problem(f"{where}.data", "no data: give `data`, or train from a recipe "
                                                   "whose outputs.dir holds a build"))
    return data


def train_stage(section, stage, i: int, data: str, model_id: str, adapter: str | None,
                stage_dir: Path, seed: int, resume: bool = False, models=None) -> dict:
    """One stage: data → prompt-hash split → pre-flight → prepare → train → save → evaluate.
    The stage's model comes from `models` (a ModelRegistry) and is released when it is done, so
    the next stage never holds two copies."""
    from datatools.models.registry import ModelKey, ModelRegistry
    from datatools.train.loading import load_model
    from datatools.train.methods import get_method
    from datatools.train.methods.common import last_checkpoint, save_adapter
    from datatools.train.preflight import preflight

    method = get_method(stage.method)
    ds = load_training_data(data, stage.method, seed=seed, workdir=stage_dir)
    train_ds, held_out = split_by_prompt(ds, section.eval_fraction, seed, stage.method)
    models = models if models is not None else ModelRegistry()
    key = ModelKey("policy", f"{model_id}+{adapter or 'new adapter'}:{section.quantization}")
    model, tokenizer = models.acquire(key, lambda: load_model(model_id, adapter, section.cpu,
                                                              section.quantization))
    n_before = len(train_ds)
    train_ds, rejects = preflight(train_ds, tokenizer, stage.method,
                                  stage_value(stage, "max_length"),
                                  stage_value(stage, "batch_size"), section.preflight, stage_dir)
    reasons = dict(sorted(Counter(rejects["reason"].to_list()).items()))
    if reasons:
        log.warning("pre-flight quarantined %d of %d training rows (%s) → %s",
                    n_before - len(train_ds), n_before,
                    ", ".join(f"{n} {r}" for r, n in reasons.items()),
                    stage_dir / "preflight_rejects.parquet")
    extra, facts = {}, {}
    if method.prepare is not None:
        train_ds, extra, facts = method.prepare(train_ds, data, stage, tokenizer)
    trainer = method.trainer(model, tokenizer, train_ds, stage, stage_dir, cpu=section.cpu,
                             seed=seed, **extra)
    checkpoint = last_checkpoint(stage_dir) if resume else None
    if checkpoint:
        log.warning("resuming from %s", checkpoint)
    from datatools.train.tracking import tracking

    with tracking(stage.report_to, stage_dir):
        result = trainer.train(resume_from_checkpoint=checkpoint)
    accelerator = getattr(trainer, "accelerator", None)
    adapter_dir = stage_dir / "adapter"
    main_process = is_main_process()
    if main_process:  # under a launcher only rank 0 writes; the others wait for it below
        adapter_dir = save_adapter(trainer, adapter_dir)
    entry = {"stage": i, "method": stage.method, "data": data, "adapter": str(adapter_dir),
             "reference": adapter or "base (adapter disabled)", "n_train": len(train_ds),
             "n_held_out": len(held_out), "n_preflight_rejects": n_before - len(train_ds),
             "preflight_rejects": reasons, "beta": stage_value(stage, "beta"),
             "learning_rate": trainer.args.learning_rate,
             "epochs": stage_value(stage, "epochs"), "global_step": trainer.state.global_step,
             "resumed_from": checkpoint,
             "train_loss": getattr(result, "training_loss", None),
             "train_runtime_s": result.metrics.get("train_runtime"), **facts}
    if method.evaluate is not None and len(held_out) and main_process:
        entry["eval"] = method.evaluate(trainer.model, tokenizer, held_out, train_ds, stage,
                                        stage_dir, flag_threshold=section.flag_threshold)
    if section.samples and len(held_out) and main_process:
        from datatools.train.samples import sample_generations

        rows = held_out.select(range(min(section.samples, len(held_out))))
        entry["samples"] = sample_generations(trainer.model, tokenizer,
                                              [method.prompt_of(r) for r in rows])
    if accelerator is not None:
        entry["num_processes"] = accelerator.num_processes
        accelerator.wait_for_everyone()  # the next stage's processes read this adapter
    del trainer, model
    models.done(key)
    gc.collect()
    return entry
