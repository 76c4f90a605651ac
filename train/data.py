"""Training data: a built folder, any file the builder's readers accept, or a Hub id → Dataset.

Also the held-out split (by record id, so the KTO rows of one prompt never straddle it), the
pairs used for evaluation, and the KTO weights the builder wrote into metadata.json.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.errors import ConfigError, Problem, SourceError

_BUILT_METADATA: dict[str, dict] = {}  # raw file → the builder's metadata (KTO weights)


def load_training_data(data: str | Path, method: str, seed: int = 0, workdir: Path | None = None):
    """`data` for `method` (sft | dpo | kto) as a `datasets.Dataset` in TRL's column names."""
    import datasets

    from train.methods import get_method

    kind = get_method(method).kind
    path = Path(data)
    if path.is_dir():
        if (path / kind).is_dir() and not any(path.glob("*.parquet")):
            path = path / kind  # an OUT folder of a build: take OUT/<kind>
        files = sorted(str(p) for p in path.rglob("*.parquet"))
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

    try:
        from datatools import build
        from datatools.readers import read_source
    except ImportError as exc:
        raise SourceError(Problem(str(path), f"reading raw files needs the builder ({exc})")) from exc
    from schemas.recipe import PairwiseParams, SFTParams, Source, UnaryParams

    result = read_source(Source(path=str(path)), workdir)
    frame = getattr(result, "frame", result)
    builder = {"sft": (build.build_sft, SFTParams()), "dpo": (build.build_pairwise, PairwiseParams()),
               "kto": (build.build_unary, UnaryParams())}[method]
    built = builder[0](frame, builder[1], seed)  # (dataset, skipped[, metadata])
    if isinstance(built, tuple):
        if len(built) > 2 and isinstance(built[2], dict):
            _BUILT_METADATA[str(path)] = built[2]
        built = built[0]
    if built.height == 0:
        raise SourceError(Problem(str(path), f"no {method} rows could be built from it"))
    return datasets.Dataset.from_list(built.to_dicts())


def check_columns(ds, method: str, where: str):
    from train.methods import get_method

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


def split_by_id(ds, fraction: float, seed: int):
    """(train, held_out): a stable share of record ids held out; rows of one id stay together."""
    import xxhash

    if fraction <= 0 or len(ds) < 2:
        return ds, ds.select([])
    held = [xxhash.xxh64(f"{seed}:{i}".encode()).intdigest() / 2**64 < fraction for i in ds["id"]]
    if all(held) or not any(held):  # tiny sets: fall back to the first ids in hash order
        order = sorted(set(ds["id"]), key=lambda i: xxhash.xxh64(f"{seed}:{i}".encode()).intdigest())
        keep = set(order[: max(1, round(len(order) * fraction))])
        held = [i in keep for i in ds["id"]]
    return (ds.select([k for k, h in enumerate(held) if not h]),
            ds.select([k for k, h in enumerate(held) if h]))


def eval_pairs(held_out, method: str) -> list[dict[str, Any]]:
    """Held-out rows as pairs {id, source, prompt, chosen, rejected} for pairwise accuracy.

    KTO data is unary: each held-out prompt with a desirable and an undesirable completion
    makes one pair (first desirable vs first undesirable).
    """
    if method == "dpo":
        return [{k: r[k] for k in ("id", "source", "prompt", "chosen", "rejected")}
                for r in held_out]
    if method != "kto":
        return []
    by_id: dict[str, dict[str, Any]] = {}
    for r in held_out:
        slot = by_id.setdefault(r["id"], {"id": r["id"], "source": r["source"],
                                          "prompt": r["prompt"]})
        slot.setdefault("chosen" if r["label"] else "rejected", r["completion"])
    return [p for p in by_id.values() if "chosen" in p and "rejected" in p]


def kto_weights(data: str | Path, ds) -> tuple[float, float, str]:
    """(λ_D, λ_U, where from): the builder's metadata.json, else KTO Eq. 8 from the labels.

    Ethayarajh et al. 2024, Eq. 8: pick λ_D·n_D / (λ_U·n_U) ∈ [1, 4/3].
    """
    m = _BUILT_METADATA.get(str(data), {})
    if "desirable_weight" in m and "undesirable_weight" in m:
        return float(m["desirable_weight"]), float(m["undesirable_weight"]), "builder metadata"
    for folder in (Path(data), Path(data) / "unary"):
        meta = folder / "metadata.json"
        if meta.is_file():
            m = json.loads(meta.read_text())
            if "desirable_weight" in m and "undesirable_weight" in m:
                return float(m["desirable_weight"]), float(m["undesirable_weight"]), str(meta)
    n_d = sum(1 for x in ds["label"] if x)
    n_u = len(ds) - n_d
    if n_d == 0 or n_u == 0:
        raise SourceError(Problem(str(data), f"KTO needs both labels; found {n_d} desirable and "
                                             f"{n_u} undesirable rows"))
    ratio = n_d / n_u
    if ratio < 1:
        return 1.0 / ratio, 1.0, "Eq. 8 from labels"
    if ratio > 4 / 3:
        return 1.0, ratio * 3 / 4, "Eq. 8 from labels"
    return 1.0, 1.0, "Eq. 8 from labels"
