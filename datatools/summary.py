"""Human-readable tables for the CLI (rich)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from datatools.publish import facts


def _top(by_reason: dict[str, int], n: int = 3) -> str:
    return ", ".join(f"{k} {v}" for k, v in list(by_reason.items())[:n])


def print_summary(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"build {report['name']}", title_justify="left")
    for col in ("step", "rows in", "kept", "dropped", "s", "cached"):
        table.add_column(col, justify="left" if col in ("step", "cached") else "right")
    for src in report["sources"]:
        table.add_row(f"read {Path(src['source']).name} ({src['format']})",
                      f"{src['records']} rec", str(src["rows"]), str(src["rejected"]),
                      f"{src['seconds']:.2f}", "")
    for s in report["steps"]:
        table.add_row(f"{s['location'].split('.', 1)[0][6:-1]}. {s['name']}", str(s["rows_in"]),
                      str(s["kept"]), str(s["rejected"]), f"{s['seconds']:.2f}",
                      "yes" if s["cached"] else "")
    console.print(table)
    for src in report["sources"]:
        for note in src.get("notes", []):
            console.print(f"note: {Path(src['source']).name}: {note}", soft_wrap=True)
    for s in facts.label_agreement(report):
        console.print(_agreement_line(s), soft_wrap=True)
    for location, message in facts.warnings(report):
        console.print(f"[yellow]warning[/yellow]: {location}: {message}", soft_wrap=True)
    reasons = Table(title="why rows were dropped (ledger)", title_justify="left")
    reasons.add_column("reason")
    reasons.add_column("rows", justify="right")
    for reason, count in report["ledger"]["by_reason"].items():
        reasons.add_row(reason, str(count))
    if report["ledger"]["by_reason"]:
        console.print(reasons)
    outputs = Table(title="datasets", title_justify="left")
    for col in ("dataset", "rows", "notes"):
        outputs.add_column(col)
    for kind, meta in report["outputs"].items():
        notes = ""
        if kind == "unary":
            notes = (f"{meta['n_desirable']} desirable (λ_D {meta['desirable_weight']:.3g}), "
                     f"{meta['n_undesirable']} undesirable (λ_U {meta['undesirable_weight']:.3g})")
        groups = ((report.get("mix") or {}).get(kind) or {}).get("groups") or {}
        if groups:  # the mixture as achieved (requested): "mixed: a.jsonl 30 (30), b 10 (20)"
            mixed = ", ".join(f"{g} {v['achieved']} ({v['requested']})" for g, v in groups.items())
            notes = "; ".join(n for n in (notes, f"mixed, achieved (requested): {mixed}") if n)
        outputs.add_row(kind, str(meta["rows"]), notes)
    console.print(outputs)
    out = report["out_dir"]
    console.print(f"wrote {out}/ — datasets, rejects/ (every dropped row with its reason), "
                  f"report.json ({report['seconds']:.1f} s)", soft_wrap=True)


def _agreement_line(s: dict) -> str:
    """One line per label step: what agreed, how much (κ / α / Cohen's κ), what was dropped."""
    def num(x):
        return "n/a" if x is None else f"{x:.3g}"
    if s["name"] == "judge_agreement":
        return (f"judge agreement: {s['step']}: {s.get('judge')} vs {s.get('reference')} on "
                f"{s.get('compared')} labelled rows: {num(s.get('agreement'))} agree, Cohen's "
                f"κ {num(s.get('cohen_kappa'))}")
    return (f"label agreement: {s['step']}: {s.get('items_with_several_votes')} of "
            f"{s.get('items')} items with several votes, Fleiss' κ {num(s.get('fleiss_kappa'))}, "
            f"Krippendorff's α {num(s.get('krippendorff_alpha'))} ({s.get('alpha_metric')}), "
            f"{s.get('items_dropped')} dropped ({s.get('method')})")


def print_dry_run(loaded, sources: list[dict], rows: int) -> None:
    console = Console()
    console.print(f"[bold]dry run[/bold] {loaded.recipe.name}: {rows} rows from "
                  f"{len(sources)} source(s)")
    for s in sources:
        console.print(f"  {s['source']}: format {s['format']} ({s['kind']}), {s['records']} "
                      f"records → {s['rows']} rows, {s['rejected']} unreadable")
    for spec in loaded.steps:
        console.print(f"  {spec.location}: {spec.params.model_dump(mode='json')}")
    console.print(f"  outputs → {loaded.out_dir}")


def print_steps() -> None:
    from datatools.registry import STEPS

    console = Console()
    for name, cls in sorted(STEPS.items()):
        doc = " ".join((cls.__doc__ or "").split())
        console.print(f"[bold]{name}[/bold] — {doc}")
        needs, adds, note = step_columns(cls)
        console.print(f"  needs: {', '.join(needs) or '—'}   adds: {', '.join(adds) or '—'}"
                      f"{note}")
        for field, info in cls.Params.model_fields.items():
            default = "required" if info.is_required() else repr(info.get_default(call_default_factory=True))
            if len(default) > 60:  # long prompt templates: show the start only
                default = default[:57] + "...'"
            console.print(f"  {field} = {default}  {info.description or ''}")


def step_columns(cls) -> tuple[list[str], list[str], str]:
    """(needed, added, note) from an instance with default params: the columns a step declares
    are instance methods (they follow its params), not class attributes. A step whose params
    have required fields is built from their defaults only (`model_construct`)."""
    from pydantic import ValidationError

    note = ""
    try:
        step = cls(cls.Params())
    except ValidationError:
        step = cls(cls.Params.model_construct())
        note = "   (with default params; depends on the required ones)"
    try:
        return sorted(step.required_columns()), sorted(step.produced_columns()), note
    except (AttributeError, TypeError, KeyError):  # columns computed from a required param
        return sorted(cls.requires), sorted(cls.produces), "   (depends on params)"
