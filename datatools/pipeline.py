"""Recipe → read sources → run steps (cached) → build datasets → write outputs + ledger + report.

The pipeline, not the steps, keeps the books: it writes every rejected row to the ledger and
checks, for every step, that rows_in == kept + rejected.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datatools import __version__
from datatools.builders.ledger import why_empty
from datatools.builders.ranking import best_dropped
from datatools.frame import LEDGER_SCHEMA, stable_id, unique_record_ids
from datatools.gates import one_class_gate
from datatools.memory import release_free_memory
from datatools.out_folder import OutFolder
from datatools.outputs import Ledger, write_outputs
from datatools.profiling import Profile
from datatools.recipe import LoadedRecipe
from datatools.redact import redact
from datatools.step import Step, StepContext, step_stats
from datatools.step_cache import kept_rows_of, load_step, step_key, store_step
from datatools.step_models import plan_models, step_finished
from datatools.schemas.errors import ConfigError, Problem, QualityGateError


@dataclass
class StepReport:
    name: str
    location: str
    rows_in: int
    kept: int
    rejected: int
    by_reason: dict[str, int]
    seconds: float
    cached: bool
    records_in: int = 0
    records_out: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    out_dir: Path
    report: dict[str, Any]
    frame: pl.DataFrame | None  # None (and no datasets) when a Ray build streamed them: they
    datasets: dict[str, pl.DataFrame]  # are in OUT only
    profile: Profile = field(default_factory=Profile)

    @property
    def ledger(self) -> pl.DataFrame:
        """Every dropped row with its reason, as written to OUT/rejects/rejects.parquet."""
        return pl.read_parquet(self.out_dir / "rejects" / "rejects.parquet")


def _by_reason(rejected: pl.DataFrame) -> dict[str, int]:
    if rejected.height == 0:
        return {}
    counts = rejected.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    return dict(counts.iter_rows())


def read_sources(loaded: LoadedRecipe, limit: int | None = None, quiet: bool = False,
                 profile: Profile | None = None, sink=None):
    """All sources → one canonical frame, read-ledger, per-source summaries, a fingerprint.
    `sink.for_source(i)(piece)`: each piece of source i's frame goes there as it is read
    (the Ray executor's streaming read, `ray_read.BlockSink`); the frame returned is then
    None, and the pieces' ids are deferred (`readers.rows.DeferredIds`: the sink's owner
    settles them)."""
    from datatools.progress import progress_bar
    from concurrent.futures import ThreadPoolExecutor

    from datatools.readers import read_source

    profile = profile or Profile()
    frames, ledgers, summaries = [], [], []
    # the files' content hashes (a full read of each: 0.43 s for 2.3 GB) are made on a thread
    # beside the reading (xxhash releases the GIL), not after it
    hashing = ThreadPoolExecutor(1)
    hashes = [hashing.submit(_fingerprint_source, s, loaded.workdir)
              for s in loaded.recipe.sources]
    try:
        for index, source in enumerate(loaded.recipe.sources):
            started = time.perf_counter()
            piece_sink = None if sink is None else sink.for_source(index)
            with progress_bar(None, f"read {source.name}", quiet=quiet), \
                    profile.phase(f"read {source.name}"):
                result = read_source(source, loaded.workdir, limit=limit, sink=piece_sink)
            frames.append(result.frame)
            ledgers.append(result.rejects)
            summaries.append(dict(
                source=source.name, format=result.format, kind=result.kind,
                records=result.records, rows=result.rows, rejected=result.rejects.height,
                by_reason=_by_reason(result.rejects),
                seconds=round(time.perf_counter() - started, 3),
                scores_synthesised=result.scores_synthesised, notes=result.notes(),
            ))
        prints = [h.result() for h in hashes]
    finally:
        hashing.shutdown(cancel_futures=True)
    release_free_memory()  # the parsed lines: ~0.2 GB after a million records
    # A recipe has at least one source; one frame is used as it is (no concat copy). Ids are
    # unique within a source (the reader makes them so); across sources they may collide.
    if sink is not None:
        frame = None
    elif len(frames) == 1:
        frame = frames[0]
    else:
        frame = unique_record_ids(pl.concat(frames, how="diagonal_relaxed", rechunk=False))
    ledger = pl.concat(ledgers, how="diagonal_relaxed") if ledgers else pl.DataFrame(schema=LEDGER_SCHEMA)
    return frame, ledger, summaries, stable_id(prints, limit, __version__)


def _fingerprint_source(source, workdir: Path) -> Any:
    """Content hash of local files (a changed file invalidates every cached step)."""
    import xxhash

    spec = source.model_dump()
    if source.path is None:
        return spec  # Hub: id + revision + split identify it
    path = Path(source.path).expanduser()
    path = path if path.is_absolute() else workdir / path
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = xxhash.xxh3_128()
    for f in files:
        if f.exists():
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
    return [spec, h.hexdigest()]


def run_step(step: Step, frame: pl.DataFrame, location: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    kept, rejected = step(frame)
    problem = accounting_problem(step, frame, kept, rejected)
    if problem:
        raise RuntimeError(f"{location}: {problem}")
    return kept, rejected


def accounting_problem(step: Step, frame: pl.DataFrame, kept: pl.DataFrame,
                       rejected: pl.DataFrame) -> str | None:
    """Why (kept, rejected) cannot be this step's result on `frame`; None when the books
    balance. Checked on every run and on every cache entry loaded."""
    if "reason" not in rejected.columns or rejected["reason"].null_count():
        return f"step {step.name!r} rejected rows without a reason code"
    if step.row_preserving:
        if kept.height + rejected.height != frame.height:
            return (f"rows_in {frame.height} != kept {kept.height} + rejected "
                    f"{rejected.height}: step {step.name!r} lost or invented rows")
    else:
        accounted = set(kept["id"].unique()) | set(rejected["id"].unique())
        lost = set(frame["id"].unique()) - accounted
        if lost:
            return f"step {step.name!r} lost {len(lost)} record(s), e.g. {sorted(lost)[:3]}"
    return None


def _gate(loaded: LoadedRecipe, report: StepReport) -> None:
    gate = loaded.recipe.gates.max_drop_rate
    limit = gate.get(report.name, gate.get("*")) if isinstance(gate, dict) else gate
    # kept + rejected == rows_in for filters; for steps that add rows (generate) it counts
    # what the step produced, so the rate is "share of its output that failed".
    total = report.kept + report.rejected
    if limit is None or total == 0:
        return
    rate = report.rejected / total
    if rate > limit:
        top = ", ".join(f"{k}: {v}" for k, v in list(report.by_reason.items())[:3])
        raise QualityGateError(Problem(
            report.location, f"rejected {report.rejected}/{total} rows ({rate:.1%}), "
            f"over gates.max_drop_rate {limit:.1%} (top reasons: {top})"))


def run_steps(loaded: LoadedRecipe, frame: pl.DataFrame | list[pl.DataFrame], fingerprint: str,
              ctx: StepContext, use_cache: bool = True, ledger: Ledger | None = None,
              profile: Profile | None = None):
    """Run every step in order; reuse a step's cached output when its key is unchanged.

    A step's key chains the previous key with its name, params and cache token, so changing
    one step's params reruns from that step on and nothing before it. Pass the frame inside a
    one-item list to hand over the only reference: each step's input is then freed as soon as
    the step is done (at a million records a frame is gigabytes). Rejected rows are added to
    `ledger` (a new one when none is given), which is returned. Each model a step loads
    (ctx.models) is released after the last step that names it (`step_models`).
    """
    handover = frame if isinstance(frame, list) else [frame]
    del frame  # the steps below hold the only reference (when the caller handed it over)
    try:
        return _steps_in_order(loaded, handover, fingerprint, ctx, use_cache, ledger, profile)
    finally:  # after a failed step too, and for keys planned for steps that never ran
        ctx.models.release_all()


def _steps_in_order(loaded, handover: list, fingerprint, ctx, use_cache, ledger, profile):
    from datatools.registry import STEPS

    frame = handover.pop()

    cache = ctx.cache_dir / "steps" if ctx.cache_dir else None
    key = fingerprint
    reports, ledger = [], ledger if ledger is not None else Ledger()
    profile = profile or Profile()
    for spec, model_keys in zip(loaded.steps, plan_models(loaded, ctx)):
        first_event = len(ctx.models.events)
        phase = profile.start()
        step = STEPS[spec.name](spec.params, ctx)
        params = spec.params.model_dump(mode="json")
        key = step_key(key, spec.name, params, step, ctx.workdir)
        rows_in, records_in = frame.height, frame["id"].n_unique()
        started = time.perf_counter()
        folder = cache / f"{spec.index:02d}-{spec.name}-{key}" if cache else None
        loaded_cache = load_step(folder, frame) if use_cache and folder else None
        if loaded_cache is not None and accounting_problem(step, frame, *loaded_cache[:2]):
            loaded_cache = None  # not this step's result on this input: compute it again
        cached = loaded_cache is not None
        if cached:
            frame = None
            kept, rejected, stats = loaded_cache
        else:
            try:
                kept, rejected = run_step(step, frame, spec.location)
            except (QualityGateError, ConfigError) as err:  # a step knows its params, not
                # where it stands in the recipe (a gate, a model that does not load)
                raise type(err)([Problem(f"{spec.location}.{p.location.split('.', 1)[-1]}"
                                         if p.location else spec.location, p.message)
                                 for p in err.problems]) from None
            stats = step_stats(step)
            kept_rows = kept_rows_of(step, frame, kept, rejected) if folder else None
            frame = None  # the input's own arrays are freed before the cache writes, not after
            if folder:
                store_step(folder, kept, rejected, stats, kept_rows)
        step_finished(ctx, model_keys, spec.location, first_event)
        report = StepReport(
            name=spec.name, location=spec.location, rows_in=rows_in, kept=kept.height,
            rejected=rejected.height, by_reason=_by_reason(rejected),
            seconds=round(time.perf_counter() - started, 3), cached=cached,
            records_in=records_in, records_out=kept["id"].n_unique(), stats=stats,
        )
        reports.append(report)
        ledger.add_rejected(spec.name, rejected)
        profile.stop(f"{spec.index}. {spec.name}", phase)
        _gate(loaded, report)
        frame = kept
        del kept, rejected  # one name per frame: `frame = None` above really frees the input
        release_free_memory()
    return frame, reports, ledger


def records_that_lost_their_best(loaded: LoadedRecipe, ctx: StepContext, frame: pl.DataFrame,
                                 reports: list, ledger: Ledger) -> dict[str, str]:
    """{record id: which step dropped its best answer}, from the steps' rejected rows after
    the last step that writes `score` (a judge re-ranks what it sees)."""
    after_score = steps_after_last_score(loaded, ctx)
    parts = iter(part for step, part in ledger.parts if step is not None)
    after = []
    for i, report in enumerate(reports):  # a step's rejected rows, in one or more parts
        taken = 0
        while taken < report.rejected:
            part = next(parts)
            taken += part.height
            if i in after_score:
                after.append((report.name, part if isinstance(part, pl.DataFrame)
                              else part.frame()))
    return best_dropped(frame, after)


def steps_after_last_score(loaded: LoadedRecipe, ctx: StepContext) -> set[int]:
    """Indexes of the steps after the last one that writes `score` (all, when none does):
    their rejected rows can hold a record's best-ranked answer."""
    from datatools.registry import STEPS

    scoring = [i for i, spec in enumerate(loaded.steps)
               if "score" in STEPS[spec.name](spec.params, ctx).produced_columns()]
    return set(range(scoring[-1] + 1 if scoring else 0, len(loaded.steps)))


