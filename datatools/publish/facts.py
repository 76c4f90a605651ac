"""Facts about a build, read from its report.json, that both the card and the HTML report show:
which kinds were built, where the data came from, which models and judges touched it.

Everything here tolerates missing keys: an OUT folder written by an older version (no
`recipe_dump`) still gets a card, with less in it.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

KIND_ORDER = ("pairwise", "unary", "sft", "prompts")
TRAINERS = {"pairwise": "DPOTrainer", "unary": "KTOTrainer", "sft": "SFTTrainer",
            "prompts": "GRPOTrainer"}
JUDGE_STEPS = {"judge_rubric", "judge_pairwise", "reward_model", "verifiable", "combine_scores"}
DEFAULT_JUDGE_COLUMN = {"judge_rubric": "judge_rubric", "judge_pairwise": "judge_pairwise",
                        "reward_model": "judge_reward_model", "verifiable": "judge_verifiable",
                        "combine_scores": "judge_combined"}
# Recipe keys whose values might be credentials; a card is public, so they never reach it.
_SECRET_KEY = re.compile(r"^(.*_)?(token|secret|password|api_key|apikey)$", re.I)
SIZE_BOUNDS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
               (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
               (1_000_000_000, "100M<n<1B")]


def built_kinds(report: dict) -> list[str]:
    outputs = report.get("outputs") or {}
    return [k for k in KIND_ORDER if k in outputs]


def size_category(rows: int) -> str:
    for bound, label in SIZE_BOUNDS:
        if rows < bound:
            return label
    return "n>1B"


def redact(value: Any) -> Any:
    """A copy of a nested recipe with credential-looking values replaced."""
    if isinstance(value, dict):
        return {k: "<redacted>" if _SECRET_KEY.match(str(k)) and isinstance(v, str) else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def recipe_steps(report: dict) -> list[tuple[str, dict]]:
    """[(step name, params as written)] from the recipe dump; [] when absent."""
    out = []
    for item in (report.get("recipe_dump") or {}).get("steps") or []:
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, dict) and len(item) == 1:
            (name, params), = item.items()
            out.append((name, params or {}))
    return out


def sources(report: dict) -> list[dict]:
    """Per-source rows: the read summary joined with the recipe's spec (hub id, revision)."""
    specs = {}
    for spec in (report.get("recipe_dump") or {}).get("sources") or []:
        name = spec.get("path") or f"hub:{spec.get('hub')}"
        specs[name] = spec
    rows = []
    for summary in report.get("sources") or []:
        spec = specs.get(summary.get("source"), {})
        hub = spec.get("hub")
        rows.append({
            **summary,
            "hub": hub,
            "config": spec.get("config"),
            "split": spec.get("split"),
            # An unpinned Hub source can change under the same id: say so rather than guess.
            "revision": spec.get("revision") or ("not pinned (latest)" if hub else "local file"),
        })
    return rows


def _find_models(value: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    if isinstance(value, dict):
        if isinstance(value.get("model"), str):
            yield path, value
        for k, v in value.items():
            if k != "model":
                yield from _find_models(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _find_models(v, f"{path}[{i}]")


def models(report: dict) -> list[dict]:
    """Every model a step names: generation policies, LLM judges, reward models, classifiers."""
    rows = []
    for index, (name, params) in enumerate(recipe_steps(report)):
        role = "policy" if name == "generate" else "judge" if name in JUDGE_STEPS else "model"
        for path, spec in _find_models(params):
            rows.append(dict(step=f"steps[{index}].{name}", role=role, model=spec["model"],
                             backend=spec.get("backend") or ("transformers" if name ==
                                                              "reward_model" else ""),
                             revision=spec.get("revision") or "", where=path or "model"))
        backend = params.get("backend") if isinstance(params, dict) else None
        if isinstance(backend, str):  # a backend the caller provided by name
            rows.append(dict(step=f"steps[{index}].{name}", role=role, model=f"<{backend}>",
                             backend="provided by name", revision="", where="backend"))
    return rows


def judges(report: dict) -> list[dict]:
    """Judge steps with the column they write and whether they set `score`."""
    rows = []
    for index, (name, params) in enumerate(recipe_steps(report)):
        if name not in JUDGE_STEPS:
            continue
        column = f"judge_{params['name']}" if params.get("name") else DEFAULT_JUDGE_COLUMN[name]
        spec = params.get("backend") if name != "reward_model" else params
        model = spec.get("model") if isinstance(spec, dict) else spec
        rows.append(dict(step=f"steps[{index}].{name}", kind=name, column=column,
                         model=model or "rule-based", sets_score=params.get("set_score", True),
                         aspects=sorted((params.get("aspects") or _default_aspects(name)))))
    return rows


def _default_aspects(step: str) -> list[str]:
    if step != "judge_rubric":
        return []
    try:  # the rubric judge's own default, so the card cannot drift from it
        from datatools.judge.rubric import ULTRAFEEDBACK_ASPECTS
    except ImportError:
        return []
    return list(ULTRAFEEDBACK_ASPECTS)


def uses_generation(report: dict) -> bool:
    return any(name == "generate" for name, _ in recipe_steps(report))


def license_of(report: dict, override: str | None = None) -> str:
    if override:
        return override
    push = ((report.get("recipe_dump") or {}).get("outputs") or {}).get("push") or {}
    return push.get("license") or "other"


LABEL_STEPS = {"aggregate_labels", "judge_agreement"}


def label_agreement(report: dict) -> list[dict]:
    """Per aggregate_labels / judge_agreement step: its agreement statistics (report stats)."""
    return [{"step": s.get("location") or s["name"], "name": s["name"], **s["stats"]}
            for s in report.get("steps") or [] if s.get("name") in LABEL_STEPS and s.get("stats")]


def warnings(report: dict) -> list[tuple[str, str]]:
    """(step, message) for every warning a step left in its stats."""
    return [(s.get("location") or s["name"], w) for s in report.get("steps") or []
            for w in (s.get("stats") or {}).get("warnings") or []]


def mixture(report: dict) -> list[dict]:
    """One row per (dataset, source or tag) of the mixture: requested against achieved."""
    return [{"kind": kind, "by": spec.get("by"), "group": group, **numbers}
            for kind, spec in (report.get("mix") or {}).items()
            for group, numbers in (spec.get("groups") or {}).items()]
