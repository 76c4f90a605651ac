"""The unary (KTO) dataset of a streamed Ray build, finished on the driver.

Each block task writes its block's labelled rows (`unary.unary_rows`: not yet balanced or
interleaved) as a part, in frame order, and its skipped ledger rows. What needs the whole
dataset is done here with the local builder's own rules, holding about a part at a time:
- `balance: downsample`: the parts' label column (one bit per row) gives the class counts
  and, by `downsample_keep`, which rows stay; the dropped rows' ledger rows
  (`unary.downsampled`) are written a part at a time;
- the counts and λ_D, λ_U: `kto_metadata`;
- the order: each class's kept rows walked through the parts in order, a slice of each
  interleaved at a time by `kto_rows` (only each class's order matters to it).
Needs no Ray: it reads the part files (tests/datatools/test_ray_unary.py runs it alone).
"""
from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import polars as pl

from datatools.builders.ledger import UNARY_SCHEMA, ledger_frame
from datatools.builders.unary import downsample_keep, downsampled, kto_metadata, kto_rows
from datatools.outputs import FilePart
from datatools.parquet_out import WRITE_ROWS


def unary_from_parts(loaded, parts_dir: Path):
    """parts_dir/unary/*.arrow → (the dataset, as slices for the writer; its metadata; its
    ledger parts: the blocks' skipped rows, then the downsampled rows)."""
    from datatools.gates import one_class_gate
    from datatools.pipeline import dataset_metadata

    params = loaded.recipe.outputs.unary
    paths = sorted((parts_dir / "unary").glob("*.arrow"))
    labels = [pl.read_ipc(path, columns=["label"])["label"] for path in paths]
    every = pl.concat(labels) if labels else pl.Series("label", [], pl.Boolean)
    keep = (downsample_keep(every, loaded.recipe.seed) if params.balance == "downsample"
            else pl.repeat(True, every.len(), eager=True))
    keeps, start = [], 0
    for part in labels:
        keeps.append(keep.slice(start, part.len()))
        start += part.len()
    ledger = [FilePart(f) for f in sorted((parts_dir / "skipped-unary").glob("*.parquet"))]
    surplus_dir = parts_dir / "downsampled-unary"
    surplus_dir.mkdir(exist_ok=True)
    records = 0
    for path, kept in zip(paths, keeps):
        # a record's rows are all in its block, so the blocks' record counts add up
        records += pl.read_ipc(path, columns=["id"]).filter(kept)["id"].n_unique()
        if not kept.all():
            rows = ledger_frame(downsampled(pl.read_ipc(path).filter(~kept)))
            rows.write_parquet(surplus_dir / f"{path.stem}.parquet")
            ledger.append(FilePart(surplus_dir / f"{path.stem}.parquet"))
    n = int(keep.sum())
    n_desirable = int(every.filter(keep).sum())
    built = kto_metadata(n_desirable, n - n_desirable)
    one_class_gate(params, built)
    return (Interleaved(paths, keeps, n), dataset_metadata(loaded, "unary", n, records, built),
            ledger)


class Interleaved:
    """The parts' kept rows in `kto_rows` order, as slices for the writer: the next slice of
    each class interleaved, so what is held is about a part of each class."""

    def __init__(self, paths: list[Path], keeps: list[pl.Series], height: int):
        self.paths, self.keeps, self.height = paths, keeps, height
        self.empty = pl.DataFrame(schema=UNARY_SCHEMA)
        self.columns = self.empty.columns

    def slices(self):
        half = WRITE_ROWS // 2
        for good, bad in zip_longest(_chunks(self._rows(True), half),
                                     _chunks(self._rows(False), half)):
            # every chunk but a class's last has `half` rows: a shorter one means that class
            # has run out, and the rest of the other class follows, as in the whole
            yield kto_rows(pl.concat([c for c in (good, bad) if c is not None],
                                     how="vertical_relaxed"))

    def _rows(self, label: bool):
        for path, kept in zip(self.paths, self.keeps):
            rows = pl.read_ipc(path).filter(kept).filter(pl.col("label") == label)
            if rows.height:
                yield rows

    def estimated_size(self) -> int:
        return sum(p.stat().st_size for p in self.paths)


def _chunks(pieces, n: int):
    """Frames → frames of exactly n rows, in order (the last one shorter)."""
    held: list[pl.DataFrame] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += piece.height
        while size >= n:
            whole = pl.concat(held, how="vertical_relaxed")
            yield whole.head(n)
            held, size = [whole.slice(n)], size - n
    if size:
        yield pl.concat(held, how="vertical_relaxed")
