"""Parquet files written with bounded memory: a frame or lazy pieces through polars' streaming
sink (every core), or slices made one at a time through pyarrow; a full disk as an OSError."""
from __future__ import annotations

from pathlib import Path

import polars as pl

WRITE_ROWS = 65_536  # rows per parquet row group (and per piece the writer compacts)


def compact(part):
    """A slice with its own arrays, not views into the whole column's (the text is not copied)."""
    return part.select(pl.all().gather(pl.int_range(pl.len())))


def write_parquet(frame: pl.DataFrame, path: Path, rows: int = WRITE_ROWS) -> None:
    """`frame.write_parquet(path)` in row groups of `rows`, with bounded memory (`sink`)."""
    sink([compact(part.lazy()) for part in frame.iter_slices(rows)], frame.head(0), path, rows)


def sink(pieces: list[pl.LazyFrame], empty: pl.DataFrame, path: Path,
         rows: int = WRITE_ROWS) -> None:
    """The pieces, in order, as one parquet file of `empty`'s schema.

    Polars' streaming sink encodes row groups on every core and holds only those in flight.
    A piece of a frame must be compacted first (`compact`): given a slice that is a view of
    a large nested column, polars converts the whole column for each row group (+6 GiB for
    the 1M-record `bench build`'s pairwise dataset). That dataset (854k rows, in the build):
    6.9 s and +479 MiB, against 15.1 s and +348 MiB for pyarrow a row-group slice at a time
    (`write_slices`); pieces of 32k rows took 8.4 s (+323 MiB), of 16k 12.8 s. zstd level 1
    (pyarrow's default); the same schema and values on read (polars, pyarrow, datasets).
    """
    schema = empty.schema
    pieces = [piece.select([pl.col(k).cast(t) for k, t in schema.items()]) for piece in pieces]
    try:
        pl.concat(pieces or [empty.lazy()]).sink_parquet(
            path, compression="zstd", compression_level=1, row_group_size=rows)
    except pl.exceptions.ComputeError as err:
        raise io_error(err) from err


def write_slices(slices, empty: pl.DataFrame, path: Path, rows: int = WRITE_ROWS) -> None:
    """Frames of `empty`'s schema made one at a time by a generator (the Ray executor's
    interleaved unary rows), each written as row groups by pyarrow before the next is made."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, empty.to_arrow().schema, compression="zstd") as writer:
        for part in slices:
            writer.write_table(compact(part).to_arrow(), row_group_size=rows)


def io_error(err: Exception) -> Exception:
    """Polars reports a failed write as ComputeError("... underlying IO error: No space left
    on device (os error 28)"); as an OSError with that errno the callers' disk-full handling
    (`disk_full`) sees it. Any other error is returned unchanged."""
    import re

    code = re.search(r"\(os error (\d+)\)", str(err))
    return OSError(int(code.group(1)), str(err)) if code else err
