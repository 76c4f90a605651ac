"""The canonical frame every step reads and writes.

One row per candidate: a prompt (list of messages, system turn included) and one completion.
Rows of the same record share `id`; a record with n candidate answers is n rows. A prompt
with no answer yet (input to `generate`) is one row with a null `completion`.
Steps may add columns (scores, flags); builders only need the ones below.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import polars as pl
import xxhash

MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
FRAME_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String,            # record id, shared by all candidates of one prompt
    "candidate_id": pl.String,  # unique per row
    "source": pl.String,        # "path:line" or "hub:org/name:row"
    "prompt": pl.List(MESSAGE),
    "completion": pl.String,    # assistant answer; null when not generated yet
    "score": pl.Float64,        # higher is better; null when unjudged
    "label": pl.Boolean,        # desirable (True) / undesirable (False) / unknown (null)
    "model": pl.String,         # who produced the completion ("dataset" when it came with it)
    "meta": pl.String,          # JSON object, carried through untouched
}
BASE_COLUMNS = tuple(FRAME_SCHEMA)
REJECT_COLUMNS = ("reason", "detail")
# OUT/rejects/: one row per dropped candidate row (or unreadable source line), nothing lost.
LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "step": pl.String,          # "read", a step name, or "build.pairwise" ...
    "reason": pl.String,        # reason code, e.g. "read.malformed_json", "exact_dedup.duplicate"
    "detail": pl.String,        # human explanation (what was expected, which record matched)
    "source": pl.String,        # file:line or hub:id:row
    "id": pl.String,            # record id (null when the line could not be parsed)
    "candidate_id": pl.String,
    "record": pl.String,        # the dropped row as JSON, or the raw line text
}


def stable_id(*parts: Any) -> str:
    """A content-derived id that is the same on every machine and every run."""
    h = xxhash.xxh3_128()
    for part in parts:
        h.update(json.dumps(part, ensure_ascii=False, sort_keys=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()[:16]


def empty_frame(extra: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    return pl.DataFrame(schema={**FRAME_SCHEMA, **(extra or {})})


def frame_from_rows(rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """Rows (dicts with the base columns; meta may be a dict) → canonical frame."""
    rows = [
        {**r, "meta": r["meta"] if isinstance(r.get("meta"), str) or r.get("meta") is None
         else json.dumps(r["meta"], ensure_ascii=False)}
        for r in rows
    ]
    if not rows:
        return empty_frame()
    return pl.DataFrame(rows, schema=FRAME_SCHEMA)


def rows_from_record(
    record_id: str | None,
    source: str,
    prompt: list[dict[str, str]],
    completions: list[dict[str, Any]],
    meta: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """A candidate record (prompt + completions) → canonical rows, one per completion.

    Each completion is a dict with `content` and optional `score`, `label`, `model`.
    """
    rid = record_id or stable_id(prompt, [c.get("content") for c in completions])
    # "{}" without json.dumps: the common no-meta case, ~2 s of a 1M-record read otherwise
    meta_json = json.dumps(meta, ensure_ascii=False, default=str) if meta else "{}"
    if not completions:
        return [dict(id=rid, candidate_id=f"{rid}-p", source=source, prompt=prompt,
                     completion=None, score=None, label=None, model=None, meta=meta_json)]
    return [
        dict(id=rid, candidate_id=f"{rid}-{i}", source=source, prompt=prompt,
             completion=c.get("content"), score=c.get("score"), label=c.get("label"),
             model=c.get("model", "dataset"), meta=meta_json)
        for i, c in enumerate(completions)
    ]


# ---- text views used by filters (vectorised polars expressions) ----------------------------

def prompt_text() -> pl.Expr:
    """All prompt turns' contents joined by newlines (system turn included)."""
    return (
        pl.col("prompt").list.eval(pl.element().struct.field("content")).list.join("\n")
        .fill_null("")
    )


def last_user_text() -> pl.Expr:
    return (
        pl.col("prompt")
        .list.eval(pl.element().filter(pl.element().struct.field("role") == "user")
                   .struct.field("content"))
        .list.last()
        .fill_null("")
    )


