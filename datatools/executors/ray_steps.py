"""The `ray` executor: a recipe's steps over Ray Data blocks of whole records.

`row` and `record` steps run block by block (`map_batches`, one block per call: blocks hold
whole records); `global` steps with a distributed plan (`ray_dedup.PLANS`) run through it;
other global steps run once on the collected frame. Each step's output is materialised (held
in Ray's object store, which spills to disk), so its counts are known and checked as in the
local pipeline: rows_in == kept + rejected per block, a reason on every rejected row, the
quality gates after each step. Rejected rows are written by the block tasks as parquet parts
(`OUT/.cache/ray/<step>/`) and become the ledger in frame order.
"""
from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import polars as pl

from datatools.models.registry import ModelRegistry
from datatools.executors.ray_blocks import (ORDER, block_task, cached_result, collect,
                                            read_books, save_result, to_blocks)
from datatools.outputs import Ledger
from datatools.pipeline import StepReport, _by_reason, _gate, run_step
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
            if spec.temp_dir:
                kwargs["_temp_dir"] = str(Path(spec.temp_dir).expanduser().resolve())
        else:
            kwargs["address"] = spec.address
        ray.init(**kwargs)
        started = True
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    data_ctx = DataContext.get_current()
    data_ctx.shuffle_strategy = ShuffleStrategy.HASH_SHUFFLE  # key-based repartitioning
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


def run_steps_on_ray(loaded, frame, fingerprint, ctx, use_cache=True, ledger=None):
    """`pipeline.run_steps` on Ray. With `use_cache`, each step's result (its kept blocks and
    its books) is kept under the same key chain as the local step cache, and reused when the
    key and the input's row count match."""
    from datatools.executors.ray_dedup import PLANS
    from datatools.registry import STEPS

    if isinstance(frame, list):
        frame = frame.pop()
    spec = loaded.recipe.executor
    ledger = ledger if ledger is not None else Ledger()
    # block tasks run elsewhere: no progress bars there, and injected objects stay here. An
    # actor or block task loads models into its own copy of the step (they go with the actor
    # pool when the step ends); a global step run here, in the driver, releases its models
    # when it is done
    worker_ctx = replace(ctx, quiet=True, backends={}, models=ModelRegistry())
    books_root = (ctx.cache_dir or loaded.out_dir / ".cache") / "ray"
    reports, key, rows = [], fingerprint, frame.height
    with ray_session(spec, quiet=ctx.quiet) as ray:
        ds = to_blocks(frame, spec.block_rows).materialize()
        del frame
        for item in loaded.steps:
            step = STEPS[item.name](item.params, worker_ctx)
            started = time.perf_counter()
            key = step_key(key, item.name, item.params.model_dump(mode="json"), step, ctx.workdir)
            books = books_root / (f"{item.index:02d}-{item.name}" + (f"-{key}" if use_cache else ""))
            hit = cached_result(books, rows, ray) if use_cache else None
            if hit is not None:
                ds, ran_as = hit
            else:
                shutil.rmtree(books, ignore_errors=True)
                books.mkdir(parents=True)
                ds, ran_as = _run_one(step, item, ds, books, PLANS, spec, ray)
                if use_cache:
                    ds = save_result(ds, books, ran_as)
            worker_ctx.models.release_all()  # what the driver held: a global step's model, a
            # judge's backend for its cache key
            totals, rejected = read_books(books)
            rows = totals["kept"]
            rejected = rejected if rejected is not None else pl.DataFrame()
            report = StepReport(
                name=item.name, location=item.location, rows_in=totals["rows_in"],
                kept=totals["kept"], rejected=totals["rejected"],
                by_reason=_by_reason(rejected), seconds=round(time.perf_counter() - started, 3),
                cached=hit is not None, records_in=totals["records_in"],
                records_out=totals["records_out"],
                stats={"executor": "ray", "ran_as": ran_as, "blocks": totals["blocks"],
                       **({"block_stats": totals["block_stats"]} if "block_stats" in totals
                          else {})},
            )
            reports.append(report)
            ledger.add_rejected(item.name, rejected)
            _gate(loaded, report)
        frame = collect(ds)
    return frame, reports, ledger


def _run_one(step, item, ds, books: Path, plans, spec, ray):
    """(the step's kept dataset, materialised; how it ran)."""
    location = item.location
    if step.scope in ("row", "record"):
        actors = actor_spec(step, spec)
        if actors is not None:
            # one step instance per actor: a model loads once per replica, not once per block
            return ds.map_batches(
                StepActor, fn_constructor_args=(step, books, location),
                concurrency=actors.replicas, num_gpus=actors.num_gpus,
                num_cpus=actors.num_cpus, batch_format="pyarrow", batch_size=None,
                zero_copy_batch=True).materialize(), f"actors ({step.scope}) x{actors.replicas}"
        return ds.map_batches(step_task(step, books, location), batch_format="pyarrow",
                              batch_size=None,
                              zero_copy_batch=True).materialize(), f"blocks ({step.scope})"
    if step.name in plans:
        plan = plans[step.name]
        return plan(step, ds, books, location, partitions(spec, ray)).materialize(), "plan"
    # a global step without a distributed plan: once, on the whole frame, here
    whole = collect(ds, keep_order_column=True)
    kept = pl.from_arrow(step_task(step, books, location)(whole.to_arrow()))
    return to_blocks(kept.drop(ORDER), spec.block_rows).materialize(), "driver"


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