def build_datasets(loaded: LoadedRecipe, frame: pl.DataFrame,
                   best_dropped: dict[str, str] | None = None, block: bool = False):
    """The recipe's `outputs` builders → {kind: dataset}, skipped-ledgers, {kind: metadata}.
    `block`: the frame is one block of a streamed build (see `BuildContext.block`)."""
    from datatools.builders import BUILDERS, BuildContext

    out = loaded.recipe.outputs
    ctx = BuildContext(seed=loaded.recipe.seed, best_dropped=best_dropped or {}, block=block)
    datasets, ledgers, metadata = {}, [], {}
    for kind, build in BUILDERS.items():
        params = getattr(out, kind, None)
        if params is None:
            continue
        built = build(frame, params, ctx)
        if kind == "unary" and not block:  # a block's classes are not the dataset's
            one_class_gate(params, built.metadata)
        datasets[kind] = built.data
        ledgers.append(built.skipped)
        records = built.data["id"].n_unique() if built.data.height else 0
        metadata[kind] = dataset_metadata(loaded, kind, built.data.height, records,
                                          built.metadata)
    return datasets, ledgers, metadata


def dataset_metadata(loaded: LoadedRecipe, kind: str, rows: int, records: int,
                     built: dict) -> dict:
    """OUT/<kind>/metadata.json (and the report's `outputs.<kind>`)."""
    params = getattr(loaded.recipe.outputs, kind)
    return {"kind": kind, "rows": rows, "records": records, "recipe": loaded.recipe.name,
            "params": params.model_dump(mode="json"), **built}


