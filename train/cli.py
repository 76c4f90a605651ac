"""Typer commands: `datatools train`, `datatools merge`, `datatools flag-pairs`, `datatools bench train`.

Plain functions, mounted by `register(app)` / `register_bench(bench_app)`. User mistakes raise
`schemas.errors.ConfigError` / `UserError` (`location: message`); the caller prints them.
Heavy libraries are imported inside the commands so `datatools --help` stays instant.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from datatools.schemas.errors import ConfigError, Problem

_FLAG_FIELDS = ("method", "data", "model", "learning_rate", "epochs", "batch_size", "beta",
                "max_length", "loss_type", "max_steps", "adapter", "eval_fraction", "preflight",
                "seed", "sft_weight", "report_to", "save_steps")


def load_section(recipe: Path | None, overrides: dict):
    """(TrainSection, recipe folder, build OUT dir or None, recipe seed) from a recipe + flags."""
    from pydantic import ValidationError

    from datatools.schemas.train import TrainSection

    raw, base, build_out, seed = {}, Path("."), None, 0
    if recipe is not None:
        from datatools.recipe import load_recipe

        loaded = load_recipe(recipe)  # the whole recipe is checked before any work starts
        if loaded.recipe.train is None:
            raise ConfigError(Problem(f"{recipe}:train", "the recipe has no `train:` section"))
        raw, base = loaded.recipe.train.model_dump(exclude_unset=True), loaded.workdir
        build_out = str(loaded.out_dir)
        seed = loaded.recipe.seed
    given = {k: v for k, v in overrides.items() if v is not None and v is not False}
    if "method" in given:
        raw.pop("stages", None)
    if "lora_r" in given:
        lora_r = given.pop("lora_r")
        raw["lora"] = {**raw.get("lora", {}), "r": lora_r, "alpha": 2 * lora_r}
    raw.update(given)
    try:
        section = TrainSection(**raw)
    except ValidationError as exc:
        raise ConfigError([Problem("train." + ".".join(str(p) for p in e["loc"]), e["msg"])
                           for e in exc.errors()]) from None
    return section, base, build_out, seed


def train(
    recipe: Optional[Path] = typer.Argument(None, help="recipe with a `train:` section"),
    method: Optional[str] = typer.Option(None, help="sft | dpo | kto | grpo (overrides the recipe)"),
    data: Optional[str] = typer.Option(None, help="built folder (OUT/pairwise), file or Hub id"),
    model: Optional[str] = typer.Option(None, help="base model folder or Hub id"),
    out: Optional[str] = typer.Option(None, "--out", help="output folder"),
    learning_rate: Optional[float] = typer.Option(None, help="default per method (LoRA-sized)"),
    epochs: Optional[float] = typer.Option(None),
    max_steps: Optional[int] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None, help="per-device batch size"),
    beta: Optional[float] = typer.Option(None, help="DPO/KTO β"),
    lora_r: Optional[int] = typer.Option(None, help="LoRA rank (alpha = 2r)"),
    max_length: Optional[int] = typer.Option(None),
    loss_type: Optional[str] = typer.Option(None, help="sigmoid | ipo | robust | sigmoid_norm"),
    sft_weight: Optional[float] = typer.Option(None, help="DPO: weight of an NLL term on chosen"),
    adapter: Optional[str] = typer.Option(None, help="continue from this LoRA adapter"),
    eval_fraction: Optional[float] = typer.Option(None, help="held-out share (default 0.1)"),
    preflight: Optional[str] = typer.Option(None, help="quarantine | stop"),
    seed: Optional[int] = typer.Option(None),
    cpu: bool = typer.Option(False, "--cpu", help="train on CPU in fp32"),
    merge: bool = typer.Option(False, "--merge", help="also write the merged model"),
    push_to: Optional[str] = typer.Option(None, help="Hub repo id for the adapter (HF_TOKEN)"),
    report_to: Optional[str] = typer.Option(None, help="none | tensorboard | wandb"),
    save_steps: Optional[int] = typer.Option(None, help="checkpoint every N steps (for --resume)"),
    resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint"),
    launch: Optional[str] = typer.Option(
        None, "--launch", help="accelerate: run data-parallel under `accelerate launch`"),
    num_processes: int = typer.Option(2, "--num-processes", min=1,
                                      help="with --launch: processes (one per GPU; CPU: gloo)"),
    accelerate_config: Optional[Path] = typer.Option(
        None, "--accelerate-config", help="with --launch: an accelerate config (DeepSpeed / FSDP: "
        "recipes/accelerate/)"),
) -> dict:
    """Train a LoRA adapter (SFT, DPO or KTO, or the recipe's stages) on built datasets."""
    if launch is not None:
        return _launch(launch, num_processes, accelerate_config)
    if recipe is None and (method is None or data is None or model is None):
        raise ConfigError(Problem("train", "give a RECIPE, or --method, --data and --model"))
    flags = {k: v for k, v in locals().items() if k in _FLAG_FIELDS}
    # paths typed on the command line are from the current folder, not the recipe's
    flags.update(lora_r=lora_r, output_dir=str(Path(out).resolve()) if out else None, cpu=cpu,
                 merge=merge, push_to=push_to)
    section, base, build_out, rseed = load_section(recipe, flags)
    from datatools.train.run import run_training

    report = run_training(section, base, build_out, seed=rseed, resume=resume)
    for s in report["stages"]:
        for line in stage_lines(s):
            typer.echo(line)
    return report


def _pct(p: dict) -> str:
    if p.get("value") is None:
        return "n/a"
    lo, hi = p["ci95"]
    return f"{p['value']:.2f} [{lo:.2f}, {hi:.2f}]"


def stage_lines(s: dict) -> list[str]:
    """What a person reads after a stage: pre-flight losses, the policy's own preference (base →
    trained), the implicit reward, flags, and a sample answer before/after."""
    lines = [f"stage {s['stage']} {s['method']}: adapter {s['adapter']} · trained on "
             f"{s['n_train']} rows"]
    if s.get("preflight_rejects"):
        reasons = ", ".join(f"{n} {r}" for r, n in s["preflight_rejects"].items())
        lines.append(f"  pre-flight quarantined {s['n_preflight_rejects']} of "
                     f"{s['n_train'] + s['n_preflight_rejects']} rows ({reasons}) → "
                     "preflight_rejects.parquet")
    ev = s.get("eval") or {}
    if ev.get("excluded"):
        lines.append("  held-out rows not scorable (excluded, not ties): " +
                     ", ".join(f"{n} {r}" for r, n in ev["excluded"].items()))
    if "policy_preference" in ev:
        pp, norm, ir = ev["policy_preference"], ev["policy_preference_length_normalised"], \
            ev["implicit_reward"]
        lines.append(f"  held-out policy preference (log π(chosen) > log π(rejected)) "
                     f"{_pct(pp['base'])} → {_pct(pp['trained'])} on {ev['n_pairs']} pairs; "
                     f"length-normalised {_pct(norm['base'])} → {_pct(norm['trained'])}")
        lines.append(f"  implicit reward accuracy {_pct(ir['accuracy'])}, mean margin "
                     f"{ir['mean_margin']['value']:.3g}")
    if "label_accuracy" in ev:
        lines.append(f"  KTO label accuracy of the implicit reward {_pct(ev['label_accuracy'])}")
    if "trained" in ev and "loss" in ev.get("trained", {}):
        lines.append(f"  held-out loss {ev['base']['loss']:.3f} → {ev['trained']['loss']:.3f} "
                     f"(perplexity {ev['base']['perplexity']:.1f} → "
                     f"{ev['trained']['perplexity']:.1f}) on {ev['n_scored']} rows")
    if ev.get("flags", {}).get("n_scored"):
        f = ev["flags"]
        what = "rows" if "label_accuracy" in ev else "pairs"
        lines.append(f"  {f['n_flagged']} of {f['n_scored']} training {what} flagged as likely "
                     "mislabelled → train_flags.parquet")
    for sample in s.get("samples", [])[:1]:
        lines.append(f"  sample: {sample['prompt'][:60]!r}\n    before: {sample['base'][:80]!r}"
                     f"\n    after:  {sample['trained'][:80]!r}")
    return lines


def _launch(launch: str, num_processes: int, config: Path | None) -> dict:
    """Re-run this train command under `accelerate launch`; its report is OUTDIR/eval.json."""
    import subprocess
    import sys

    from datatools.train.launch import LAUNCHERS, accelerate_command, strip_launch_options

    if launch not in LAUNCHERS:
        raise ConfigError(Problem("--launch", f"{launch!r}: choose {', '.join(LAUNCHERS)}"))
    if config is not None and not config.is_file():
        raise ConfigError(Problem("--accelerate-config", f"{config}: file not found"))
    args = strip_launch_options(sys.argv[sys.argv.index("train") + 1:])
    cmd = accelerate_command(args, num_processes, str(config) if config else None)
    done = subprocess.run(cmd)
    if done.returncode:
        raise typer.Exit(done.returncode)
    return {"launched": cmd}


def merge(
    adapter: Path = typer.Argument(..., help="LoRA adapter folder"),
    out: Path = typer.Option(..., "--out", help="where to write the merged model"),
    base_model: Optional[str] = typer.Option(None, help="default: the adapter's base model"),
    dtype: str = typer.Option("auto", help="auto | bf16 | fp32"),
    push_to: Optional[str] = typer.Option(None, help="Hub repo id for the merged model (HF_TOKEN)"),
) -> Path:
    """Merge a LoRA adapter into its base model (and optionally push it)."""
    from datatools.train.merge import merge_adapter, push

    path = merge_adapter(adapter, out, base_model, dtype)
    typer.echo(f"merged model: {path}")
    if push_to:
        typer.echo(f"pushed: {push(path, push_to)}")
    return path


def flag_pairs(
    margins: Path = typer.Argument(..., help="train_margins.parquet (or eval_margins.parquet) "
                                   "from a training run"),
    out: Path = typer.Option(..., "--out", help="ledger parquet to write (e.g. OUT/rejects/train_flags.parquet)"),
    threshold: float = typer.Option(0.0, help="flag rows whose trained margin is below this"),
) -> int:
    """Flag likely mislabelled rows as ledger rows: pairs whose trained model prefers `rejected`
    (DPO), or single answers whose implicit reward contradicts their label (KTO)."""
    if not margins.is_file():
        raise ConfigError(Problem(str(margins), "margins file not found"))
    from datatools.train.evaluate import flag_file

    n = flag_file(margins, threshold, out)
    typer.echo(f"{n} row(s) flagged → {out}")
    return n


def bench_train(
    tiny: bool = typer.Option(False, "--tiny", help="CPU smoke run on a tiny model"),
    steps: int = typer.Option(20, help="optimiser steps per configuration"),
    batch_size: int = typer.Option(4),
    n_pairs: Optional[int] = typer.Option(None, help="default: steps × batch size"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the results as JSON"),
) -> dict:
    """Tokens/s and peak memory: our DPO settings vs TRL DPOTrainer's defaults, same data."""
    from datatools.train.bench import run_bench

    result = run_bench(tiny=tiny, steps=steps, batch_size=batch_size, n_pairs=n_pairs)
    text = json.dumps(result, indent=2)
    typer.echo(text)
    if out:
        out.write_text(text)
    return result


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("merge")(merge)
    app.command("flag-pairs")(flag_pairs)


def register_bench(bench_app: typer.Typer) -> None:
    bench_app.command("train")(bench_train)
