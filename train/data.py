"""Training data: a built folder, any file the builder's readers accept, or a Hub id → Dataset.

Also the held-out split (by a hash of the prompt, so one prompt never straddles it), the pairs
used for evaluation, and the KTO weights the builder wrote into metadata.json.
"""
from __future__ import annotations

import json
from pathlib import Path

from datatools.schemas.errors import Problem, SourceError

_BUILT_METADATA: dict[str, dict] = {}  # raw file → the builder's metadata (KTO weights)


def load_training_data(data: str | Path, method: str, seed: int = 0, workdir: Path | None = None):
    """`data` for `method` (sft | dpo | kto | grpo) as a `datasets.Dataset` in TRL's column names."""
    import datasets

    from datatools.train.methods import get_method

    kind = get_method(method).kind
    path = Path(data)
    if path.is_dir():
        if (path / kind).is_dir() and not any(path.glob("*.parquet")):
            path = path / kind  # an OUT folder of a build: take OUT/<kind>
        # test.parquet is a build's held-out split (OUT/prompts/test.parquet): never trained on
        files = sorted(str(p) for p in path.rglob("*.parquet") if p.name != "test.parquet")
        if not files:
            raise SourceError(Problem(str(path), "no parquet files: expected a built dataset folder "
                                                 f"such as OUT/{kind}"))
        ds = datasets.load_dataset("parquet", data_files=files, split="train")
    elif path.is_file():
        ds = _from_readers(path, method, seed, workdir or path.parent)
    elif "/" in str(data) and not str(data).startswith((".", "/", "~")) and not path.suffix:
        try:
            ds = datasets.load_dataset(str(data), split="train")
        except Exception as exc:  # offline, missing, private: all user-fixable
            raise SourceError(Problem(str(data), f"cannot load Hub dataset: {exc}")) from exc
    else:
        raise SourceError(Problem(str(data), "not found: give a built dataset folder, a file or a "
                                             "Hub id (org/name)"))
    return check_columns(ds, method, str(data))


def _from_readers(path: Path, method: str, seed: int, workdir: Path):
    """Any file format the builder reads, normalised and built into TRL rows on the fly."""
    import datasets
    import polars as pl

    try:
        from datatools.builders.pairwise import build_pairwise
        from datatools.builders.prompts import build_prompts
        from datatools.builders.sft import build_sft
        from datatools.builders.unary import build_unary
        from datatools.readers import read_source
    except ImportError as exc:
        raise SourceError(Problem(str(path), f"reading raw files needs the builder ({exc})")) from exc
    from datatools.schemas.recipe import (PairwiseParams, PromptsParams, SFTParams, Source,
                                          UnaryParams)

    result = read_source(Source(path=str(path)), workdir)
    frame = getattr(result, "frame", result)
    builder = {"sft": (build_sft, SFTParams()), "dpo": (build_pairwise, PairwiseParams()),
               "kto": (build_unary, UnaryParams()),
               "grpo": (lambda f, p, _seed: build_prompts(f, p), PromptsParams())}[method]
    built = builder[0](frame, builder[1], seed)  # (dataset, skipped[, metadata])
    if isinstance(built, tuple):
        if len(built) > 2 and isinstance(built[2], dict):
            _BUILT_METADATA[str(path)] = built[2]
        built = built[0]
    if "split" in built.columns:  # held-out prompts (meta.split = held_out) are never trained on
        built = built.filter(pl.col("split") != "test").drop("split")
    if built.height == 0:
        raise SourceError(Problem(str(path), f"no {method} rows could be built from it"))
    return datasets.Dataset.from_list(built.to_dicts())


def check_columns(ds, method: str, where: str):
    from datatools.train.methods import get_method

    cols = set(ds.column_names)
    spec = get_method(method)
    if not spec.has_columns(cols):
        need = " or ".join(str(list(alt)) for alt in spec.required)
        missing = sorted(set(spec.required[0]) - cols)
        raise SourceError(Problem(where, f"{method} data needs columns {need}; missing "
                                         f"{missing} (found {sorted(cols)})"))
    if "id" not in cols:
        ds = ds.add_column("id", [str(i) for i in range(len(ds))])
    if "source" not in cols:
        ds = ds.add_column("source", [where] * len(ds))
    return ds


def split_by_prompt(ds, fraction: float, seed: int, method: str):
    """(train, held_out): a stable share of *prompts* held out, chosen by a hash of the prompt, so
    no prompt is on both sides (record ids hash prompt + answers: two records with one prompt
    would straddle a split by id) and the KTO rows of one prompt stay together."""
    import xxhash

    from datatools.train.evaluate import prompt_key
    from datatools.train.methods import get_method

    if fraction <= 0 or len(ds) < 2:
        return ds, ds.select([])
    spec = get_method(method)
    keys = [prompt_key(spec.prompt_of(row)) for row in ds]

    def unit(key: str) -> float:
        return xxhash.xxh64(f"{seed}:{key}".encode()).intdigest() / 2**64

    held = [unit(k) < fraction for k in keys]
    if all(held) or not any(held):  # tiny sets: fall back to the first prompts in hash order
        order = sorted(set(keys), key=unit)
        chosen = set(order[: max(1, round(len(order) * fraction))])
        if len(chosen) == len(order):
            chosen = set(order[:-1])
        held = [k in chosen for k in keys]
    return (ds.select([k for k, h in enumerate(held) if not h]),
            ds.select([k for k, h in enumerate(held) if h]))


def kto_weights(data: str | Path | None, ds) -> tuple[float, float, str]:
    """(λ_D, λ_U, where from): the builder's metadata.json, else KTO Eq. 8 from the labels of
    `ds`. `data=None`: from the labels of `ds` only (the trainer passes the rows it trains).

    Ethayarajh et al. 2024, Eq. 8: pick λ_D·n_D / (λ_U·n_U) ∈ [1, 4/3].
    """
    m = _BUILT_METADATA.get(str(data), {}) if data is not None else {}
    if "desirable_weight" in m and "undesirable_weight" in m:
        return float(m["desirable_weight"]), float(m["undesirable_weight"]), "builder metadata"
    for folder in (Path(data), Path(data) / "unary") if data is not None else ():
        meta = folder / "metadata.json"
        if meta.is_file():
            m = json.loads(meta.read_text())
            if "desirable_weight" in m and "undesirable_weight" in m:
                return float(m["desirable_weight"]), float(m["undesirable_weight"]), str(meta)
    n_d = sum(1 for x in ds["label"] if x)
    n_u = len(ds) - n_d
    if n_d == 0 or n_u == 0:
        raise SourceError(Problem(str(data or "train.data"), f"KTO needs both labels; found {n_d} desirable and "
                                             f"{n_u} undesirable rows"))
    from datatools.builders.unary import kto_weights as eq8_weights  # the builder's formula

    return (*eq8_weights(n_d, n_u), "Eq. 8 from labels")
