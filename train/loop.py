"""`datatools loop`: on-policy rounds of generate → verify → build → train → evaluate.

Round k (LOOP/round-<k>/):
  recipe.yaml, data/  a build by the pipeline itself, so every sample is cached in the build's
             request cache and a killed round resumes without resampling: the training prompts
             answered by the current policy (the `generate` step, transformers or vLLM, with
             round k-1's adapter; the adapter's weights are in every request's cache key), scored
             by the `verifiable` step, built into pairs (dpo) or labelled answers (kto); grpo
             skips it and samples inside the trainer
  train/     `run_training` continuing round k-1's adapter, so the reference of round k is the
             policy that generated its data (TRL's frozen copy of the loaded adapter)
  eval.json  greedy answers to the held-out prompts (prompts/test.parquet), verified: pass rate
             per constraint type, mean length in words (length drift)
  held_out/  the held-out prompts answered by round k-1's policy and judged into pairs (never
             trained on); preference.json: the trained policy's implicit-reward preference on
             them (train/loop_report.py)
LOOP/round-0/eval.json is the starting policy; LOOP/report.json the per-round table. Each
part is skipped when its output exists, so a rerun resumes at the part it was in.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from datatools.schemas.errors import ConfigError, Problem
from datatools.schemas.loop import LoopSection
from datatools.train.loop_report import judge_agreement, judge_steps

log = logging.getLogger("datatools.loop")
KIND = {"dpo": "pairwise", "kto": "unary"}


def _read_rows(path: Path) -> list[dict]:
    import polars as pl

    return pl.read_parquet(path).to_dicts() if path.exists() else []


def load_policy(model_id: str, adapter: str | None, cpu: bool):
    """The model with `adapter` applied (inference only), and its tokenizer."""
    from datatools.train.loading import load_model

    model, tokenizer = load_model(model_id, None, cpu)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return model, tokenizer


def evaluate_policy(model_id: str, adapter: str | None, rows: list[dict], out: Path,
                    max_tokens: int, cpu: bool) -> dict:
    """OUT/eval.json (cached): verified greedy answers of the policy to `rows`."""
    from datatools.train.verified import evaluate_prompts, write_records

    if (out / "eval.json").exists():
        return json.loads((out / "eval.json").read_text())
    model, tokenizer = load_policy(model_id, adapter, cpu)
    summary, records = evaluate_prompts(model, tokenizer, rows, max_tokens)
    out.mkdir(parents=True, exist_ok=True)
    write_records(records, out / "answers.jsonl")
    summary = {"adapter": adapter, **summary}
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    return summary


def policy_spec(loop: LoopSection, adapter: str | None) -> dict:
    """The `generate` step's policy for a round: the base model with the round's adapter."""
    s = loop.sampling
    spec = {"name": "policy", "backend": s.backend, "model": loop.model, "n": s.n,
            "temperature": s.temperature, "max_tokens": s.max_tokens}
    if s.backend == "transformers":
        spec.update(batch_size=s.batch_size, **({"device": "cpu"} if loop.cpu else {}))
    elif s.engine_args:
        spec["engine_args"] = s.engine_args
    return {**spec, **({"adapter": adapter} if adapter else {})}


def round_recipe(loop: LoopSection, method: str, source: Path, adapter: str | None,
                 out: Path, seed: int, judges: list[dict] | None = None) -> dict:
    """A round's build: `source` prompts answered by the policy, verified (then `judges` and
    their agreement with the verifier), built for `method`."""
    outputs: dict = {"dir": str(out), "report_html": False}
    if method == "kto":
        outputs["unary"] = {}
    else:
        outputs["pairwise"] = {"min_margin": loop.min_margin}
    return {"name": f"{out.parent.name}-{method}", "seed": seed,
            "sources": [{"path": str(source)}],
            "steps": [{"generate": {"policies": [policy_spec(loop, adapter)],
                                    "keep_existing": False}},
                      {"verifiable": {"scoring": "fraction", "on_no_checks": "reject"}},
                      *judge_steps(judges or [])],
            "outputs": outputs}


def build_round_data(loop: LoopSection, method: str, source: Path, adapter: str | None,
                     rdir: Path, seed: int, judges: list[dict] | None = None) -> dict:
    """A round's on-policy data (cached by the pipeline): rows built, drops by reason, mean
    sample length in words, judge agreement."""
    from datatools.pipeline import run_build
    from datatools.recipe import load_recipe

    rdir.mkdir(parents=True, exist_ok=True)
    recipe_path = rdir / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(round_recipe(loop, method, source, adapter,
                                                       rdir / "data", seed, judges)))
    result = run_build(load_recipe(recipe_path), quiet=True)
    report = result.report
    frame = result.frame
    scores = frame["score"].drop_nulls() if frame.height else None
    words = [len(str(t).split()) for t in frame["completion"]] if frame.height else []
    return {"rows": report["outputs"].get(KIND.get(method, "pairwise"), {}).get("rows", 0),
            "samples": report["final_rows"],
            "sample_mean_score": float(scores.mean()) if scores is not None and len(scores)
            else None,
            "sample_mean_words": sum(words) / len(words) if words else None,
            "dropped": report["ledger"]["by_reason"],
            "judge_agreement": judge_agreement(report, judges or [])}


def round_section(loop: LoopSection, method: str, data: Path, adapter: str | None, rdir: Path,
                  seed: int):
    """The round's `train:` section. Every training row is trained on (eval_fraction 0): the
    held-out measurement is on pairs from the held-out prompts instead (train/loop_report.py)."""
    from datatools.schemas.train import TrainSection

    fields = loop.train.model_dump(exclude_none=True)
    if method in loop.per_method:
        fields.update(loop.per_method[method].model_dump(exclude_none=True))
    fields.pop("data", None)
    return TrainSection(model=loop.model, method=method, adapter=adapter, data=str(data),
                        output_dir=str(rdir / "train"), eval_fraction=0.0, samples=0,
                        cpu=loop.cpu, seed=seed, **fields)


def train_round(loop: LoopSection, method: str, data: Path, adapter: str | None, rdir: Path,
                seed: int) -> str:
    """Continue `adapter` (None: a new one) on the round's data; returns the new adapter."""
    from datatools.train.run import run_training

    done = rdir / "train" / "eval.json"
    if done.exists():
        return json.loads(done.read_text())["final_adapter"]
    section = round_section(loop, method, data, adapter, rdir, seed)
    return run_training(section, base_dir=rdir, seed=seed, resume=True)["final_adapter"]


