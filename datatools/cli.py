"""`datatools`: a thin typer CLI over the library. Heavy imports stay inside the commands."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

# polars allocates through its own jemalloc, which keeps freed pages for ~10 s by default. A
# big build frees and reallocates GBs in that time (each filter replaces the frame's string
# views), so the resident size grows with allocator reserve rather than data: hand freed
# pages back within 250 ms, from a background thread (no change in build time measured;
# −0.1 to −0.5 GB resident through a 1M-record build). Must be set before polars is imported,
# which the commands do lazily; a user's own _RJEM_MALLOC_CONF wins.
os.environ.setdefault("_RJEM_MALLOC_CONF",
                      "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0")

import typer  # noqa: E402

from datatools.cli_errors import UserErrorsGroup  # noqa: E402

app = typer.Typer(
    cls=UserErrorsGroup,
    help="Build cleaned SFT / pairwise (DPO) / unary (KTO) datasets from a YAML recipe, "
    "and train LoRA adapters on them.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    # plain click help: rendering it with rich cost more than the rest of start-up together,
    # and rich's layout printed a `<bool>` metavar after every flag
    rich_markup_mode=None,
)


@app.command()
def build(
    recipe: Path = typer.Argument(..., help="recipe YAML"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (overrides outputs.dir)"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="read at most N records per source"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check the recipe and sources, run nothing"),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute every step"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or summary"),
    executor: Optional[str] = typer.Option(
        None, "--executor", help="local | ray: where the steps run (overrides the recipe's "
        "executor.kind)"),
    force: bool = typer.Option(False, "--force", help="build into a non-empty folder no build "
                               "wrote (it is moved aside into the build store, not deleted)"),
    profile: Optional[Path] = typer.Option(
        None, "--profile", help="write wall and CPU seconds per phase (start-up, read, each "
        "step, builders, each output) to this JSON file, and print them unless --quiet"),
):
    """Run a recipe: read, clean, generate, judge, and write the datasets + ledger + report."""
    from datatools.profiling import Profile

    timings = Profile()
    timings.startup()  # process start → here: interpreter, the CLI's imports
    with timings.phase("load recipe"):
        from datatools.recipe import load_recipe
        from datatools.summary import print_dry_run, print_summary

        loaded = load_recipe(recipe)
    if dry_run:
        from datatools.pipeline import read_sources

        frame, ledger, sources, _ = read_sources(loaded, limit)
        print_dry_run(loaded, sources, frame.height)
        return
    with timings.phase("import pipeline"):
        from datatools.pipeline import run_build

    if executor is not None and executor not in ("local", "ray"):
        raise typer.BadParameter(f"{executor!r}: choose local or ray", param_hint="--executor")
    result = run_build(loaded, out_dir=out, limit=limit, quiet=quiet, use_cache=not no_cache,
                       executor=executor, force=force, profile=timings)
    if not quiet:
        print_summary(result.report)
    if profile is not None:
        from datatools.profiling import print_profile

        profile.write_text(json.dumps({"phases": timings.table()}, indent=2))
        if not quiet:
            print_profile(timings.table())
    # Everything is written. Python's last garbage collection at exit would walk every object
    # still alive (0.2-0.25 s after a 100k-document build, measured); frozen objects are
    # skipped, and their memory goes back with the process anyway.
    import gc

    gc.freeze()


@app.command()
def validate(recipe: Path = typer.Argument(..., help="recipe YAML")):
    """Check a recipe (keys, step names, params, columns) without reading any data."""
    from datatools.recipe import load_recipe

    loaded = load_recipe(recipe)
    typer.echo(f"ok: {recipe} — {len(loaded.recipe.sources)} source(s), "
               f"{len(loaded.steps)} step(s), outputs → {loaded.out_dir}")


@app.command()
def inspect(path: str = typer.Argument(..., help="a data file or folder")):
    """Detected format, counts, length statistics and duplicate counts of a data file."""
    from datatools.inspect import inspect_path

    typer.echo(json.dumps(inspect_path(path), indent=2, ensure_ascii=False, default=str))


@app.command()
def convert(
    src: str = typer.Argument(..., metavar="IN", help="input file in any supported format"),
    dst: str = typer.Argument(..., metavar="OUT", help="output file (.jsonl, .json or .parquet)"),
    to: str = typer.Option("trl", "--to", help="trl | swift | sharegpt | alpaca"),
):
    """Convert a dataset between formats without a recipe."""
    from datatools.convert import convert_path

    typer.echo(json.dumps(convert_path(src, dst, to), indent=2, default=str))


@app.command()
def steps():
    """Every step with its params and the columns it needs and adds."""
    from datatools.summary import print_steps

    print_steps()


@app.command()
def schema():
    """Print the recipe's JSON Schema (for editor completion)."""
    from datatools.recipe import recipe_json_schema

    typer.echo(json.dumps(recipe_json_schema(), indent=2))


def _mount() -> None:
    """Commands that live with their packages: train / merge / flag-pairs, push / report, bench,
    models."""
    from datatools.bench.cli import bench_app
    from datatools.models.cli import models_app
    from datatools.publish.cli import register as register_publish
    from datatools.train.cli import register as register_train, register_bench as register_train_bench
    from datatools.train.loop_cli import register as register_loop

    register_train(app)
    register_publish(app)
    register_train_bench(bench_app)
    register_loop(app, bench_app)
    app.add_typer(bench_app, name="bench")
    app.add_typer(models_app, name="models")


_mount()


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
