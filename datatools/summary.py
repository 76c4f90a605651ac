"""Human-readable tables for the CLI (rich)."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _top(by_reason: dict[str, int], n: int = 3) -> str:
    return ", ".join(f"{k} {v}" for k, v in list(by_reason.items())[:n])


def print_summary(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"build {report['name']}", title_justify="left")
    for col in ("step", "rows in", "kept", "rejected", "top reasons", "s", "cached"):
        table.add_column(col, justify="right" if col in ("rows in", "kept", "rejected", "s") else "left")
    for src in report["sources"]:
        table.add_row(f"read {src['source']} ({src['format']})", str(src["records"]),
                      str(src["rows"]), str(src["rejected"]), _top(src["by_reason"]),
                      f"{src['seconds']:.2f}", "")
    for s in report["steps"]:
        table.add_row(s["location"], str(s["rows_in"]), str(s["kept"]), str(s["rejected"]),
                      _top(s["by_reason"]), f"{s['seconds']:.2f}", "yes" if s["cached"] else "")
    console.print(table)
    outputs = Table(title="outputs", title_justify="left")
    for col in ("dataset", "rows", "notes"):
        outputs.add_column(col)
    for kind, meta in report["outputs"].items():
        notes = ""
        if kind == "unary":
            notes = (f"desirable {meta['n_desirable']} × λ_D {meta['desirable_weight']:.3g}, "
                     f"undesirable {meta['n_undesirable']} × λ_U {meta['undesirable_weight']:.3g}")
        outputs.add_row(kind, str(meta["rows"]), notes)
    console.print(outputs)
    console.print(f"ledger: {report['ledger']['total']} dropped rows with reasons → "
                  f"{report['out_dir']}/rejects/   report → {report['out_dir']}/report.json   "
                  f"({report['seconds']:.1f} s)")


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
        doc = (cls.__doc__ or "").strip().replace("\n", " ")
        console.print(f"[bold]{name}[/bold] — {doc}")
        produces = ", ".join(cls.produces) or "—"
        console.print(f"  needs: {', '.join(cls.requires) or '—'}   adds: {produces}")
        for field, info in cls.Params.model_fields.items():
            default = "required" if info.is_required() else repr(info.get_default(call_default_factory=True))
            console.print(f"  {field} = {default}  {info.description or ''}")
