"""The one contract every step follows, and the registry that names them.

A step is a class with a registry `name`, a pydantic `Params` model, the columns it requires
and produces, and `__call__(frame) -> (kept, rejected)`. Every rejected row carries a `reason`
code (`dedup.exact`, `toxicity.chosen.insult`, ...) and a human `detail`. The pipeline, not the
step, writes the ledger and checks rows_in == kept + rejected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict
from datatools.schemas.errors import Problem

from datatools.frame import REJECT_COLUMNS
from datatools.models.registry import ModelKey, ModelRegistry
from datatools.threads import ordered_map


# What a step must see at once, so an executor knows how it may split the work:
#   row    — each row on its own (any block of rows will do);
#   record — all rows of one record id together (blocks grouped by id);
#   global — the whole dataset (dedup, builders): an executor runs it through its own plan.
Scope = Literal["row", "record", "global"]
SCOPES: tuple[str, ...] = ("row", "record", "global")


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class StepContext:
    """What a step may use besides its params."""

    seed: int = 0
    workdir: Path = field(default_factory=Path.cwd)  # relative paths in params resolve here
    cache_dir: Path | None = None  # per-request caches of expensive calls live under here
    quiet: bool = False
    backends: dict[str, Any] = field(default_factory=dict)  # injected models (tests, reuse)
    # Models the steps load themselves; the pipeline releases each after its last step.
    models: ModelRegistry = field(default_factory=ModelRegistry)

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.workdir / p

    def progress(self, total: int | None, description: str):
        from datatools.progress import progress_bar

        return progress_bar(total, description, quiet=self.quiet)


class Step:
    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    requires: ClassVar[tuple[str, ...]] = ("prompt",)
    produces: ClassVar[tuple[str, ...]] = ()
    scope: ClassVar[Scope]  # every step declares it (tests check the registry)
    # False for steps that add rows (generate): then the pipeline checks that every input
    # record is accounted for instead of rows_in == kept + rejected.
    row_preserving: ClassVar[bool] = True
    # True for steps whose kept frame is the input's rows, in order, plus the columns the step
    # adds (produced_columns() or new names), every other column untouched: the step cache
    # then stores a kept-row mask and the added columns instead of a copy of the frame.
    filters_rows: ClassVar[bool] = False

    def __init__(self, params: BaseModel | None = None, ctx: StepContext | None = None):
        self.params = params if params is not None else self.Params()
        self.ctx = ctx or StepContext()

    def required_columns(self) -> set[str]:
        return set(self.requires)

    def produced_columns(self) -> set[str]:
        return set(self.produces)

    def cache_token(self) -> str:
        """Extra text folded into this step's cache key (e.g. a model's revision)."""
        return ""

    def model_keys(self) -> list[ModelKey]:
        """The models this step loads through `ctx.models`, known from its params before any
        work (injected backends are not listed: their owner keeps them). The pipeline plans
        the registry from every step's keys and calls `done` after each step, so a model is
        released right after the last step that names it."""
        return []

    def check(self, ctx: StepContext) -> list[Problem]:
        """What can be known wrong before any work: files named in params exist, thresholds
        name labels the step scores, a tokenizer loads. Locations are relative to the step
        (`thresholds.insult`); the recipe check prefixes `steps[i].<name>`. Runs for
        `datatools validate` and before a build reads any data."""
        return []

    def __call__(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        raise NotImplementedError


def step_stats(step: Step) -> dict:
    """A step's own stats after a call (steps set `self.stats` in `__call__`); {} if none."""
    return dict(getattr(step, "stats", None) or {})


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def missing_file(ctx: StepContext, value: str | None, location: str, what: str,
                 hub_ok: bool = False) -> list[Problem]:
    """[Problem] when `value` names a local file or folder that does not exist. With `hub_ok`,
    an `org/name` that is not a local path is taken for a Hub id (checked when it loads)."""
    if not value:
        return []
    path = ctx.resolve(value)
    if path.exists():
        return []
    if hub_ok and _HUB_ID.match(value) and not value.startswith((".", "/", "~")):
        return []
    return [Problem(location, f"{what} {value!r} not found (looked at {path})")]


def partition(
    frame: pl.DataFrame, reason: pl.Expr, detail: pl.Expr | None = None, row_wise: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a frame by a reason expression: rows with a non-null reason are rejected.

    row_wise=True promises that `reason` and `detail` look at their own row only (no windows
    or aggregations; compute those into columns first). Then the reason is evaluated a slice
    at a time and the detail only for the rejected rows: text-heavy checks on a million-row
    frame stay within a few MB of working memory instead of full-column copies."""
    detail = detail if detail is not None else pl.lit("")
    if row_wise:
        codes = select_in_slices(frame, reason.cast(pl.String).alias(REJECT_COLUMNS[0]))
        mask = codes[REJECT_COLUMNS[0]].is_not_null()
        rejected = frame.filter(mask).with_columns(codes.filter(mask)[REJECT_COLUMNS[0]])
        return frame.filter(~mask), rejected.with_columns(
            detail.cast(pl.String).fill_null("").alias(REJECT_COLUMNS[1]))
    tagged = frame.with_columns(
        reason.cast(pl.String).alias("__reason"), detail.cast(pl.String).alias("__detail")
    )
    rejected_mask = pl.col("__reason").is_not_null()
    kept = tagged.filter(~rejected_mask).drop("__reason", "__detail")
    rejected = tagged.filter(rejected_mask).rename(
        {"__reason": REJECT_COLUMNS[0], "__detail": REJECT_COLUMNS[1]}
    )
    return kept, rejected.with_columns(pl.col("detail").fill_null(""))


# Rows per slice when a step evaluates row-wise text expressions: a million-record frame holds
# gigabytes of text, and an expression over the whole column (join the prompt turns, lowercase,
# strip) makes a full-size copy at every stage; a slice's copies are a few MB. Read at call
# time (not bound as a default argument), so tests can shrink it.
SLICE_ROWS = 50_000


def select_in_slices(frame: pl.DataFrame, *exprs: pl.Expr, rows: int | None = None) -> pl.DataFrame:
    """`frame.select(*exprs)` evaluated slice by slice, for row-wise expressions only (no
    windows or aggregations: those need the whole column). Same result, bounded memory;
    slices run on all cores, a few at a time (`threads.ordered_map`)."""
    rows = rows or SLICE_ROWS
    if frame.height <= rows:
        return frame.select(*exprs)
    return pl.concat(list(ordered_map(lambda part: part.select(*exprs),
                                      frame.iter_slices(rows))), rechunk=True)


def select_per_record(frame: pl.DataFrame, *exprs: pl.Expr) -> pl.DataFrame:
    """`select_in_slices` for expressions of record-level fields (the prompt, shared by every
    row of a record): evaluated once per record, on its first row, and given to every row of
    the record. A pairwise frame has two rows per record, so this halves the text work."""
    first = frame.select(pl.col("id").is_first_distinct())["id"]
    if first.all():
        return select_in_slices(frame, *exprs)
    docs = frame.filter(first)
    values = select_in_slices(docs, *exprs).with_columns(docs["id"].alias("__record"))
    return (frame.select(pl.col("id").alias("__record"))
            .join(values, on="__record", how="left", maintain_order="left").drop("__record"))


def text_slices(frame: pl.DataFrame, expr: pl.Expr, rows: int | None = None):
    """A row-wise text expression as a stream of Series, one frame slice at a time (the next
    slices are made on other cores while the consumer works on this one)."""
    rows = rows or SLICE_ROWS
    yield from ordered_map(lambda part: part.select(expr.alias("text"))["text"],
                           frame.iter_slices(rows))
