"""Writing a build's results: datasets, ledger, report — into a staged build folder that
`out_folder.OutFolder` publishes with one atomic switch (a killed run changes nothing visible).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from datatools.frame import LEDGER_SCHEMA, REJECT_COLUMNS
from datatools.out_folder import OutFolder
from datatools.parquet_out import WRITE_ROWS, compact, sink, write_parquet, write_slices
from datatools.profiling import Profile
from datatools.schemas.errors import Problem, UserError
from datatools.threads import run_jobs

def to_ledger(rejected: pl.DataFrame | pl.LazyFrame, step: str) -> pl.DataFrame | pl.LazyFrame:
    """Rejected frame rows → ledger rows; the whole row is kept as JSON in `record`."""
    if isinstance(rejected, pl.DataFrame) and rejected.height == 0:
        return pl.DataFrame(schema=LEDGER_SCHEMA)
    columns = rejected.collect_schema().names()
    payload = [c for c in columns if c not in REJECT_COLUMNS]
    return rejected.select(
        pl.lit(step).alias("step"),
        pl.col("reason").cast(pl.String),
        pl.col("detail").cast(pl.String).fill_null(""),
        pl.col("source").cast(pl.String) if "source" in columns else pl.lit(None, pl.String).alias("source"),
        pl.col("id").cast(pl.String) if "id" in columns else pl.lit(None, pl.String).alias("id"),
        pl.col("candidate_id").cast(pl.String) if "candidate_id" in columns
        else pl.lit(None, pl.String).alias("candidate_id"),
        pl.struct(payload).struct.json_encode().alias("record"),
    )


class FilePart:
    """Rows kept in a parquet file until they are written (a Ray block task's rejected rows):
    the driver reads one part at a time, never the whole ledger."""

    def __init__(self, path: Path):
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.height = pq.read_metadata(self.path).num_rows

    def frame(self, columns: list[str] | None = None) -> pl.DataFrame:
        return pl.read_parquet(self.path, columns=columns)

    def group_by(self, column: str):
        return self.frame([column]).group_by(column)

    def scan(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.path)


class Parts:
    """A dataset written by block tasks as Arrow IPC parts (in frame order), concatenated
    into its parquet file as it is written: one part in memory at a time."""

    def __init__(self, paths: list[Path], empty: pl.DataFrame, height: int):
        self.paths, self.empty, self.height = list(paths), empty, height
        self.columns = empty.columns

    def scans(self, split: str | None = None) -> list[pl.LazyFrame]:
        """The parts as lazy frames (read a piece at a time by the writer's `sink`)."""
        return [pl.scan_ipc(path) if split is None else
                pl.scan_ipc(path).filter(pl.col("split") == split).drop("split")
                for path in self.paths]

    def estimated_size(self) -> int:
        return sum(p.stat().st_size for p in self.paths)


class Ledger:
    """The build's ledger, kept as parts until it is written.

    A step's rejected rows stay a frame (their text is shared with the frame the step read,
    so holding them costs little) and become ledger rows, each with the whole row as JSON,
    only while being written, a slice at a time: as JSON they were ~0.4 GB at a million
    records, held from the first step to the end of the build."""

    def __init__(self) -> None:
        self.parts: list[tuple[str | None, pl.DataFrame | FilePart]] = []

    def add_rejected(self, step: str, rejected: pl.DataFrame | FilePart) -> None:
        """A step's rejected frame (frame columns + reason + detail), or a file of them."""
        if rejected.height:
            self.parts.append((step, rejected))

    def add_rows(self, rows: pl.DataFrame | FilePart) -> None:
        """Rows already in LEDGER_SCHEMA (reading, builders), or a file of them."""
        if rows.height:
            self.parts.append((None, rows))

    @property
    def height(self) -> int:
        return sum(part.height for _, part in self.parts)

    def counts(self, column: str) -> dict[str, int]:
        """{value: rows} of `step` or `reason`, most frequent first."""
        totals: dict[str, int] = {}
        for step, part in self.parts:
            if step is not None and column == "step":  # a step's rejects all carry its name
                totals[step] = totals.get(step, 0) + part.height
                continue
            for value, n in part.group_by(column).len().iter_rows():
                totals[value] = totals.get(value, 0) + n
        return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))

    def _pieces(self, rows: int = WRITE_ROWS) -> list[pl.LazyFrame]:
        """The ledger rows as lazy pieces: made (JSON included) only as the writer reaches them."""
        pieces = []
        for step, part in self.parts:
            parts = ([part.scan()] if isinstance(part, FilePart) else
                     [compact(piece.lazy()) for piece in part.iter_slices(rows)])
            pieces += [to_ledger(p, step) if step is not None else p for p in parts]
        return pieces

    def write(self, path: Path) -> None:
        sink(self._pieces(), pl.DataFrame(schema=LEDGER_SCHEMA), path)


