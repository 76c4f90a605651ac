"""Datasets through Hugging Face `datasets`: a folder saved with `save_to_disk`, and Hub ids.

`datasets` is imported inside the functions: it costs ~0.6 s and most commands never need it.
"""
from __future__ import annotations

from pathlib import Path

from datatools.schemas.errors import Problem, SourceError

from datatools.readers.raw import RawPart


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file())


def _pick_split(dataset, split: str, name: str):
    """A DatasetDict holds several splits: take the one the recipe names, or say which exist."""
    if hasattr(dataset, "keys") and not hasattr(dataset, "features"):
        if split not in dataset:
            raise SourceError(Problem(name, f"no split {split!r}; splits: {', '.join(dataset)}"))
        return dataset[split]
    return dataset


def _parts(dataset, name: str, limit: int | None, batch: int):
    """The dataset's rows in parts of `batch` (Python objects for one part at a time, not the
    whole dataset's), located `name:index` as `dataset[index]`."""
    rows = len(dataset) if limit is None else min(limit, len(dataset))
    for start in range(0, rows, batch):
        part = RawPart(name)
        for index, row in enumerate(dataset.select(range(start, min(start + batch, rows))),
                                    start):
            part.add(row, f"{name}:{index}")
        yield part
    if not rows:
        yield RawPart(name, limit)


def iter_saved(folder: Path, name: str, split: str, limit: int | None, batch: int):
    from datasets import load_from_disk

    try:
        dataset = load_from_disk(str(folder))
    except Exception as err:  # datasets raises many types; all mean "this folder is unusable"
        raise SourceError(Problem(name, f"cannot load saved dataset: {err}")) from err
    yield from _parts(_pick_split(dataset, split, name), name, limit, batch)


def iter_hub(hub: str, split: str, config: str | None, revision: str | None,
             limit: int | None, batch: int):
    """A Hub dataset (or anything `datasets.load_dataset` accepts as a path)."""
    from datasets import load_dataset

    name = f"hub:{hub}"
    try:
        dataset = load_dataset(hub, config, split=split, revision=revision)
    except Exception as err:  # not found, offline, bad config or split: all unusable as a whole
        raise SourceError(Problem(name, f"cannot load from the Hub: {type(err).__name__}: "
                                  f"{err}")) from err
    yield from _parts(dataset, name, limit, batch)
