"""Writing a build's results: datasets, ledger, report — staged, then moved into place.

Everything is written under OUT/.staging-<pid>/ first and each finished folder is renamed into
place, so a killed run never leaves a half-written dataset where a loader would find it.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from datatools.frame import LEDGER_SCHEMA, REJECT_COLUMNS

DATASET_KINDS = ("sft", "pairwise", "unary")
WRITE_ROWS = 65_536  # rows per parquet row group, and per slice held in encoding at once


def write_parquet(frame: pl.DataFrame, path: Path, rows: int = WRITE_ROWS) -> None:
    """`frame.write_parquet(path)` with bounded memory: one row-group slice at a time.

    Polars' writer (a streaming sink) encodes many row groups at once, and each slice of a
    nested column (prompt, chosen: lists of messages) converts the whole column's child
    arrays: writing a 1M-record pairwise dataset took +6 GB. Here each slice is gathered
    into compact arrays first (views only; the text is not copied), converted to Arrow and
    written before the next one, so the writer holds about one row group (+0.2 GB).
    Same schema and values on read (polars, pyarrow, datasets); zstd as before.
    """
    import pyarrow.parquet as pq

    compact = pl.all().gather(pl.int_range(pl.len()))  # a slice's own arrays, not the column's
    with pq.ParquetWriter(path, frame.head(0).to_arrow().schema, compression="zstd") as writer:
        for part in frame.iter_slices(rows):
            writer.write_table(part.select(compact).to_arrow(), row_group_size=rows)


def to_ledger(rejected: pl.DataFrame, step: str) -> pl.DataFrame:
    """Rejected frame rows → ledger rows; the whole row is kept as JSON in `record`."""
    if rejected.height == 0:
        return pl.DataFrame(schema=LEDGER_SCHEMA)
    payload = [c for c in rejected.columns if c not in REJECT_COLUMNS]
    return rejected.select(
        pl.lit(step).alias("step"),
        pl.col("reason").cast(pl.String),
        pl.col("detail").cast(pl.String).fill_null(""),
        pl.col("source").cast(pl.String) if "source" in rejected.columns else pl.lit(None, pl.String).alias("source"),
        pl.col("id").cast(pl.String) if "id" in rejected.columns else pl.lit(None, pl.String).alias("id"),
        pl.col("candidate_id").cast(pl.String) if "candidate_id" in rejected.columns
        else pl.lit(None, pl.String).alias("candidate_id"),
        pl.struct(payload).struct.json_encode().alias("record"),
    )


class Staging:
    """A staging folder inside OUT; `commit()` renames each staged item into OUT."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.dir = self.out_dir / f".staging-{os.getpid()}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir()
        self.items: list[str] = []

    def write_frame(self, name: str, frame: pl.DataFrame, file: str = "train.parquet",
                    metadata: dict[str, Any] | None = None) -> Path:
        folder = self.dir / name
        folder.mkdir(parents=True, exist_ok=True)
        write_parquet(frame, folder / file)
        if metadata is not None:
            (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
        self._add(name)
        return folder

    def write_json(self, name: str, data: Any) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        self._add(name)
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        self._add(name)
        return path

    def _add(self, name: str) -> None:
        if name not in self.items:
            self.items.append(name)

    def commit(self, remove: tuple[str, ...] = ()) -> None:
        """Move staged items into OUT (replacing old ones); delete stale `remove` items."""
        for name in remove:
            stale = self.out_dir / name
            if name not in self.items and stale.exists():
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        for name in self.items:
            target = self.out_dir / name
            if target.is_dir():
                # rename the old one aside first: the swap leaves no moment without a whole dataset
                old = self.out_dir / f".old-{name}-{os.getpid()}"
                target.rename(old)
                (self.dir / name).rename(target)
                shutil.rmtree(old)
            else:
                os.replace(self.dir / name, target)
        shutil.rmtree(self.dir, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
