"""Build benchmark: a real recipe (validate + exact_dedup + near_dedup + length → pairwise) over
synthetic pairwise preference records, run in-process, timed per step, with peak RSS.

Records: prompt 30–60 words, chosen / rejected 100–200 words each (TRL pairwise JSONL), with
planted exact duplicates (whole records copied) and near-duplicate prompts (one word appended
or the last word replaced: word 5-gram Jaccard ≥ 0.9 at these lengths) of earlier records.
"""
from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _texts(rng: np.random.Generator, vocab: pl.Series, n: int, lo: int, hi: int) -> pl.Series:
    """n texts of lo..hi random vocabulary words, built column-wise (no Python loop)."""
    lens = rng.integers(lo, hi + 1, n)
    words = vocab.gather(rng.integers(0, len(vocab), int(lens.sum())))
    return (pl.DataFrame({"w": words, "doc": np.repeat(np.arange(n), lens)})
            .group_by("doc", maintain_order=True).agg(pl.col("w").str.join(" "))["w"])


def make_records(path: Path, records: int, seed: int = 0, exact_fraction: float = 0.02,
                 near_fraction: float = 0.03) -> dict:
    """Write `records` pairwise JSONL records to `path`; returns what was planted."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = pl.Series(sorted({"".join(rng.choice(letters, k)) for k in rng.integers(2, 9, 60_000)}))
    frame = pl.DataFrame({
        "prompt": _texts(rng, vocab, records, 30, 60),
        "chosen": _texts(rng, vocab, records, 100, 200),
        "rejected": _texts(rng, vocab, records, 100, 200),
    })
    n_exact, n_near = int(records * exact_fraction), int(records * near_fraction)
    picks = rng.choice(np.arange(1, records), n_exact + n_near, replace=False)
    exact, near = picks[:n_exact], picks[n_exact:]
    src_exact = (rng.random(n_exact) * exact).astype(np.int64)  # an earlier record
    src_near = (rng.random(n_near) * near).astype(np.int64)
    idx = np.arange(records)
    idx[exact] = src_exact
    frame = frame[idx]  # exact copies: the whole record repeated
    extra = vocab.gather(rng.integers(0, len(vocab), n_near))
    base = frame["prompt"].gather(src_near)
    odd = pl.Series(np.arange(n_near) % 2 == 1)
    near_prompts = pl.select(pl.when(odd).then(base).otherwise(base.str.replace(r"\s\S+$", ""))
                             .add(" ").add(extra))[:, 0]
    frame = frame.with_columns(frame["prompt"].scatter(near, near_prompts))
    frame.write_ndjson(path)
    return {"records": records, "planted_exact": n_exact, "planted_near_prompts": n_near,
            "bytes": path.stat().st_size}


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
        "outputs": {"dir": str(out), "pairwise": {}},
    }


def run_build_bench(records: int = 1_000_000, seed: int = 0, workdir: Path | None = None,
                    use_cache: bool = True) -> dict:
    from datatools.pipeline import run_build
    from datatools.recipe import load_recipe_dict

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        # generated in a child process, so this process's peak RSS is the build's alone
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            planted = pool.apply(make_records, (tmp / "records.jsonl", records, seed))
        gen_s = time.perf_counter() - t0
        rss_before = _rss_mb()
        loaded = load_recipe_dict(recipe_dict(tmp / "records.jsonl", tmp / "out"))
        t0 = time.perf_counter()
        result = run_build(loaded, quiet=True, use_cache=use_cache)
        total = time.perf_counter() - t0
        report = result.report
        steps = {s["name"]: s["seconds"] for s in report["steps"]}
        read_s = sum(s["seconds"] for s in report["sources"])
        return {
            **planted, "generate_s": round(gen_s, 2), "rows_read": report["rows_read"],
            "read_s": round(read_s, 2),
            **{f"{k}_s": v for k, v in steps.items()},
            "rejected": {s["name"]: s["rejected"] for s in report["steps"]},
            "pairwise_rows": report["outputs"]["pairwise"]["rows"],
            "build_s": round(report["seconds"], 2),
            "total_s": round(total, 2),
            "peak_rss_mb_before_build": round(rss_before),
            "peak_rss_mb": round(_rss_mb()),
        }