def answer_key() -> pl.Expr:
    """64-bit hash of (prompt with roles, completion without surrounding space): equal for
    rows that answer the same prompt with the same text, in any record. Row-wise."""
    return pl.struct("prompt", pl.col("completion").str.strip_chars()).hash(seed=0)


# Text fields read from the prompt: a step filtering on them judges whole records.
RECORD_LEVEL_FIELDS = frozenset({"prompt", "last_user"})


def field_column(field: str) -> str:
    """The frame column a named text field is read from (for required-column checks)."""
    return "prompt" if field in RECORD_LEVEL_FIELDS else field


def field_text(field: str) -> pl.Expr:
    """Text for a named field: prompt, last_user, completion, or any string column."""
    if field == "prompt":
        return prompt_text()
    if field == "last_user":
        return last_user_text()
    return pl.col(field).cast(pl.String).fill_null("")


def unique_record_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Give every source record its own id.

    Content-derived ids collide for exact-duplicate records (and sources may repeat their own
    ids); the second and later records with an id become `<id>~1`, `<id>~2`, ... in order of
    appearance, so the ledger can tell them apart and dedup can name which one it kept.
    """
    if frame.height == 0:
        return frame
    # Work on the two key columns only: joining the whole frame would copy every column
    # (gigabytes of text at a million records) just to attach one integer.
    keys = frame.select("id", "source").with_row_index("__row")
    # occurrence = rank of the (id, source) group's first row among its id's groups; computed
    # on the groups sorted by (id, first row) rather than with rank().over("id"), which took
    # 47 s on a 1M-record read (a window over a million tiny groups)
    idx = pl.int_range(pl.len())
    new_run = (pl.col("id") != pl.col("id").shift(1)).fill_null(True)
    groups = (keys.group_by(["id", "source"]).agg(pl.col("__row").min().alias("__first"))
              .sort(["id", "__first"])
              .select("id", "source", (idx - pl.when(new_run).then(idx).forward_fill())
                      .cast(pl.Int64).alias("__occ")))
    occurrence = keys.join(groups, on=["id", "source"], how="left", nulls_equal=True,
                           maintain_order="left")["__occ"]
    if not occurrence.max():
        return frame  # every record already has its own id
    new_id = (pl.when(pl.lit(occurrence) > 0)
              .then(pl.col("id") + pl.lit("~") + pl.lit(occurrence).cast(pl.String))
              .otherwise(pl.col("id")))
    renamed = keys.select("id", "source", new_id.alias("__new"))
    groups = renamed.unique(["id", "source"], keep="first", maintain_order=True)
    if groups["__new"].is_duplicated().any():  # a "~N" that another record already has
        new_id = pl.lit(_free_ids(groups, renamed))
    return with_new_ids(frame, new_id)


def _free_ids(groups: pl.DataFrame, renamed: pl.DataFrame) -> pl.Series:
    """New ids per row when an `<id>~N` given by occurrence is some record's own id (a
    source's "x~2" beside a second source's "x"): in order of appearance, each renamed record
    takes the first `<id>~N`, N from its occurrence up, that no record has and none was given
    (as `readers.rows.take_id` does within a source)."""
    taken = set(groups.filter(pl.col("id") == pl.col("__new"))["id"])
    given = {}
    for old, source, new in groups.filter(pl.col("id") != pl.col("__new")).iter_rows():
        n = int(new.rsplit("~", 1)[1])
        while new in taken:
            n += 1
            new = f"{old}~{n}"
        taken.add(new)
        given[(old, source)] = new
    moved = pl.DataFrame({"id": [k[0] for k in given], "source": [k[1] for k in given],
                          "__free": list(given.values())},
                         schema={"id": pl.String, "source": pl.String, "__free": pl.String})
    return renamed.join(moved, on=["id", "source"], how="left", nulls_equal=True,
                        maintain_order="left").select(
        pl.col("__free").fill_null(pl.col("__new")))["__free"]


def with_new_ids(frame: pl.DataFrame, new_id: pl.Expr) -> pl.DataFrame:
    """`frame` with its records' ids replaced by `new_id`; candidate ids (`<id>-<suffix>`)
    follow their record's id."""
    return frame.with_columns(
        new_id.alias("id"),
        (new_id + pl.col("candidate_id").str.slice(pl.col("id").str.len_chars()))
        .alias("candidate_id"),
    )