def mix_datasets(loaded: LoadedRecipe, datasets: dict, metadata: dict):
    """The recipe's mixture (mix: or sources[].weight) applied to the built datasets."""
    from datatools.mix import apply_mix, rebalanced_unary

    recipe = loaded.recipe
    ledgers, mixture = apply_mix(recipe.mixture(), recipe.sources, recipe.seed, datasets)
    for kind in mixture:
        extra = {}
        if kind == "unary":
            datasets[kind], extra = rebalanced_unary(datasets[kind])
        metadata[kind] = {**metadata[kind], **extra, "rows": datasets[kind].height}
    return ledgers, mixture


def run_build(loaded: LoadedRecipe, out_dir: Path | None = None, limit: int | None = None,
              quiet: bool = False, use_cache: bool = True,
              backends: dict[str, Any] | None = None, executor: str | None = None,
              force: bool = False, profile: Profile | None = None) -> BuildResult:
    """The whole build, holding OUT's lock; OUT changes only at the final switch.
    `executor` (local | ray) overrides the recipe's `executor.kind`; `profile` (optional)
    collects wall and CPU seconds per phase."""
    out_dir = Path(out_dir) if out_dir else loaded.out_dir
    profile = profile if profile is not None else Profile()
    if loaded.recipe.outputs.push is not None:  # no token: fail now, not after hours of work
        from datatools.publish.hub import resolve_token

        resolve_token(None)
    with OutFolder(out_dir, loaded.workdir if loaded.path else None, force) as out:
        result = _build(loaded, out, limit, quiet, use_cache, backends, executor, profile)
    push = loaded.recipe.outputs.push
    if push is not None:  # the only network side effect, after everything is safely on disk
        from datatools.publish.hub import push_dataset

        with profile.phase("push"):
            result.report["pushed"] = push_dataset(result.out_dir, **push.model_dump(),
                                                   quiet=quiet)
    return result


