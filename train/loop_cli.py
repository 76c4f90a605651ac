"""`datatools loop RECIPE --rounds N` and `datatools bench loop` (mounted by the main CLI)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def _fmt(value, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "n/a"


def loop(
    recipe: Path = typer.Argument(..., help="recipe with a `loop:` section"),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, help="overrides loop.rounds"),
):
    """On-policy rounds: sample with the current adapter, verify, build, train, evaluate.
    A rerun resumes at the part a killed run was in."""
    from datatools.recipe import load_recipe
    from datatools.train.loop import run_loop
    from datatools.train.loop_report import describe

    report = run_loop(load_recipe(recipe), rounds)
    for r in report["rounds"]:
        ev = r.get("eval") or {}
        data = r.get("data") or {}
        typer.echo(f"round {r['round']} {r['method'] or 'start'}: held-out pass rate "
                   f"{_fmt(ev.get('pass_rate'), '.3f')} (n={ev.get('n', 0)}), mean words "
                   f"{_fmt(ev.get('mean_words'), '.1f')}"
                   + (f", {data['rows']} rows built from {data['samples']} samples"
                      if data else "")
                   + (f", adapter {r['adapter']}" if r.get("adapter") else ""))
        if r["round"]:
            typer.echo(f"  {describe(r)}")


def bench_loop(
    out: Path = typer.Option(Path("runs/bench-loop"), "--out", help="working folder"),
    seeds: int = typer.Option(144, help="seed prompts (one constraint each)"),
    held_out: float = typer.Option(0.34, help="share of seed prompts held out for evaluation"),
    n: int = typer.Option(4, help="samples per training prompt per round"),
    max_tokens: int = typer.Option(48, help="max new tokens (samples and evaluation)"),
    steps: int = typer.Option(12, help="optimizer steps per round"),
    methods: str = typer.Option("dpo,dpo,grpo", help="one method per round"),
    model: Optional[str] = typer.Option(None, help="default: SmolLM2-135M-Instruct (offline)"),
):
    """SmolLM2-135M: held-out constrained prompts before and after each on-policy round."""
    from datatools.train.bench_loop import run_loop_bench

    summary = run_loop_bench(out, seeds=seeds, held_out=held_out, n=n, max_tokens=max_tokens,
                             steps=steps, methods=tuple(m.strip() for m in methods.split(",")),
                             model=model)
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("loop")(loop)
    bench_app.command("loop")(bench_loop)
