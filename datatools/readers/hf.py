"""Datasets through Hugging Face `datasets`: a folder saved with `save_to_disk`, and Hub ids.

`datasets` is imported inside the functions: it costs ~0.6 s and most commands never need it.
"""
from __future__ import annotations

from pathlib import Path

from datatools.schemas.errors import Problem, SourceError

from datatools.readers.raw import parts_of


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


def dataset_records(dataset, batch: int, limit: int | None = None, first: int = 0):
    """(index, row dict) of rows first..limit-1 (all by default), `batch` rows at a time
    (Python objects for one batch at a time, not the whole dataset's); index as in
    `dataset[index]`."""
    rows = len(dataset) if limit is None else min(limit, len(dataset))
    for start in range(first, rows, batch):
        # a slice is formatted column-wise: the same row values as `dataset[index]`, 10x
        # faster than iterating rows (50k rows: 0.19 s against 1.8 s)
        columns = dataset[start:min(start + batch, rows)]
        keys = list(columns)
        yield from enumerate((dict(zip(keys, values)) for values in zip(*columns.values())),
                             start)


def load_saved(folder: Path, name: str, split: str):
    """A folder saved with `save_to_disk` (the recipe's split of a DatasetDict)."""
    from datasets import load_from_disk

    try:
        dataset = load_from_disk(str(folder))
    except Exception as err:  # datasets raises many types; all mean "this folder is unusable"
        raise SourceError(Problem(name, f"cannot load saved dataset: {err}")) from err
    return _pick_split(dataset, split, name)


def hub_name(hub: str) -> str:
    return f"hub:{hub}"


def load_hub(hub: str, split: str, config: str | None, revision: str | None):
    """A Hub dataset (or anything `datasets.load_dataset` accepts as a path)."""
    from datasets import load_dataset

    try:
        return load_dataset(hub, config, split=split, revision=revision)
    except Exception as err:  # not found, offline, bad config or split: all unusable as a whole
        raise SourceError(Problem(hub_name(hub), f"cannot load from the Hub: "
                                  f"{type(err).__name__}: {err}")) from err


def iter_saved(folder: Path, name: str, split: str, limit: int | None, batch: int):
    yield from parts_of(dataset_records(load_saved(folder, name, split), batch, limit), name,
                        batch)


def iter_hub(hub: str, split: str, config: str | None, revision: str | None,
             limit: int | None, batch: int):
    yield from parts_of(dataset_records(load_hub(hub, split, config, revision), batch, limit),
                        hub_name(hub), batch)
