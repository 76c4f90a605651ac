"""The step cache: one folder per step under OUT/.cache/steps/, keyed by the chain of source
content hash, step names, params and model identities (see `pipeline.run_steps`).

A folder holds the step's rejected rows, its stats, and either the whole kept frame or, for a
step that only filters rows and adds columns (`Step.filters_rows`), a kept-row mask and the
added columns; `form.json` says which, and `done` is written last.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from datatools.frame import stable_id
from datatools.parquet_out import write_parquet
from datatools.step import Step
from datatools.step_inputs import inputs_token


def step_key(previous: str, name: str, params: dict, step: Step, workdir: Path) -> str:
    """A step's cache key: the previous key (the chain starts at the sources' content hash)
    with this step's name, params, model identities (`cache_token`) and the content of every
    file its params name. Changing one step reruns it and everything after, nothing before."""
    return stable_id(previous, name, params, step.cache_token(), inputs_token(params, workdir))


def kept_rows_of(step: Step, frame: pl.DataFrame, kept: pl.DataFrame,
                 rejected: pl.DataFrame) -> tuple[pl.Series, list[str]] | None:
    """For a step that only filters rows and adds columns: which input rows it kept, and the
    columns it added. None when that cannot be told (then the whole kept frame is cached)."""
    if not step.filters_rows or frame["candidate_id"].null_count():
        return None
    mask = ~frame["candidate_id"].is_in(rejected["candidate_id"].implode())
    if mask.sum() != kept.height:  # candidate ids not unique: cannot tell rows apart
        return None
    produced = step.produced_columns()
    return mask, [c for c in kept.columns if c in produced or c not in frame.columns]


def store_step(folder: Path, kept: pl.DataFrame, rejected: pl.DataFrame, stats: dict,
               kept_rows: tuple[pl.Series, list[str]] | None) -> None:
    """`_store`, or a warning when the cache cannot be written (a full disk): the build goes
    on without this entry, and the outputs' own write says clearly if space runs out."""
    import shutil
    import sys

    try:
        _store(folder, kept, rejected, stats, kept_rows)
    except OSError as err:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"warning: step cache {folder} not written ({err}); the step will be computed "
              "again next time", file=sys.stderr)


def _store(folder: Path, kept: pl.DataFrame, rejected: pl.DataFrame, stats: dict,
           kept_rows: tuple[pl.Series, list[str]] | None) -> None:
    """Cache a step's result. A filtering step stores which input rows it kept and the
    columns it added, not a copy of the frame: at a million records a copy was ~1.5 GB of
    disk and ~10 s per step; the input is at hand on a rerun anyway (the previous step's
    output, or the sources, which are always read)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "done").unlink(missing_ok=True)
    form = {"form": "frame", "columns": kept.columns}
    if kept_rows is not None:
        mask, added = kept_rows
        form.update(form="mask", added=added, rows_in=len(mask))
        write_parquet(mask.alias("kept").to_frame(), folder / "kept_mask.parquet")
        write_parquet(kept.select(added), folder / "added.parquet")
    else:
        write_parquet(kept, folder / "kept.parquet")  # bounded memory (see outputs)
    write_parquet(rejected, folder / "rejected.parquet")
    (folder / "stats.json").write_text(json.dumps(stats, default=str))
    (folder / "form.json").write_text(json.dumps(form))
    (folder / "done").touch()  # written last: a killed step is simply redone


def load_step(folder: Path, frame: pl.DataFrame):
    """(kept, rejected, stats) from a step's cache, or None to run the step (also when the
    entry is unreadable: a warning names it and the step is computed again)."""
    if not (folder / "done").exists() or not (folder / "form.json").exists():
        return None
    try:
        return _load(folder, frame)
    except Exception as err:  # noqa: BLE001 - any damage to a cache entry means "recompute"
        import sys

        print(f"warning: step cache {folder} is unreadable ({type(err).__name__}: "
              f"{str(err).splitlines()[0] if str(err) else ''}); computing the step again "
              "(--no-cache ignores the cache)", file=sys.stderr)
        return None


def _load(folder: Path, frame: pl.DataFrame):
    form = json.loads((folder / "form.json").read_text())
    if form["form"] == "mask":
        if form["rows_in"] != frame.height:
            return None  # not this input after all: run the step again
        mask = pl.read_parquet(folder / "kept_mask.parquet")["kept"]
        added = pl.read_parquet(folder / "added.parquet")
        base = frame.filter(mask)
        kept = base.drop([c for c in added.columns if c in base.columns]).hstack(added)
        kept = kept.select(form["columns"])
    else:
        kept = pl.read_parquet(folder / "kept.parquet")
    rejected = pl.read_parquet(folder / "rejected.parquet")
    return kept, rejected, json.loads((folder / "stats.json").read_text())