class Staging:
    """Writes a build's items into one staged build folder (see `out_folder.OutFolder`, which
    publishes the folder as a whole with one atomic switch)."""

    def __init__(self, folder: Path):
        self.dir = Path(folder)
        self.items: list[str] = []

    def write_frame(self, name: str, frame: "pl.DataFrame | Parts | _SplitOf",
                    file: str = "train.parquet", metadata: dict[str, Any] | None = None) -> Path:
        folder = self.dir / name
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(frame, pl.DataFrame):
            write_parquet(frame, folder / file)
        elif hasattr(frame, "scans"):  # parts from block tasks, read a piece at a time
            sink(frame.scans(), frame.empty, folder / file)
        else:  # slices made one at a time
            write_slices(frame.slices(), frame.empty, folder / file)
        if metadata is not None:
            (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
        self._add(name)
        return folder

    def write_dataset(self, kind: str, data: pl.DataFrame | Parts, metadata: dict | None,
                      splits: list[str] | None = None) -> Path:
        """OUT/<kind>/train.parquet; a dataset with a `split` column (prompts) is written one
        file per split, `test` holding held-out rows no trainer reads (train.data skips it).
        `splits`: the split names of a dataset given as Parts (from its metadata)."""
        if "split" not in data.columns:
            return self.write_frame(kind, data, metadata=metadata)
        folder = self.dir / kind
        for split in (split_names(data) if isinstance(data, pl.DataFrame) else splits):
            part = (data.filter(pl.col("split") == split).drop("split")
                    if isinstance(data, pl.DataFrame) else _SplitOf(data, split))
            folder = self.write_frame(kind, part, file=f"{split}.parquet", metadata=metadata)
        return folder

    def write_ledger(self, ledger: Ledger) -> Path:
        folder = self.dir / "rejects"
        folder.mkdir(parents=True, exist_ok=True)
        ledger.write(folder / "rejects.parquet")
        self._add("rejects")
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


def write_outputs(out: OutFolder | Path, frame: pl.DataFrame | Parts, ledger: Ledger,
                  datasets: dict[str, pl.DataFrame | Parts], metadata: dict, report: dict,
                  profile: Profile | None = None, candidates: str = "full",
                  report_html: bool = True) -> None:
    """Stage the outputs the recipe asks for in a new build folder, then publish it with one
    switch. `candidates`: full | scores (no text columns) | none. The frame and datasets may
    be `Parts` (a streamed Ray build): they are then written a part at a time."""
    if not isinstance(out, OutFolder):
        with OutFolder(out) as folder:
            return write_outputs(folder, frame, ledger, datasets, metadata, report, profile,
                                 candidates, report_html)
    from datatools.publish.card import render_card

    profile = profile if profile is not None else Profile()
    staging = Staging(out.stage())
    try:
        with profile.phase("write report.json"):
            staging.write_json("report.json", report)
        # The card is what makes `load_dataset(OUT, kind)` work, so a failure there fails the build.
        with profile.phase("write card (README.md)"):
            staging.write_text("README.md", render_card(report))
        with profile.parallel("write outputs") as parts:
            parts.update(run_jobs(_writers(staging, frame, ledger, datasets, metadata, report,
                                           candidates, report_html)))
    except OSError as err:
        if not disk_full(err):
            raise
        need = sum(d.estimated_size() for d in datasets.values()) + frame.estimated_size()
        raise UserError(Problem(str(out.dir), f"disk is full: writing the build under "
                                f"{staging.dir.parent} needs about {need / 2**20:.0f} MiB "
                                "(uncompressed estimate) and more free space than that; "
                                "nothing visible was changed")) from None
    with profile.phase("publish (switch)"):
        out.publish()


class _SplitOf:
    """One split of a Parts dataset, for the writer."""

    def __init__(self, parts: Parts, split: str):
        self.parts, self.split = parts, split
        self.empty = parts.empty.drop("split")

    def scans(self):
        return self.parts.scans(self.split)


def split_names(data: pl.DataFrame) -> list[str]:
    """The files a split dataset is written as: train always (maybe empty), then the others."""
    return ["train"] + sorted(set(data["split"].unique().drop_nulls().to_list()) - {"train"})


def disk_full(err: OSError) -> bool:
    import errno

    return err.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(err)


def _writers(staging: Staging, frame, ledger: Ledger, datasets: dict, metadata: dict,
             report: dict, candidates: str, report_html: bool) -> list:
    """The output writers, as `threads.run_jobs` jobs named for the profile. Each parquet sink
    encodes on every core, so the files are written one after another (at once, they took
    as long and held every sink's row groups: +0.4 GiB at 1M records): the ledger first,
    the pairwise dataset last. report.html reads the written ledger, candidates and other
    datasets, so it waits for them; the pairs it is given in memory (not read from the
    file) let it run beside the pairwise sink."""
    jobs = [("write rejects (ledger)", lambda: staging.write_ledger(ledger))]
    if candidates != "none":
        texts = ("prompt", "completion", "meta") if candidates == "scores" else ()
        jobs.append(("write candidates", lambda: staging.write_frame(
            "candidates", frame if isinstance(frame, Parts)  # (the parts have the chosen columns)
            else frame.drop(texts, strict=False), file="candidates.parquet")))
    for kind in sorted(datasets, key=lambda k: k == "pairwise"):
        splits = metadata[kind].get("splits") or {}
        names = ["train"] + sorted(s for s, n in splits.items() if n and s != "train")
        jobs.append((f"write {kind}", lambda k=kind, n=names:
                     staging.write_dataset(k, datasets[k], metadata[k], n)))
    chained = [(name, fn, (jobs[i - 1][0],) if i else ()) for i, (name, fn) in enumerate(jobs)]
    if report_html:
        pairs = datasets.get("pairwise")
        pairs = pairs if isinstance(pairs, pl.DataFrame) else None
        needs = tuple(name for name, _ in jobs
                      if not (name == "write pairwise" and pairs is not None))
        chained.append(("write report.html", lambda: _report_html(staging, report, pairs), needs))
    return chained


def _report_html(staging: Staging, report: dict, pairs: pl.DataFrame | None) -> None:
    from datatools.publish.report_html import report_html_text

    try:
        staging.write_text("report.html", report_html_text(staging.dir, report, pairs))
    except Exception as err:  # a plotting bug must not throw away a finished build
        import sys

        print(f"warning: report.html not written ({type(err).__name__}: {err}); "
              "`datatools report OUT` retries it", file=sys.stderr)
