"""The dataset card: OUT/README.md, also the README.md of a pushed Hub repo.

Its YAML header declares one config per built kind (`<kind>/*.parquet`), which is what lets
`datasets.load_dataset(OUT, "pairwise")` and `load_dataset("org/name", "pairwise")` find
the data; the prose records how the data was made (sources, models, judges, drops, KTO weights).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from datatools.publish import facts


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def data_files(report: dict, kind: str) -> list[dict]:
    """A kind's splits: train, plus test where the builder split it (prompts' held-out rows)."""
    splits = (report["outputs"][kind].get("splits") or {})
    if not splits.get("test"):
        return [{"split": "train", "path": f"{kind}/*.parquet"}]
    return [{"split": s, "path": f"{kind}/{s}.parquet"} for s in splits if splits[s] or s == "train"]


def card_metadata(report: dict, kinds: list[str], license: str | None = None) -> dict:
    rows = max((report["outputs"][k].get("rows", 0) for k in kinds), default=0)
    tags = ["datatools", "preference"] + [t for k, t in (("pairwise", "dpo"), ("unary", "kto"),
                                                          ("sft", "sft"), ("prompts", "grpo"))
                                           if k in kinds]
    if facts.uses_generation(report):
        tags.append("synthetic")
    configs = [{"config_name": k, "data_files": data_files(report, k)} for k in kinds]
    if configs:  # `load_dataset(OUT)` without a config name then loads the first kind
        configs[0]["default"] = True
    return {
        "configs": configs,
        "license": facts.license_of(report, license),
        "task_categories": ["text-generation"],
        "size_categories": [facts.size_category(rows)],
        "tags": tags,
        "pretty_name": report.get("name") or "datatools build",
    }


def render_card(report: dict, repo_id: str | None = None, kinds: list[str] | None = None,
                license: str | None = None) -> str:
    """README.md text for a build. `kinds` narrows it to some configs (one repo per kind)."""
    import yaml

    kinds = [k for k in (kinds or facts.built_kinds(report)) if k in (report.get("outputs") or {})]
    meta = card_metadata(report, kinds, license)
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    parts = [f"---\n{header}---\n", f"# {report.get('name', 'dataset')}\n", _intro(report, kinds),
             _usage(report, repo_id, kinds), _sources(report), _models(report),
             _steps(report), _warnings(report), _drops(report), _labels(report),
             _mixture(report), _kto(report, kinds), _recipe(report)]
    return "\n".join(p for p in parts if p).rstrip() + "\n"


def _intro(report: dict, kinds: list[str]) -> str:
    outputs = report.get("outputs") or {}
    rows = [[f"`{k}`", outputs[k].get("rows", 0), facts.TRAINERS[k], f"`{k}/*.parquet`"]
            for k in kinds]
    # only the file name: a public card should not reveal the builder's home folder layout
    recipe = Path(report["recipe"]).name if report.get("recipe") else "(built from a recipe dict)"
    return (
        f"Built by datatools {report.get('version', '')} from the recipe "
        f"`{recipe}`: {report.get('rows_read', 0)} candidate rows read from "
        f"{len(report.get('sources') or [])} source(s), {report.get('final_rows', 0)} rows "
        f"({report.get('final_records', 0)} prompts) left after {len(report.get('steps') or [])} "
        f"step(s). Every dropped row is kept with its reason in `rejects/rejects.parquet` of "
        f"the build folder ({(report.get('ledger') or {}).get('total', 0)} rows).\n\n"
        "## Configs\n\nColumns use TRL's conversational names (`prompt`, `chosen`, `rejected`, "
        "`completion`, `label`, `messages`), so each config goes straight into its trainer.\n\n"
        + _table(["config", "rows", "trainer", "files"], rows) + "\n"
    )


def _usage(report: dict, repo_id: str | None, kinds: list[str]) -> str:
    where = repo_id or "path/to/OUT"
    lines = [f'{k} = load_dataset("{where}", "{k}", split="train")' for k in kinds]
    return ("## Loading\n\n```python\nfrom datasets import load_dataset\n\n"
            + "\n".join(lines) + "\n```\n")


def _sources(report: dict) -> str:
    rows = [[s.get("hub") and f"[{s['hub']}](https://huggingface.co/datasets/{s['hub']})"
             or f"`{s.get('source')}`", s.get("config") or "", s.get("revision"),
             s.get("format"), s.get("records"), s.get("rows"), s.get("rejected")]
            for s in facts.sources(report)]
    if not rows:
        return ""
    return ("## Source datasets\n\n" + _table(
        ["source", "config", "revision", "format", "records", "rows", "rejected at read"],
        rows) + "\n\nCheck each source's own license and terms before reusing this data.\n")


def _models(report: dict) -> str:
    models = facts.models(report)
    judges = facts.judges(report)
    if not models and not judges:
        return ("## Models and judges\n\nNo model was run by this build: completions and "
                "scores come from the sources.\n")
    out = ["## Models and judges\n"]
    if models:
        out.append(_table(["step", "role", "model", "backend", "revision"],
                          [[m["step"], m["role"], f"`{m['model']}`", m["backend"],
                            m["revision"] or "not pinned"] for m in models]) + "\n")
    if judges:
        out.append("Judges, and the candidate-frame column each writes (the builders rank "
                   "candidates by `score`):\n")
        out.append(_table(["step", "judge", "model", "column", "sets score", "aspects"],
                          [[j["step"], j["kind"], j["model"], f"`{j['column']}`",
                            "yes" if j["sets_score"] else "no", ", ".join(j["aspects"])]
                           for j in judges]) + "\n")
    return "\n".join(out)


def _top(by_reason: dict, n: int = 3) -> str:
    items = sorted((by_reason or {}).items(), key=lambda kv: -kv[1])
    text = ", ".join(f"`{k}` {v}" for k, v in items[:n])
    return text + (f", … ({len(items) - n} more)" if len(items) > n else "")


def _steps(report: dict) -> str:
    steps = report.get("steps") or []
    if not steps:
        return "## Steps\n\nThe recipe has no steps: sources went straight to the builders.\n"
    rows = [[s.get("location") or s.get("name"), s.get("rows_in"), s.get("kept"),
             s.get("rejected"), _top(s.get("by_reason") or {})] for s in steps]
    return "## Steps\n\n" + _table(["step", "rows in", "kept", "rejected", "top drop reasons"],
                                   rows) + "\n"


def _drops(report: dict) -> str:
    by_reason = (report.get("ledger") or {}).get("by_reason") or {}
    if not by_reason:
        return "## Drop reasons\n\nNothing was dropped.\n"
    rows = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    return ("## Drop reasons\n\nAll ledger rows (reading, steps, and records a builder could "
            "not use), by reason:\n\n" + _table(["reason", "rows"], [[f"`{k}`", v] for k, v in
                                                 rows]) + "\n")


def _warnings(report: dict) -> str:
    found = facts.warnings(report)
    if not found:
        return ""
    return "## Warnings\n\n" + "\n".join(f"- `{where}`: {_cell(msg)}"
                                          for where, msg in found) + "\n"


def _labels(report: dict) -> str:
    """Agreement between annotators (aggregate_labels) and of judges with references."""
    steps = facts.label_agreement(report)
    if not steps:
        return ""
    out = ["## Label agreement\n"]
    combined = [s for s in steps if s["name"] == "aggregate_labels"]
    if combined:
        out.append("Items judged more than once were combined by `aggregate_labels`; κ is "
                   "Fleiss' kappa (Fleiss 1971) over categorical votes, α Krippendorff's alpha "
                   "(interval for scores, nominal otherwise). An undefined value (one category "
                   "only, or no item with two votes) is shown as n/a.\n")
        out.append(_table(
            ["step", "votes on", "method", "items", "with several votes", "dropped",
             "share dropped", "Fleiss' κ", "Krippendorff's α"],
            [[s["step"], s.get("value"), s.get("method"), s.get("items"),
              s.get("items_with_several_votes"), s.get("items_dropped"),
              _num(s.get("share_dropped")), _num(s.get("fleiss_kappa")),
              f"{_num(s.get('krippendorff_alpha'))} ({s.get('alpha_metric')})"]
             for s in combined]) + "\n")
        for s in combined:
            raters = list((s.get("by_annotator") or {}).items())[:20]
            if raters:
                out.append(f"Annotators in `{s['step']}` (agreement with the kept value"
                           + ("; Dawid–Skene's estimated accuracy" if s.get("method") ==
                              "dawid_skene" else "") + "):\n")
                out.append(_table(
                    ["annotator", "votes", "agrees with kept", "estimated accuracy"],
                    [[k, v.get("votes"), _num(v.get("agrees_with_kept")),
                      _num(v.get("dawid_skene_accuracy"))] for k, v in raters]) + "\n")
            sources = s.get("by_source") or {}
            if len(sources) > 1:
                out.append(_table(["source", "votes", "items", "share dropped", "Fleiss' κ",
                                   "Krippendorff's α"],
                                  [[f"`{k}`", v.get("votes"), v.get("items"),
                                    _num(v.get("share_dropped")), _num(v.get("fleiss_kappa")),
                                    _num(v.get("krippendorff_alpha"))]
                                   for k, v in sources.items()]) + "\n")
    judged = [s for s in steps if s["name"] == "judge_agreement"]
    if judged:
        out.append("Judges against reference labels (`judge_agreement`, Cohen's κ):\n")
        out.append(_table(["step", "judge", "reference", "level", "compared", "agreement",
                           "Cohen's κ"],
                          [[s["step"], f"`{s.get('judge')}`", f"`{s.get('reference')}`",
                            s.get("level"), s.get("compared"), _num(s.get("agreement")),
                            _num(s.get("cohen_kappa"))] for s in judged]) + "\n")
    return "\n".join(out)


def _mixture(report: dict) -> str:
    rows = facts.mixture(report)
    if not rows:
        return ""
    return ("## Mixture\n\nThe datasets were resampled to the recipe's mixture (seeded; rows "
            "sampled out are `mix.downsampled` ledger rows, repeats carry `mix_repeat` in their "
            "meta). Requested against achieved:\n\n" + _table(
                ["dataset", "group", "available", "requested", "achieved", "requested share",
                 "achieved share", "downsampled", "repeated"],
                [[r["kind"], f"`{r['group']}`", r["available"], r["requested"], r["achieved"],
                  _num(r["requested_share"]), _num(r["achieved_share"]), r["downsampled"],
                  r["repeated"]] for r in rows]) + "\n")


def _kto(report: dict, kinds: list[str]) -> str:
    meta = (report.get("outputs") or {}).get("unary")
    if "unary" not in kinds or not meta:
        return ""
    ratio = meta.get("weighted_ratio")
    ratio_text = f"{ratio:.3f}" if isinstance(ratio, (int, float)) else "n/a"
    return (
        "## KTO weights\n\n"
        f"The `unary` config has {meta.get('n_desirable', 0)} desirable and "
        f"{meta.get('n_undesirable', 0)} undesirable completions (labels interleaved). "
        "Weights chosen so that λ_D·n_D / (λ_U·n_U) lies in [1, 4/3] (KTO paper, Eq. 8):\n\n"
        + _table(["desirable_weight (λ_D)", "undesirable_weight (λ_U)", "weighted ratio"],
                 [[_num(meta.get("desirable_weight")), _num(meta.get("undesirable_weight")),
                   ratio_text]])
        + "\n\n```python\nKTOConfig(desirable_weight="
        f"{meta.get('desirable_weight')}, undesirable_weight={meta.get('undesirable_weight')})"
        "\n```\n"
    )


def _num(x: Any) -> str:
    if x is None:
        return "n/a"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _recipe(report: dict) -> str:
    import yaml

    dump = report.get("recipe_dump")
    if not dump:
        return ""
    text = yaml.safe_dump(facts.redact(dump), sort_keys=False, allow_unicode=True)
    return "## Recipe\n\nThe validated recipe this build ran:\n\n```yaml\n" + text + "```\n"
