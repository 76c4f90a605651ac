"""Build benchmark: a real recipe (validate + exact_dedup + near_dedup + length → pairwise) over
synthetic pairwise preference records, run as `datatools build` in its own process: whole-
process wall and CPU seconds, peak RSS, and the build's own per-phase profile.

Records: prompt 30–60 words, chosen / rejected 100–200 words each (TRL pairwise JSONL), with
planted exact duplicates (whole records copied) and near-duplicate prompts (one word appended
or the last word replaced: word 5-gram Jaccard ≥ 0.9 at these lengths) of earlier records.
They are generated and written a chunk at a time, so generating a million records holds one
chunk (~0.1 GB), not the whole file's worth of strings.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from datatools.bench.process import run_cli_build

CHUNK = 50_000  # records generated (and their duplicates planted) at a time


def _texts(rng: np.random.Generator, vocab: pl.Series, n: int, lo: int, hi: int) -> pl.Series:
    """n texts of lo..hi random vocabulary words, built column-wise (no Python loop)."""
    lens = rng.integers(lo, hi + 1, n)
    words = vocab.gather(rng.integers(0, len(vocab), int(lens.sum())))
    return (pl.DataFrame({"w": words, "doc": np.repeat(np.arange(n), lens)})
            .group_by("doc", maintain_order=True).agg(pl.col("w").str.join(" "))["w"])


def _vocab(seed: int) -> pl.Series:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return pl.Series(sorted({"".join(rng.choice(letters, k)) for k in rng.integers(2, 9, 60_000)}))


def _chunk(rng: np.random.Generator, vocab: pl.Series, records: int, exact_fraction: float,
           near_fraction: float) -> tuple[pl.DataFrame, int, int]:
    """`records` records with exact copies and near-copy prompts of earlier ones (in the chunk)."""
    frame = pl.DataFrame({
        "prompt": _texts(rng, vocab, records, 30, 60),
        "chosen": _texts(rng, vocab, records, 100, 200),
        "rejected": _texts(rng, vocab, records, 100, 200),
    })
    n_exact, n_near = int(records * exact_fraction), int(records * near_fraction)
    if records < 2 or n_exact + n_near == 0:
        return frame, 0, 0
    picks = rng.choice(np.arange(1, records), n_exact + n_near, replace=False)
    exact, near = picks[:n_exact], picks[n_exact:]
    # each copy's source: an earlier record that is itself no copy, so every plant counts
    originals = np.setdiff1d(np.arange(records), picks)
    src_exact, src_near = (originals[(rng.random(len(t)) * np.searchsorted(originals, t))
                                     .astype(np.int64)] for t in (exact, near))
    idx = np.arange(records)
    idx[exact] = src_exact
    frame = frame[idx]  # exact copies: the whole record repeated
    extra = vocab.gather(rng.integers(0, len(vocab), n_near))
    base = frame["prompt"].gather(src_near)
    odd = pl.Series(np.arange(n_near) % 2 == 1)
    near_prompts = pl.select(pl.when(odd).then(base).otherwise(base.str.replace(r"\s\S+$", ""))
                             .add(" ").add(extra))[:, 0]
    return frame.with_columns(frame["prompt"].scatter(near, near_prompts)), n_exact, n_near


def make_records(path: Path, records: int, seed: int = 0, exact_fraction: float = 0.02,
                 near_fraction: float = 0.03, chunk: int = CHUNK) -> dict:
    """Write `records` pairwise JSONL records to `path`, a chunk at a time; returns what was
    planted. Duplicates copy earlier records of their own chunk."""
    vocab = _vocab(seed)
    planted_exact = planted_near = 0
    with open(path, "wb") as fh:
        for index, lo in enumerate(range(0, records, chunk)):
            rng = np.random.default_rng([seed, index])
            frame, n_exact, n_near = _chunk(rng, vocab, min(chunk, records - lo),
                                            exact_fraction, near_fraction)
            frame.write_ndjson(fh)
            planted_exact, planted_near = planted_exact + n_exact, planted_near + n_near
            del frame
    return {"records": records, "planted_exact": planted_exact,
            "planted_near_prompts": planted_near, "bytes": path.stat().st_size}


def recipe_dict(data: Path, out: Path) -> dict:
    return {
        "name": "bench-build", "seed": 0,
        "sources": [{"path": str(data), "format": "trl"}],
        "steps": [
            {"validate": {}},
            {"exact_dedup": {}},
            {"near_dedup": {"fields": ["prompt"]}},
            {"length": {"prompt": {"max_words": 58}, "completion": {"min_words": 102}}},
        ],
        "outputs": {"dir": str(out), "pairwise": {}, "candidates": "none"},
    }


def run_build_bench(records: int = 1_000_000, seed: int = 0, workdir: Path | None = None,
                    use_cache: bool = True, data: Path | None = None, executor: str = "local",
                    num_cpus: int | None = None, object_store_mb: int | None = None) -> dict:
    """Generate the records (or reuse `data` when it exists; it is kept), build them with the
    CLI, and return whole-process numbers, per-step seconds and the per-phase profile."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        path = Path(data) if data is not None else tmp / "records.jsonl"
        t0 = time.perf_counter()
        meta_path = path.with_name(path.name + ".planted.json")
        if data is not None and path.exists() and meta_path.exists():
            planted = json.loads(meta_path.read_text())
        else:
            planted = make_records(path, records, seed)
            if data is not None:
                meta_path.write_text(json.dumps(planted))
        gen_s = time.perf_counter() - t0
        recipe = tmp / "recipe.yaml"
        spec = recipe_dict(path, tmp / "out")
        if executor == "ray":  # a local Ray instance inside the build process
            spec["executor"] = {"kind": "ray", "num_cpus": num_cpus, "temp_dir": str(tmp / "ray"),
                                "object_store_mb": object_store_mb}
        recipe.write_text(json.dumps(spec))  # JSON is YAML
        profile = tmp / "profile.json"
        args = ["--profile", str(profile)] + ([] if use_cache else ["--no-cache"])
        from datatools.bench.host_cpu import HostCPU
        from datatools.bench.tree_rss import TreeRSS

        with TreeRSS() as tree, HostCPU() as host:
            process = run_cli_build(recipe, *args)
        report = json.loads((tmp / "out" / "report.json").read_text())
        phases = json.loads(profile.read_text())["phases"]
        steps = {s["name"]: s["seconds"] for s in report["steps"]}
        return {
            **planted, "generate_s": round(gen_s, 2), "rows_read": report["rows_read"],
            "read_s": round(sum(s["seconds"] for s in report["sources"]), 2),
            **{f"{k}_s": v for k, v in steps.items()},
            "rejected": {s["name"]: s["rejected"] for s in report["steps"]},
            "pairwise_rows": report["outputs"]["pairwise"]["rows"],
            "total_s": process["wall_s"], "cpu_s": process["cpu_s"],
            "cpu_per_wall": process["cpu_per_wall"], "peak_rss_mb": process["peak_rss_mb"],
            "startup_to_first_work_s": startup_seconds(phases),
            "executor": executor, "peak_tree_rss_mb": round(tree.peak_mb),
            "peak_tree_private_mb": round(tree.peak_private_mb),
            "peak_build_private_mb": round(tree.peak_child_private_mb),
            # wall seconds mean little when the hypervisor took the cores (README, Benchmarks)
            "host_steal_pct": host.steal_pct, "host_busy_pct": host.busy_pct,
            "profile": phases,
        }


def startup_seconds(phases: list[dict]) -> float:
    """Wall seconds from process start to the first read (the phases before it)."""
    total = 0.0
    for p in phases:
        if p["phase"].startswith("read "):
            break
        total += p["wall_s"]
    return round(total, 3)
