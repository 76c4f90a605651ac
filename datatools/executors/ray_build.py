"""A whole build on Ray, streamed: no step, builder or writer holds the whole frame here.

Sources are read a piece at a time into Ray's object store (`ray_read.BlockSink`); the steps
run as lazy chains of block tasks (`ray_steps.RaySteps`); the builders run in the same block
tasks after the last step, each block writing its dataset rows, skipped-record ledger rows
and candidate rows as part files; the driver then writes each output file a part at a time,
in frame order (unary: balanced and interleaved from its parts, `ray_unary`). The driver's
memory is about one block, whatever the number of records; Ray's object store spills to disk.

A mixture (`mix:` / `sources[].weight`) samples the whole dataset: such a recipe's outputs
are built from the collected frame as the local executor builds them; the report says why
(`executor_streamed`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from datatools.executors.ray_blocks import BLOCK_SHIFT, ORDER, collect
from datatools.executors.ray_read import BlockSink
from datatools.executors.ray_steps import RaySteps, partitions, ray_session
from datatools.outputs import FilePart, Ledger, Parts, write_outputs
from datatools.pipeline import (BuildResult, build_datasets, build_report, dataset_metadata,
                                finish_build, min_rows_gate, read_sources,
                                steps_after_last_score)

# the kinds whose blocks' counts add up to the dataset's (unary's are settled in ray_unary)
TALLIED_KINDS = ("pairwise", "sft", "prompts")
GONE_COLUMNS = ["id", "score", "label", "reason"]  # what `ranking.best_dropped` reads


def not_streamed(loaded) -> str | None:
    """Why this recipe's outputs must be built from the collected frame; None to stream."""
    recipe = loaded.recipe
    if recipe.mixture():
        return "a mixture (mix: / sources[].weight) samples the whole dataset"
    return None


def build_on_ray(loaded, out, ctx, limit, use_cache: bool, profile, started: float):
    spec = loaded.recipe.executor
    with ray_session(spec, quiet=ctx.quiet) as ray:
        sink = BlockSink(spec.block_rows, spec.read_tasks)
        _, read_ledger, sources, fingerprint = read_sources(loaded, limit, ctx.quiet, profile,
                                                            sink=sink)
        rows_read = sum(s["rows"] for s in sources)
        ledger = Ledger()  # in build order: reading, the steps, the builders
        ledger.add_rows(read_ledger)
        steps = RaySteps(loaded, ctx, use_cache, ledger)
        with profile.phase("steps (ray executor)"):
            ds = steps.run(sink.dataset(partitions(spec, ray)), fingerprint, rows_read)
        why_not = not_streamed(loaded)
        if why_not is not None:
            with profile.phase("steps (ray executor): collect"):
                frame = collect(ds)
                reports = steps.finish()
            return finish_build(loaded, out, ctx, frame, reports, ledger, sources, rows_read,
                                started, profile, {"executor_streamed": f"no: {why_not}"})
        parts_dir = steps.books_root / "outputs"
        shutil.rmtree(parts_dir, ignore_errors=True)
        parts_dir.mkdir(parents=True)
        after_score = steps_after_last_score(loaded, ctx)
        # a step run on the driver wrote all its rejected rows as one part (not per block):
        # its narrow columns are read here and given to every block task whole
        after = [(item.name, books if not steps.ran_as[item.index].startswith("driver")
                  else _whole_part(books)) for i, (item, books) in enumerate(steps.planned)
                 if i in after_score]
        with profile.phase("steps + builders (ray, streamed)"):
            task = builder_task(loaded, after, parts_dir)
            tallies = pl.concat([pl.from_arrow(t) for t in ray.get(ds.map_batches(
                task, batch_format="pyarrow", batch_size=None,
                zero_copy_batch=True).to_arrow_refs())], how="vertical_relaxed")
            reports = steps.finish()
    return _write(loaded, out, ctx, tallies, parts_dir, reports, ledger, sources, rows_read,
                  started, profile)


def builder_task(loaded, after: list[tuple[str, Path]], parts_dir: Path):
    """Block → the recipe's per-record datasets, written as parts; returns the block's tally.

    A record's rejected rows were split off its own block (blocks hold whole records and keep
    their number), so the answers a step dropped from this block's records — the ones the
    builders must not promote past (`ranking.best_dropped`) — are in the books parts that
    this block's number names."""
    outputs = loaded.recipe.outputs
    kinds = [k for k in TALLIED_KINDS if getattr(outputs, k, None) is not None]

    def run(table):
        frame = pl.from_arrow(table)
        if frame.height == 0:
            return _tally(kinds, None, 0, 0, {}).to_arrow()
        first = int(frame[ORDER][0])
        gone = [(name, pl.concat(parts, how="vertical_relaxed"))
                for name, books in after if (parts := _block_parts(books, first))]
        from datatools.builders.ranking import best_dropped

        frame = frame.drop(ORDER)
        datasets, skipped, metadata = build_datasets(loaded, frame, best_dropped(frame, gone),
                                                     block=True)
        name = f"{first:020d}"
        for kind, data in datasets.items():
            _part(parts_dir / kind, name, data)
        for kind, rows in zip(datasets, skipped):
            if rows.height:
                (parts_dir / f"skipped-{kind}").mkdir(exist_ok=True)
                rows.write_parquet(parts_dir / f"skipped-{kind}" / f"{name}.parquet")
        if outputs.candidates != "none":
            texts = ("prompt", "completion", "meta") if outputs.candidates == "scores" else ()
            _part(parts_dir / "candidates", name, frame.drop(texts, strict=False))
        return _tally(kinds, first, frame.height, frame["id"].n_unique(), metadata).to_arrow()

    return run


