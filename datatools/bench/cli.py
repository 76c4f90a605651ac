"""`datatools bench ...`: benchmark commands (mounted by the main CLI)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

bench_app = typer.Typer(help="Benchmarks", no_args_is_help=True, rich_markup_mode=None)


def _table(title: str, result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in result.items():
        table.add_row(k, f"{v:,}" if isinstance(v, int) else str(v))
    Console().print(table)


@bench_app.command("dedup")
def dedup(
    docs: int = typer.Option(100_000, "--docs", min=100, help="documents in the synthetic corpus"),
    words: int = typer.Option(200, "--words", min=10, help="words per document"),
    seed: int = typer.Option(0, "--seed", help="corpus seed"),
    threshold: float = typer.Option(0.8, "--threshold", help="true-Jaccard threshold"),
    no_baseline: bool = typer.Option(False, "--no-baseline",
                                     help="skip the datasketch and rensa baselines"),
    in_memory_only: bool = typer.Option(False, "--in-memory-only",
                                        help="skip the whole-process build of ours"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="also write the results here"),
):
    """Near-dedup on a corpus of near-duplicate families with hard negatives: docs/s in memory
    and as a whole process (ours through `datatools build`), recall / precision, peak RSS;
    datasketch and rensa (optional: `pip install datatools[bench]`) in the same run."""
    from datatools.bench.dedup import run_dedup_bench

    result = run_dedup_bench(docs=docs, words=words, seed=seed, threshold=threshold,
                             baselines=() if no_baseline else ("datasketch", "rensa"),
                             whole_process=not in_memory_only)
    _table("near_dedup benchmark", result)
    _write_json(json_path, result)


@bench_app.command("build")
def build(
    records: int = typer.Option(1_000_000, "--records", min=100,
                                help="synthetic pairwise preference records"),
    seed: int = typer.Option(0, "--seed", help="data seed"),
    no_cache: bool = typer.Option(False, "--no-cache", help="skip the per-step cache writes"),
    profile: bool = typer.Option(False, "--profile",
                                 help="also print wall and CPU seconds per phase"),
    data: Optional[Path] = typer.Option(
        None, "--data", help="keep the generated JSONL here and reuse it when it exists"),
    executor: str = typer.Option("local", "--executor", help="local | ray (a local Ray instance)"),
    num_cpus: Optional[int] = typer.Option(None, "--num-cpus", min=1,
                                           help="ray: CPUs of the local instance"),
    object_store_mb: Optional[int] = typer.Option(
        None, "--object-store-mb", min=64,
        help="ray: object store MiB of the local instance (beyond it, blocks spill to disk)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="also write the results here"),
):
    """A real build (validate + exact_dedup + near_dedup + length → pairwise) over synthetic
    records, run as `datatools build` in its own process: whole-process wall and CPU seconds,
    CPU/wall, peak RSS, seconds per step. Targets at 1M: ≤ 30 s, ≤ 3 GiB, CPU/wall ≥ 1.6."""
    from datatools.bench.build import run_build_bench

    result = run_build_bench(records=records, seed=seed, use_cache=not no_cache, data=data,
                             executor=executor, num_cpus=num_cpus,
                             object_store_mb=object_store_mb)
    _table("build benchmark", {k: v for k, v in result.items()
                               if not isinstance(v, (dict, list))})
    if profile:
        from datatools.profiling import print_profile

        print_profile(result["profile"], console=_console())
    _write_json(json_path, result)


def _write_json(path: Optional[Path], result: dict) -> None:
    """The results as JSON, its folder made if missing (a long run must not end in an error)."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))


def _console():
    from rich.console import Console

    return Console()


@bench_app.callback()
def _group() -> None:
    """Benchmarks (a callback keeps `dedup` a subcommand even while it is the only one)."""
