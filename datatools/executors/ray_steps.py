"""The `ray` executor: a recipe's steps over Ray Data blocks of whole records.

`row` and `record` steps run block by block (`map_batches`, one block per call: blocks hold
whole records), chained lazily so Ray fuses them; `global` steps with a distributed plan
(`ray_dedup.PLANS`) run through it on their materialised input (held in Ray's object store,
which spills to disk); other global steps run once on the collected frame. Each block task
checks its books (rows_in == kept + rejected, a reason on every rejected row) and writes its
rejected rows as a parquet part and its tally (`OUT/.cache/ray/<step>/`); once a chain has
run, the tallies become the step reports, the quality gates are checked in step order, and
the parts become the ledger in frame order, read a part at a time.
"""
from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import polars as pl

from datatools.models.registry import ModelRegistry
from datatools.executors.ray_blocks import (ORDER, block_task, cached_dataset, cached_entry,
                                            collect, read_tallies, save_result, to_blocks)
from datatools.outputs import FilePart, Ledger
from datatools.pipeline import StepReport, _gate, run_step
from datatools.step import step_stats
from datatools.step_cache import step_key

# Ray splits a task's output into blocks above this size; our blocks must stay whole records,
# so the limit is raised well above any block we make (block_rows bounds them instead).
MAX_BLOCK_BYTES = 8 << 30


@contextmanager
def ray_session(spec, quiet: bool = True):
    """Join (address auto / ray://) or start (address local) Ray; a Ray instance this process
    already runs is used as it is. One started here is shut down at the end."""
    import ray

    started = False
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, log_to_driver=not quiet)
        if spec.address == "local":
            kwargs["num_cpus"] = spec.num_cpus
            if spec.object_store_mb:
                kwargs["object_store_memory"] = spec.object_store_mb << 20
            if spec.temp_dir:
                kwargs["_temp_dir"] = str(Path(spec.temp_dir).expanduser().resolve())
            kwargs["_system_config"] = {"lineage_pinning_enabled": spec.lineage_pinning}
        else:
            kwargs["address"] = spec.address
        ray.init(**kwargs)
        started = True
    from ray.data import DataContext
    data_ctx = DataContext.get_current()
    data_ctx.target_max_block_size = MAX_BLOCK_BYTES
    data_ctx.enable_progress_bars = not quiet
    data_ctx.print_on_execution_start = not quiet
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def partitions(spec, ray) -> int:
    return spec.partitions or max(1, int(ray.cluster_resources().get("CPU", 1)))