def _whole_part(books: Path) -> pl.DataFrame:
    parts = [pl.read_parquet(f, columns=GONE_COLUMNS) for f in sorted(books.glob("*.parquet"))]
    return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()


def _block_parts(books, first: int) -> list[pl.DataFrame]:
    if isinstance(books, pl.DataFrame):  # a driver-run step's rejected rows, whole
        return [books] if books.height else []
    block = first >> BLOCK_SHIFT
    return [pl.read_parquet(f, columns=GONE_COLUMNS) for f in sorted(books.glob("*.parquet"))
            if int(f.stem) >> BLOCK_SHIFT == block]


def _part(folder: Path, name: str, data: pl.DataFrame) -> None:
    folder.mkdir(exist_ok=True)
    data.write_ipc(folder / f"{name}.arrow", compression="uncompressed")


def _tally(kinds, first, rows: int, records: int, metadata: dict) -> pl.DataFrame:
    row = {"first": first, "rows": rows, "records": records}
    for kind in kinds:
        meta = metadata.get(kind, {})
        row[f"{kind}.rows"] = meta.get("rows", 0)
        row[f"{kind}.records"] = meta.get("records", 0)
        if kind == "prompts":
            splits = meta.get("splits", {})
            row["prompts.train"], row["prompts.test"] = (splits.get("train", 0),
                                                         splits.get("test", 0))
    return pl.DataFrame([row], schema={k: pl.Int64 for k in row})


def _tallied(loaded, kind: str, tallies: pl.DataFrame, parts_dir: Path):
    """A per-block dataset's parts and metadata (its blocks' counts added up)."""
    paths = sorted((parts_dir / kind).glob("*.arrow"))
    if not paths:  # no block had rows: the builders' empty result gives the schema
        from datatools.frame import empty_frame

        empty = build_datasets(loaded, empty_frame())[0][kind]
    else:
        empty = pl.read_ipc(paths[0], n_rows=0)
    rows = int(tallies[f"{kind}.rows"].sum())
    extra = ({"splits": {"train": int(tallies["prompts.train"].sum()),
                         "test": int(tallies["prompts.test"].sum())}}
             if kind == "prompts" else {})
    return Parts(paths, empty, rows), dataset_metadata(
        loaded, kind, rows, int(tallies[f"{kind}.records"].sum()), extra)


def _write(loaded, out, ctx, tallies, parts_dir, reports, ledger, sources, rows_read,
           started, profile) -> BuildResult:
    from datatools.builders import BUILDERS
    from datatools.builders.ledger import why_empty
    from datatools.executors.ray_unary import unary_from_parts

    final_rows, final_records = int(tallies["rows"].sum()), int(tallies["records"].sum())
    min_rows_gate(loaded, final_rows)
    outputs = loaded.recipe.outputs
    datasets, metadata, skipped = {}, {}, []
    for kind in BUILDERS:  # the local build's order: datasets, report, ledger
        if getattr(outputs, kind, None) is None:
            continue
        if kind == "unary":
            datasets[kind], metadata[kind], parts = unary_from_parts(loaded, parts_dir)
        else:
            datasets[kind], metadata[kind] = _tallied(loaded, kind, tallies, parts_dir)
            skipped_dir = parts_dir / f"skipped-{kind}"
            parts = [FilePart(f) for f in sorted(skipped_dir.glob("*.parquet"))]
        for part in parts:
            ledger.add_rows(part)
        skipped.extend(parts)
    candidates = sorted((parts_dir / "candidates").glob("*.arrow"))
    frame = (Parts(candidates, pl.read_ipc(candidates[0], n_rows=0),
                   final_rows) if candidates else pl.DataFrame())
    report = build_report(loaded, out.dir, ctx, sources, rows_read, reports, final_rows,
                          final_records, metadata, {}, ledger, started, {"executor_streamed": "yes"})
    write_outputs(out, frame, ledger, datasets, metadata, report, profile,
                  candidates=outputs.candidates if candidates else "none",
                  report_html=outputs.report_html)
    empty = why_empty({k: d.height for k, d in datasets.items()}, skipped, final_rows,
                      final_records, rows_read)
    shutil.rmtree(parts_dir, ignore_errors=True)  # all written (the skipped rows too)
    if empty:
        from datatools.schemas.errors import Problem, QualityGateError

        raise QualityGateError(Problem("outputs", f"{empty}; the ledger is in {out.dir}/rejects/"))
    return BuildResult(out.dir, report, None, {}, profile)