def _build(loaded: LoadedRecipe, out: OutFolder, limit, quiet, use_cache, backends,
           executor, profile: Profile) -> BuildResult:
    started = time.perf_counter()
    ctx = StepContext(seed=loaded.recipe.seed, workdir=loaded.workdir,
                      cache_dir=out.cache_dir, quiet=quiet, backends=backends or {})
    if (executor or loaded.recipe.executor.kind) == "ray":
        from datatools.executors.ray_build import build_on_ray

        return build_on_ray(loaded, out, ctx, limit, use_cache, profile, started)
    frame, read_ledger, sources, fingerprint = read_sources(loaded, limit, quiet, profile)
    rows_read = frame.height
    handover = [frame]
    del frame  # run_steps holds the only reference from here on
    ledger = Ledger()  # in build order: reading, the steps, the builders
    ledger.add_rows(read_ledger)
    frame, step_reports, ledger = run_steps(loaded, handover, fingerprint, ctx, use_cache,
                                            ledger, profile)
    return finish_build(loaded, out, ctx, frame, step_reports, ledger, sources, rows_read,
                        started, profile)


def min_rows_gate(loaded: LoadedRecipe, rows: int) -> None:
    if rows < loaded.recipe.gates.min_rows:
        raise QualityGateError(Problem("gates.min_rows", f"only {rows} rows left after "
                                       f"the steps, below {loaded.recipe.gates.min_rows}"))