def preference_round(loop: LoopSection, method: str, prompts: Path, start: str | None,
                     adapter: str, rdir: Path, seed: int, n_held_out: int) -> dict:
    """The round's policy preference on held-out pairs, or n_pairs 0 with the reason."""
    from datatools.train.loop_report import held_out_preference, not_measured

    if not loop.preference_pairs:
        return not_measured("loop.preference_pairs is false")
    if not n_held_out:
        return not_measured("no held-out prompts (prompts/test.parquet is empty or missing)")
    from datatools.schemas.errors import QualityGateError

    pdir = rdir / "held_out"
    try:
        built = build_round_data(loop, "dpo", prompts / "test.parquet", start, pdir, seed)
    except QualityGateError as exc:  # e.g. every held-out prompt's answers scored alike
        return not_measured(f"the judge built no pairs from the held-out answers ({exc})")
    stage = round_section(loop, method, pdir, start, rdir, seed).resolved_stages()[0]
    result = held_out_preference(loop.model, adapter, start, pdir / "data" / "pairwise", stage,
                                 pdir, loop.cpu)
    return {**result, "built": {k: built[k] for k in ("rows", "samples", "dropped")}}


def resolve_prompts(loaded, loop: LoopSection) -> Path:
    """The prompts folder: `loop.prompts`, or this recipe's OUT/prompts (built when missing)."""
    if loop.prompts:
        p = Path(loop.prompts).expanduser()
        path = p if p.is_absolute() else loaded.workdir / p
    else:
        if loaded.recipe.outputs.prompts is None:
            raise ConfigError(Problem("loop.prompts", "give `prompts` (a prompts folder) or an "
                                      "`outputs.prompts` section this recipe builds"))
        path = loaded.out_dir / "prompts"
        if not (path / "train.parquet").exists():
            from datatools.pipeline import run_build

            run_build(loaded, quiet=True)
    if not (path / "train.parquet").exists():
        raise ConfigError(Problem("loop.prompts", f"{path}/train.parquet not found"))
    return path


def run_loop(loaded, rounds: int | None = None) -> dict:
    """Run (or resume) the recipe's `loop:` rounds; returns LOOP/report.json's content."""
    loop = loaded.recipe.loop
    if loop is None:
        raise ConfigError(Problem("loop", "the recipe has no `loop:` section"))
    rounds = rounds or loop.rounds
    seed = loop.seed if loop.seed is not None else loaded.recipe.seed
    base = Path(loop.output_dir).expanduser()
    out = base if base.is_absolute() else loaded.workdir / base
    prompts = resolve_prompts(loaded, loop)
    held_out = _read_rows(prompts / "test.parquet")
    adapter = loop.adapter
    table = [{"round": 0, "method": None, "adapter": adapter,
              "eval": evaluate_policy(loop.model, adapter, held_out, out / "round-0",
                                      loop.eval_max_tokens, loop.cpu) if held_out else None}]
    for k in range(1, rounds + 1):
        method, rdir = loop.method_of(k), out / f"round-{k}"
        start = adapter
        entry = {"round": k, "method": method, "start_adapter": start}
        if method == "grpo":
            data = prompts
            entry["judge_agreement"] = {"measured": False, "reason": "grpo scores its own "
                                        "samples inside the trainer with the verifiers alone"}
        else:
            entry["data"] = build_round_data(loop, method, prompts / "train.parquet", start,
                                             rdir, seed + k, loop.judges)
            entry["judge_agreement"] = entry["data"].pop("judge_agreement")
            data = rdir / "data" / KIND[method]
            if entry["data"]["rows"] == 0:
                raise ConfigError(Problem(f"loop.round-{k}", f"no {KIND[method]} rows were built "
                                          f"(drops: {entry['data']['dropped']})"))
        adapter = train_round(loop, method, data, start, rdir, seed + k)
        entry["adapter"] = adapter
        entry["preference"] = preference_round(loop, method, prompts, start, adapter, rdir,
                                               seed + k, len(held_out))
        if held_out:
            entry["eval"] = evaluate_policy(loop.model, adapter, held_out, rdir,
                                            loop.eval_max_tokens, loop.cpu)
        table.append(entry)
        log.info("round %d (%s): %s", k, method, (entry.get("eval") or {}).get("pass_rate"))
    report = {"model": loop.model, "prompts": str(prompts), "n_held_out": len(held_out),
              "rounds": table}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report
