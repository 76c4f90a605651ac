"""Builders: the final candidate frame → one dataset per `outputs:` kind.

`BUILDERS` is the registry, in build order: each entry takes (frame, params, BuildContext)
and returns a `Built` (dataset, skipped-record ledger rows, metadata). A dataset with a
`split` column is written one file per split (OUT/<kind>/train.parquet, test.parquet). A new output kind is a
module with its builder function, a params model on `schemas.recipe.Outputs`, and one entry
here. All builders rank candidates with the one rule in `ranking.py`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl


@dataclass
class BuildContext:
    seed: int = 0
    best_dropped: dict[str, str] = field(default_factory=dict)  # id → what dropped its best
    pairs: "pl.DataFrame | None" = None  # the pairwise dataset, once built (unary/sft reuse it)
    # one block of a streamed build: what needs every block (unary's balance, order and
    # weights) is left to the driver (executors/ray_unary.py)
    block: bool = False


@dataclass
class Built:
    data: "pl.DataFrame"
    skipped: "pl.DataFrame"
    metadata: dict[str, Any] = field(default_factory=dict)


def _pairwise(frame, params, ctx: BuildContext) -> Built:
    from datatools.builders.pairwise import build_pairwise

    ctx.pairs, skipped = build_pairwise(frame, params, ctx.seed)
    return Built(ctx.pairs, skipped)


def _unary(frame, params, ctx: BuildContext) -> Built:
    from datatools.builders.ledger import ledger_frame
    from datatools.builders.unary import build_unary, unary_rows

    pairs = ctx.pairs if params.mode == "pairs" else None
    if ctx.block:  # the labelled rows, not yet balanced or interleaved
        rows, skipped = unary_rows(frame, params, ctx.seed, pairs, ctx.best_dropped)
        return Built(rows, ledger_frame(skipped))
    data, skipped, meta = build_unary(frame, params, ctx.seed, pairs=pairs,
                                      best_dropped=ctx.best_dropped)
    return Built(data, skipped, meta)


def _sft(frame, params, ctx: BuildContext) -> Built:
    from datatools.builders.sft import build_sft

    data, skipped = build_sft(frame, params, ctx.seed, pairs=ctx.pairs,
                              best_dropped=ctx.best_dropped)
    return Built(data, skipped)


def _prompts(frame, params, ctx: BuildContext) -> Built:
    from datatools.builders.prompts import build_prompts

    return Built(*build_prompts(frame, params))


BUILDERS: dict[str, Callable[[Any, Any, BuildContext], Built]] = {
    "pairwise": _pairwise, "unary": _unary, "sft": _sft, "prompts": _prompts,
}
