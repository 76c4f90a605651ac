"""Executors: what runs a recipe's steps. Steps do not know which one runs them.

An executor is a function with `datatools.pipeline.run_steps`' signature and result:
(loaded, frame, fingerprint, ctx, use_cache, ledger) → (kept frame, step reports, ledger).

- `local` (`pipeline.run_steps`): the whole frame in this process, each step called once.
- `ray` (`executors.ray_steps.run_steps_on_ray`): the frame as Ray Data blocks of whole
  records; `row` and `record` steps run block by block (`map_batches`), `global` steps
  through their own distributed plan (exact_dedup, near_dedup: `executors.ray_dedup`) or,
  without one, once on the collected frame.
"""
from __future__ import annotations

from typing import Callable

EXECUTOR_KINDS = ("local", "ray")


def steps_runner(kind: str) -> Callable:
    """The run_steps function of an executor kind."""
    if kind == "ray":
        from datatools.executors.ray_steps import run_steps_on_ray

        return run_steps_on_ray
    from datatools.pipeline import run_steps

    return run_steps
