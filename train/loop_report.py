"""The loop report's per-round measurements beyond the held-out pass rate.

Policy preference on held-out pairs: round k's starting policy also answers the held-out
prompts (prompts/test.parquet, never trained on), the round's judge (`verifiable`) builds pairs
from those answers, and the trained policy is scored on them with the trainer's own held-out
evaluation (train/evaluate.py): the share of pairs whose DPO implicit reward (Rafailov et al.
2023, Eq. 5: r = β·log π(y|x)/π_ref(y|x), π_ref = the round's starting policy, the reference it
trained against) favours the chosen answer, the mean margin, and the policy's own preference
(log π(chosen) > log π(rejected)) before and after — each with n and a 95% interval.

Judge agreement: with `loop.judges`, every extra judge's scores are compared with the verifier's
on the same answers by the `judge_agreement` step (pair level: which of two answers to one
prompt each judge prefers — scale-free), whose agreement and Cohen's κ come back from the
build report. With the verifier alone, agreement is reported as not measured, with the reason.
"""
from __future__ import annotations

import json
from pathlib import Path

from datatools.schemas.errors import ConfigError, Problem

VERIFIER_COLUMN = "judge_verifiable"  # the round recipe's `verifiable` step (no name given)


def judge_column(spec: dict) -> str:
    """The column an extra judge step writes (judge_<name>), from the step itself."""
    from datatools.registry import STEPS

    if len(spec) != 1:
        raise ConfigError(Problem("loop.judges", f"one step per entry, got {sorted(spec)}"))
    (name, params), = spec.items()
    if name not in STEPS:
        raise ConfigError(Problem("loop.judges", f"unknown step {name!r}"))
    cls = STEPS[name]
    step = cls(cls.Params(**(params or {})))
    column = getattr(step, "column", None)
    if not isinstance(column, str):
        raise ConfigError(Problem("loop.judges", f"{name!r} is not a judge (it writes no "
                                                 "judge_<name> column)"))
    return column


def judge_steps(judges: list[dict]) -> list[dict]:
    """The extra judges, then one `judge_agreement` step per judge against the verifier."""
    agreement = [{"judge_agreement": {"judge": judge_column(j), "reference": VERIFIER_COLUMN,
                                      "level": "pair"}} for j in judges]
    return [*judges, *agreement]


def judge_agreement(report: dict, judges: list[dict]) -> dict:
    """The round's judge agreement from its build report (or why it was not measured)."""
    from datatools.publish.facts import label_agreement

    if not judges:
        return {"measured": False, "reason": "one judge (verifiable) labels the answers; add "
                                             "loop.judges to compare judges"}
    keep = ("judge", "reference", "level", "compared", "agreement", "cohen_kappa")
    return {"measured": True,
            "pairs": [{k: s.get(k) for k in keep} for s in label_agreement(report)
                      if s["name"] == "judge_agreement"]}


def not_measured(reason: str) -> dict:
    return {"n_pairs": 0, "reason": reason}


def held_out_preference(model_id: str, adapter: str, start_adapter: str | None, pairs: Path,
                        stage, out: Path, cpu: bool) -> dict:
    """OUT/preference.json (cached): the trained `adapter` scored on the held-out pairs in
    `pairs` against its reference `start_adapter` (None: the base, adapter disabled)."""
    from datatools.train.data import load_training_data
    from datatools.train.defaults import stage_value
    from datatools.train.evaluate import evaluate_pairs

    done = out / "preference.json"
    if done.exists():
        return json.loads(done.read_text())
    rows = list(load_training_data(pairs, "dpo"))
    # GRPO has no DPO β; the implicit reward's sign (the accuracy) does not depend on β, so its
    # margins are plain log-ratios (β = 1)
    beta = stage_value(stage, "beta") if stage.method in ("dpo", "kto") else 1.0
    model, tokenizer = load_with_reference(model_id, adapter, start_adapter, cpu)
    result = evaluate_pairs(model, tokenizer, rows, beta, out, stage_value(stage, "max_length"),
                            method="dpo", name="held_out")
    result = {"reference": start_adapter or "base (adapter disabled)", **result}
    if not result["n_pairs"]:
        result["reason"] = f"every held-out pair was excluded by pre-flight ({result['excluded']})"
    out.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result, indent=2, default=str))
    return result


def load_with_reference(model_id: str, adapter: str, start_adapter: str | None, cpu: bool):
    """The trained adapter active, and its reference as train/scoring.py's `reference` finds
    it: the starting adapter as a frozen "ref" adapter (what TRL trained against), or none."""
    from peft import PeftModel

    from datatools.train.loading import load_model

    model, tokenizer = load_model(model_id, None, cpu)
    model = PeftModel.from_pretrained(model, adapter)
    if start_adapter:
        model.load_adapter(start_adapter, adapter_name="ref")
        model.set_adapter("default")
    return model, tokenizer


def round_summary(entry: dict) -> dict:
    """The report's per-round extras in one line's worth: pairs built and dropped, preference
    on held-out pairs (or n 0 and why), judge agreement (or why not measured). Round 0 (the
    starting policy, nothing trained) has none of them."""
    if not entry.get("round"):
        return {}
    data, pref = entry.get("data") or {}, entry.get("preference") or {}
    ir = pref.get("implicit_reward") or {}
    agreement = entry.get("judge_agreement") or {}
    return {
        "pairs": data.get("rows"), "dropped": data.get("dropped"),
        "sample_mean_words": data.get("sample_mean_words"),
        "preference": {"n": pref.get("n_pairs", 0),
                       "accuracy": (ir.get("accuracy") or {}).get("value"),
                       "ci95": (ir.get("accuracy") or {}).get("ci95"),
                       "mean_margin": (ir.get("mean_margin") or {}).get("value"),
                       **({"reason": pref["reason"]} if pref.get("reason") else {})},
        "judge_agreement": ([{k: p[k] for k in ("judge", "compared", "agreement", "cohen_kappa")}
                             for p in agreement["pairs"]] if agreement.get("measured")
                            else {"measured": False, "reason": agreement.get("reason")}),
    }


def describe(entry: dict) -> str:
    """`datatools loop`'s words for a round's preference and agreement."""
    s = round_summary(entry)
    p = s["preference"]
    pref = (f"held-out implicit-reward preference {p['accuracy']:.3f} (n={p['n']}), mean margin "
            f"{p['mean_margin']:.3g}" if p["n"] else
            f"held-out preference not measured (n=0: {p.get('reason')})")
    ag = s["judge_agreement"]
    agree = ("; ".join(f"{a['judge']} vs verifier agreement {a['agreement']}, κ {a['cohen_kappa']}"
                       f" (n={a['compared']})" for a in ag) if isinstance(ag, list)
             else f"judge agreement not measured ({ag['reason']})")
    return f"{pref}; {agree}"