class RaySteps:
    """A recipe's steps over a Ray dataset, lazily: consecutive row/record steps are one chain
    of block tasks (Ray fuses them: a block goes through all of them in one task, and no
    step's whole output is held in between); a global step's input is materialised first (its
    plan reads it more than once). `run` returns the last step's dataset, not yet executed;
    `finish`, called once it has been, gives the reports — each step's books (tallies and
    rejected parts, written by its block tasks) are read then, its quality gate checked and
    its cache entry completed. Rejected rows go to the ledger as files, never all held here.

    With `use_cache` each step's result (its kept blocks and books) is kept under the local
    cache's key chain; the longest run of complete entries whose row counts chain up is
    reused, and the steps after it run."""

    def __init__(self, loaded, ctx, use_cache: bool, ledger: Ledger):
        self.loaded, self.ctx, self.use_cache, self.ledger = loaded, ctx, use_cache, ledger
        self.spec = loaded.recipe.executor
        # block tasks run elsewhere: no progress bars there, and injected objects stay here.
        # An actor or block task loads models into its own copy of the step (they go with the
        # actor pool when the step ends); a global step run here releases its models after
        self.worker_ctx = replace(ctx, quiet=True, backends={}, models=ModelRegistry())
        self.books_root = (ctx.cache_dir or loaded.out_dir / ".cache") / "ray"
        self.pending: list[dict] = []
        self.reports: list[StepReport] = []
        self.planned: list[tuple] = []  # (recipe item, books folder) of every step, in order
        self.ran_as: dict[int, str] = {}  # step index → how it ran ("blocks", "plan", ...)

    def books(self, item, key: str) -> Path:
        return self.books_root / (f"{item.index:02d}-{item.name}"
                                  + (f"-{key}" if self.use_cache else ""))

    def run(self, ds, fingerprint: str, rows_in: int):
        import ray

        from datatools.executors.ray_dedup import PLANS
        from datatools.registry import STEPS

        planned, key = [], fingerprint
        for item in self.loaded.steps:
            step = STEPS[item.name](item.params, self.worker_ctx)
            key = step_key(key, item.name, item.params.model_dump(mode="json"), step,
                           self.ctx.workdir)
            planned.append((item, step, self.books(item, key)))
        self.planned = [(item, books) for item, _, books in planned]
        rows, reused = rows_in, 0
        for item, step, books in planned if self.use_cache else []:
            ran_as = cached_entry(books, rows)
            if ran_as is None:
                break
            rows, reused = read_tallies(books)["kept"], reused + 1
            self.ran_as[item.index] = ran_as
            self.pending.append(dict(item=item, books=books, ran_as=ran_as, cached=True,
                                     started=time.perf_counter()))
        if reused:  # the last reused step's kept blocks are where the steps go on from
            ds = cached_dataset(planned[reused - 1][2])
        for item, step, books in planned[reused:]:
            if step.scope == "global" and self.pending and not self.pending[-1]["cached"]:
                ds = ds.materialize()  # runs the chain so far
                self.finish()
            shutil.rmtree(books, ignore_errors=True)
            books.mkdir(parents=True)
            started = time.perf_counter()
            if step.scope == "global" and item.name in PLANS:
                ds = ds.materialize()  # a cached result read lazily, or the sources' blocks
            ds, ran_as = _run_one(step, item, ds, books, PLANS, self.spec, ray)
            self.worker_ctx.models.release_all()  # what the driver held: a global step's
            # model, a judge's backend for its cache key
            if self.use_cache:
                ds = save_result(ds, books)
            self.ran_as[item.index] = ran_as
            self.pending.append(dict(item=item, books=books, ran_as=ran_as, cached=False,
                                     started=started))
        return ds

    def finish(self) -> list[StepReport]:
        """Reports of the steps run since the last call (their dataset has been executed)."""
        for entry in self.pending:
            item, books = entry["item"], entry["books"]
            if self.use_cache and not entry["cached"]:
                (books / "done").write_text(entry["ran_as"])  # not *.json: the tallies
            totals = read_tallies(books)
            parts = [FilePart(f) for f in sorted(books.glob("*.parquet"))]
            if sum(p.height for p in parts) != totals["rejected"]:
                raise RuntimeError(f"{books}: {sum(p.height for p in parts)} rejected rows "
                                   f"on disk, {totals['rejected']} counted")
            by_reason: dict[str, int] = {}
            for part in parts:
                for reason, n in part.group_by("reason").len().iter_rows():
                    by_reason[reason] = by_reason.get(reason, 0) + n
            report = StepReport(
                name=item.name, location=item.location, rows_in=totals["rows_in"],
                kept=totals["kept"], rejected=totals["rejected"],
                by_reason=dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
                seconds=round(time.perf_counter() - entry["started"], 3),
                cached=entry["cached"], records_in=totals["records_in"],
                records_out=totals["records_out"],
                stats={"executor": "ray", "ran_as": entry["ran_as"], "blocks": totals["blocks"],
                       **({"block_stats": totals["block_stats"]} if "block_stats" in totals
                          else {})},
            )
            self.reports.append(report)
            for part in parts:
                self.ledger.add_rejected(item.name, part)
            _gate(self.loaded, report)
        self.pending = []
        return self.reports


def _run_one(step, item, ds, books: Path, plans, spec, ray):
    """(the step's kept dataset, not yet executed; how it runs)."""
    location = item.location
    if step.scope in ("row", "record"):
        actors = actor_spec(step, spec)
        if actors is not None:
            # one step instance per actor: a model loads once per replica, not once per block
            return ds.map_batches(
                StepActor, fn_constructor_args=(step, books, location),
                concurrency=actors.replicas, num_gpus=actors.num_gpus,
                num_cpus=actors.num_cpus, batch_format="pyarrow", batch_size=None,
                zero_copy_batch=True), f"actors ({step.scope}) x{actors.replicas}"
        return ds.map_batches(step_task(step, books, location), batch_format="pyarrow",
                              batch_size=None, zero_copy_batch=True), f"blocks ({step.scope})"
    if step.name in plans:
        return plans[step.name](step, ds, books, location, partitions(spec, ray)), "plan"
    # a global step without a distributed plan: once, on the whole frame, here
    whole = collect(ds, keep_order_column=True)
    kept = pl.from_arrow(step_task(step, books, location)(whole.to_arrow()))
    return to_blocks(kept.drop(ORDER), spec.block_rows), "driver"


def actor_spec(step, spec):
    """The actor pool a row/record step runs on, or None for plain block tasks: steps named
    in `executor.actors`, and steps that load a model (`model_keys`: one CPU actor by
    default, so the model loads once per actor instead of once per block)."""
    from datatools.schemas.recipe import ActorSpec

    if step.name in spec.actors:
        return spec.actors[step.name]
    return ActorSpec() if step.model_keys() else None


class StepActor:
    """A Ray Data actor holding one step (and the models it loads) across the blocks it is
    given; the same block task, so books and accounting are as for plain tasks."""

    def __init__(self, step, books: Path, location: str):
        self.task = step_task(step, books, location)

    def __call__(self, table):
        return self.task(table)


def step_task(step, books: Path, location: str):
    """The block task running `step` (checked books, its stats kept per block)."""
    return block_task(lambda f: run_step(step, f, location), books,
                      renumber=not step.row_preserving, stats=lambda: step_stats(step))
