"""Frames ↔ Ray Data blocks of whole records, and the books each block task keeps.

Every block holds whole records (all rows of an id), so `record` steps can run block by block.
Rows carry `_executor_order` = block << 32 | position: the frame's order across blocks, which the
global plans use as a row's identity and which puts the collected frame back in order.
A block task writes its rejected rows and its tally to a step's books folder, named by the
block's first order (a retried task overwrites its own files, never another's).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import polars as pl

# one leading underscore: steps drop their own "__" scratch columns
ORDER = "_executor_order"
BLOCK_SHIFT = 32


def to_blocks(frame: pl.DataFrame, block_rows: int):
    """A Ray dataset of `frame`, cut into blocks of about `block_rows` rows of whole records.
    Records keep their order of first appearance; a record's rows are kept together."""
    import ray
    import ray.data

    if frame.height == 0:
        return ray.data.from_arrow_refs([ray.put(with_order(frame, 0).to_arrow())])
    refs = [ray.put(with_order(block, i).to_arrow())
            for i, block in enumerate(record_blocks(frame, block_rows))]
    return ray.data.from_arrow_refs(refs)


def record_blocks(frame: pl.DataFrame, block_rows: int) -> list[pl.DataFrame]:
    """`frame` in slices of about `block_rows` rows, each holding whole records (a record's
    rows brought together first if they are apart), in order of first appearance."""
    if frame.height == 0:
        return []
    # records numbered by first appearance (the row index must exist before the window)
    ordinal = (frame.select("id").with_row_index("pos")
               .select(pl.col("pos").min().over("id").rank("dense").cast(pl.Int64))["pos"] - 1)
    records = int(ordinal.max()) + 1
    per_block = max(1, block_rows * records // frame.height)
    if not ordinal.is_sorted():  # a record's rows apart: bring them together (one copy)
        frame = frame.with_columns(ordinal.alias("__rec")).sort("__rec", maintain_order=True)
        ordinal = frame["__rec"]
        frame = frame.drop("__rec")
    block = (ordinal // per_block).to_numpy()
    cuts = [0, *((block[1:] != block[:-1]).nonzero()[0] + 1).tolist(), frame.height]
    # one object (= one block) per slice: from_arrow(list) would join them into one block
    return [frame.slice(lo, hi - lo) for lo, hi in zip(cuts[:-1], cuts[1:])]


def with_order(frame: pl.DataFrame, block: int) -> pl.DataFrame:
    """`frame` as block number `block`: its rows get orders block << 32 | position."""
    return frame.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + (block << BLOCK_SHIFT)).alias(ORDER))


def collect(ds, keep_order_column: bool = False) -> pl.DataFrame:
    """All blocks → one frame in the original order (without the order column unless asked)."""
    import ray

    frames = [pl.from_arrow(t) for t in ray.get(ds.to_arrow_refs())]
    frames = [f for f in frames if f.height] or frames[:1]
    frames.sort(key=lambda f: f[ORDER][0] if f.height else -1)
    frame = pl.concat(frames, rechunk=False)
    return frame if keep_order_column else frame.drop(ORDER)


def block_task(split: Callable[[pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]],
               books: Path, renumber: bool = False, stats: Callable[[], dict] | None = None):
    """A map_batches function: block → `split` → kept block; rejected rows and the tally are
    written to `books`. `renumber` for steps that add rows (their new rows get new orders).
    `stats`: the step's own stats after the block (e.g. generate's requests and new tokens),
    kept per block in the tally."""

    def run(table):
        frame = pl.from_arrow(table)
        if frame.height == 0:
            return table
        first = int(frame[ORDER][0])
        kept, rejected = split(frame)
        if renumber:
            kept = with_order(kept.drop(ORDER, strict=False), first >> BLOCK_SHIFT)
        elif ORDER not in kept.columns:
            raise RuntimeError(f"a step dropped the executor's {ORDER} column")
        name = f"{first:020d}"
        if rejected.height:
            rejected.drop(ORDER, strict=False).write_parquet(books / f"{name}.parquet")
        tally = {"rows_in": frame.height, "records_in": frame["id"].n_unique(),
                 "kept": kept.height, "records_out": kept["id"].n_unique(),
                 "rejected": rejected.height}
        if stats is not None:
            tally["step_stats"] = stats()
        (books / f"{name}.json").write_text(json.dumps(tally, default=str))
        return kept.to_arrow()

    return run


def read_tallies(books: Path) -> dict:
    """The block tallies of one step, summed; a step's own stats are listed per block
    (`block_stats`, in frame order): rates do not add up across blocks."""
    totals = {"rows_in": 0, "records_in": 0, "kept": 0, "records_out": 0, "rejected": 0,
              "blocks": 0}
    block_stats = []
    for f in sorted(books.glob("*.json")):
        tally = json.loads(f.read_text())
        if "step_stats" in tally:
            block_stats.append(tally.pop("step_stats"))
        for k, v in tally.items():
            totals[k] += v
        totals["blocks"] += 1
    if block_stats:
        totals["block_stats"] = block_stats
    return totals


# --- the step cache on Ray: a step's kept blocks beside its books, `done` written last ---

def save_result(ds, books: Path):
    """`ds` with each kept block also written to `books/kept/` (named by its first order, as
    the books are; an emptied block as an empty part, which keeps the schema) as it passes;
    the entry is marked complete (`done`) by the caller once the dataset has run."""
    import uuid

    kept = books / "kept"
    kept.mkdir(exist_ok=True)

    def save(table):
        frame = pl.from_arrow(table)
        name = f"{int(frame[ORDER][0]):020d}" if frame.height else f"empty-{uuid.uuid4().hex}"
        frame.write_parquet(kept / f"{name}.parquet")
        return table

    return ds.map_batches(save, batch_format="pyarrow", batch_size=None, zero_copy_batch=True)


def cached_entry(books: Path, rows_in: int) -> str | None:
    """How the step ran, for a complete cache entry whose input had `rows_in` rows; None
    otherwise (missing, half-written by a killed run, or another input)."""
    done = books / "done"
    if not done.is_file() or not any((books / "kept").glob("*.parquet")):
        return None
    try:
        totals = read_tallies(books)
        # the rejected parts are read by the caller; here only their row counts (metadata)
        on_disk = sum(pl.scan_parquet(f).select(pl.len()).collect().item()
                      for f in books.glob("*.parquet"))
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
    if totals["rows_in"] != rows_in or on_disk != totals["rejected"]:
        return None
    return done.read_text() + " (cached)"


def cached_dataset(books: Path):
    """The kept blocks of a complete cache entry, read by Ray tasks (not through here)."""
    import ray
    import ray.data

    read = ray.remote(_read_part)
    return ray.data.from_arrow_refs([read.remote(str(p))
                                     for p in sorted((books / "kept").glob("*.parquet"))])


def _read_part(path: str):
    return pl.read_parquet(path).to_arrow()