def finish_build(loaded: LoadedRecipe, out: OutFolder, ctx: StepContext, frame: pl.DataFrame,
                 step_reports: list, ledger: Ledger, sources: list, rows_read: int,
                 started: float, profile: Profile, extra: dict | None = None) -> BuildResult:
    """The steps' kept frame, held here → datasets, mixture, report, outputs."""
    min_rows_gate(loaded, frame.height)
    with profile.phase("builders"):
        best_dropped = records_that_lost_their_best(loaded, ctx, frame, step_reports, ledger)
        datasets, build_ledgers, metadata = build_datasets(loaded, frame, best_dropped)
        mix_ledgers, mixture = mix_datasets(loaded, datasets, metadata)
    release_free_memory()
    for rows in build_ledgers + mix_ledgers:
        ledger.add_rows(rows)
    report = build_report(loaded, out.dir, ctx, sources, rows_read, step_reports, frame.height,
                          frame["id"].n_unique() if frame.height else 0, metadata, mixture,
                          ledger, started, extra)
    outputs = loaded.recipe.outputs
    write_outputs(out, frame, ledger, datasets, metadata, report, profile,
                  candidates=outputs.candidates, report_html=outputs.report_html)
    empty = why_empty({k: d.height for k, d in datasets.items()}, build_ledgers,
                      frame.height, frame["id"].n_unique() if frame.height else 0, rows_read)
    if empty:  # after writing: the ledger and report say what happened to every record
        raise QualityGateError(Problem("outputs", f"{empty}; the ledger is in {out.dir}/rejects/"))
    return BuildResult(out.dir, report, frame, datasets, profile)


def build_report(loaded: LoadedRecipe, out_dir: Path, ctx: StepContext, sources: list,
                 rows_read: int, step_reports: list, final_rows: int, final_records: int,
                 metadata: dict, mixture: dict, ledger: Ledger, started: float,
                 extra: dict | None = None) -> dict:
    """report.json (what push publishes: no credential of any shape in it, or the card)."""
    return redact({
        "name": loaded.recipe.name, "version": __version__,
        "recipe": str(loaded.path) if loaded.path else None, "out_dir": str(out_dir),
        "recipe_dump": loaded.recipe.model_dump(mode="json"),  # the card names sources, models, judges
        "sources": sources, "rows_read": rows_read,
        "steps": [asdict(r) for r in step_reports],
        "final_rows": final_rows, "final_records": final_records,
        "outputs": metadata,
        **({"mix": mixture} if mixture else {}),
        # every model a step loaded and when it was released, in order (local executor)
        "models": ctx.models.events,
        "ledger": {"total": ledger.height, "by_step": ledger.counts("step"),
                   "by_reason": ledger.counts("reason")},
        **(extra or {}),
        "seconds": round(time.perf_counter() - started, 3),
    })
