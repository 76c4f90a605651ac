"""`datatools bench loop`: does a real model get better at following verifiable instructions?

SmolLM2-135M-Instruct (offline, datatools.models), seed prompts from a fixed topic list, one
IFEval constraint each (constrain_prompts, a held-out share kept apart and never trained on),
then `datatools loop` with methods [dpo, dpo, grpo]: each round samples from the current
adapter, verifies, builds pairs and continues training. Greedy answers to the held-out prompts
are verified before training and after every round. The gain is reported with a paired
bootstrap 95% interval over held-out prompts (Efron & Tibshirani 1993, percentile method),
next to a few unconstrained answers before and after (no collapse into the constraint's form).
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import yaml

TOPICS = ("the moon", "coffee", "volcanoes", "honey bees", "the ocean", "bicycles", "rainbows",
          "libraries", "tea", "winter", "the desert", "trains", "music", "gardening", "owls",
          "mountains", "bread", "chess", "clouds", "the internet", "dolphins", "maps", "soap",
          "lighthouses", "penguins", "kites", "autumn", "museums", "rivers", "pizza", "snow",
          "bridges", "the sun", "forests", "elephants", "paper", "cats", "dogs", "the wind",
          "islands", "robots", "cheese", "stars", "farming", "castles", "rain", "sleep", "glass")
ASKS = ("Write a short paragraph about {}.", "Tell me something interesting about {}.",
        "Describe {} to a child.")
# Constraint types a 135M model can plausibly learn in minutes; the others are in the library.
TYPES = ("punctuation:no_comma", "change_case:english_lowercase", "detectable_format:title",
         "startend:quotation", "detectable_content:postscript", "startend:end_checker")
PLAIN = ("What is the capital of France?", "Give me two tips for sleeping better.",
         "What is 12 plus 7?")


def bootstrap_ci(before: list[bool], after: list[bool], resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float, float]:
    """(mean gain, 2.5%, 97.5%) of the after − before pass rate: a paired bootstrap over
    prompts, percentile interval (Efron & Tibshirani 1993, §13.3). Positive = after is better."""
    if len(before) != len(after) or not before:
        raise ValueError("before and after must score the same, non-empty prompt list")
    rng = random.Random(seed)
    diffs = [int(a) - int(b) for b, a in zip(before, after)]
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return sum(diffs) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def bench_recipe(model: str, seeds: int, held_out: float, n: int, max_tokens: int,
                 steps: int, methods: list[str], lr: float, grpo_lr: float) -> dict:
    prompts = [ASKS[i % len(ASKS)].format(t) for i, t in
               enumerate(t for t in TOPICS for _ in ASKS)][:seeds]
    return {
        "name": "bench-loop", "seed": 0,
        "sources": [{"path": "seeds.jsonl"}],
        "steps": [{"constrain_prompts": {"types": list(TYPES), "max_constraints": 1,
                                         "held_out_fraction": held_out, "held_out_ngram": 13}}],
        "outputs": {"dir": "data", "prompts": {}},
        "loop": {
            "model": model, "methods": methods, "rounds": len(methods), "output_dir": "loop",
            "cpu": True, "eval_max_tokens": max_tokens,
            "sampling": {"n": n, "temperature": 0.9, "max_tokens": max_tokens, "batch_size": 16},
            "train": {"learning_rate": lr, "max_steps": steps, "batch_size": 8,
                      "max_length": 256, "beta": 0.1,
                      "grpo": {"num_generations": 4, "max_completion_length": max_tokens,
                               "temperature": 0.9, "scoring": "all"}},
            "per_method": {"grpo": {"learning_rate": grpo_lr}},
        },
        "_prompts": prompts,
    }


def run_loop_bench(out: Path, seeds: int = 144, held_out: float = 0.34, n: int = 4,
                   max_tokens: int = 48, steps: int = 12, methods: tuple[str, ...] = (
                       "dpo", "dpo", "grpo"), lr: float = 2e-4, grpo_lr: float = 1e-4,
                   model: str | None = None) -> dict:
    import os

    from datatools.models.smollm2 import ensure_smollm2
    from datatools.pipeline import run_build
    from datatools.recipe import load_recipe
    from datatools.train.loop import load_policy, run_loop
    from datatools.train.loop_report import round_summary
    from datatools.train.verified import generate

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    model = model or str(ensure_smollm2()[0])
    recipe = bench_recipe(model, seeds, held_out, n, max_tokens, steps, list(methods), lr, grpo_lr)
    prompts = recipe.pop("_prompts")
    (out / "seeds.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    loaded = load_recipe(out / "recipe.yaml")
    if not (out / "data" / "prompts" / "train.parquet").exists():
        run_build(loaded, quiet=True)
    report = run_loop(loaded)
    rounds = [r for r in report["rounds"] if r.get("eval")]
    first = _passed(out / "loop" / "round-0")
    summary = {"model": model, "n_held_out": report["n_held_out"],
               "n_train_prompts": _count(out / "data" / "prompts" / "train.parquet"),
               "settings": {"seeds": seeds, "held_out": held_out, "n": n,
                            "max_tokens": max_tokens, "steps": steps, "methods": list(methods),
                            "lr": lr, "grpo_lr": grpo_lr},
               "load_before": os.getloadavg(), "rounds": []}
    for r in rounds:
        here = _passed(out / "loop" / f"round-{r['round']}")
        gain, lo, hi = bootstrap_ci(first, here)
        summary["rounds"].append({
            "round": r["round"], "method": r["method"], "pass_rate": r["eval"]["pass_rate"],
            "gain": gain, "ci95": [lo, hi], "mean_words": r["eval"]["mean_words"],
            "per_type": {k: v["pass_rate"] for k, v in r["eval"]["per_type"].items()},
            **round_summary(r)})
    plain = [[{"role": "user", "content": q}] for q in PLAIN]
    answers = {}
    for label, adapter in (("before", None), ("after", rounds[-1].get("adapter"))):
        m, tok = load_policy(model, adapter, True)
        answers[label] = [a[0] for a in generate(m, tok, plain, max_new_tokens=64)]
    summary["plain_answers"] = [{"prompt": q, "before": b, "after": a}
                                for q, b, a in zip(PLAIN, answers["before"], answers["after"])]
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["load_after"] = os.getloadavg()
    (out / "bench.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def _count(path: Path) -> int:
    import polars as pl

    return pl.read_parquet(path).height if path.exists() else 0


def _passed(rdir: Path) -> list[bool]:
    rows = [json.loads(line) for line in (rdir / "answers.jsonl").read_text().splitlines()]
    return [r["passed"] for r in rows]
