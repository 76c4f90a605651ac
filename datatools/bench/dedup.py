"""Near-dedup benchmark: ours (the near_dedup kernel in memory, and a whole `datatools build`
process) vs datasketch and rensa written the way their READMEs show, in the same run, on a
corpus of near-duplicate families with hard negatives and near-threshold copies (see
`corpus`). Every system's removals are scored the same way (`corpus.score_removals`)."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from datatools.bench.corpus import make_corpus, score_removals
from datatools.bench.process import run_cli_build, run_process

QUALITY = ("recall", "precision", "pair_recall", "removed_without_partner",
           "clusters_with_none_left")


def _ours_in_memory(texts: pl.Series, params) -> tuple[float, np.ndarray]:
    from datatools.filters.near_dedup import near_duplicates

    n = len(texts)
    # warm-up on a small slice: one-time costs (pyarrow import, thread pools) are not throughput
    near_duplicates(texts[:1000], np.arange(min(n, 1000)), params)
    t0 = time.perf_counter()
    cl = near_duplicates(texts, np.arange(n), params)
    return time.perf_counter() - t0, np.flatnonzero(cl.rep >= 0)


def _ours_process(tmp: Path, data: Path, threshold: float, num_perm: int, ngram: int):
    recipe = tmp / "recipe.yaml"
    recipe.write_text(json.dumps({  # JSON is YAML
        "name": "bench-dedup", "sources": [{"path": str(data), "format": "trl"}],
        "steps": [{"validate": {}},
                  {"near_dedup": {"threshold": threshold, "num_perm": num_perm, "ngram": ngram}}],
        # as `bench build`: the dataset, ledger and reports, no candidate frame (the baselines
        # write only their removals)
        "outputs": {"dir": str(tmp / "out"), "sft": {}, "candidates": "none"},
    }))
    measured = run_cli_build(recipe, "--no-cache")
    ledger = pl.read_parquet(tmp / "out" / "rejects" / "rejects.parquet")
    ids = ledger.filter(pl.col("step") == "near_dedup")["id"].unique()
    return measured, np.sort(ids.str.slice(1).cast(pl.Int64).to_numpy())


def _baseline_process(name: str, tmp: Path, data: Path, threshold: float, num_perm: int,
                      ngram: int):
    out = tmp / name
    cmd = [sys.executable, "-m", "datatools.bench.dedup_baselines", name, str(data), str(out),
           str(threshold), str(num_perm), str(ngram)]
    measured, stdout = run_process(cmd)
    return measured, json.loads(stdout.strip().splitlines()[-1])["dedup_s"], \
        np.load(out / "removed.npy")


def _available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def run_dedup_bench(docs: int = 100_000, words: int = 200, seed: int = 0, threshold: float = 0.8,
                    num_perm: int = 128, ngram: int = 5,
                    baselines: tuple[str, ...] = ("datasketch", "rensa"),
                    whole_process: bool = True, workdir: Path | None = None) -> dict:
    from datatools.filters.near_dedup import NearDedupParams

    t0 = time.perf_counter()
    corpus = make_corpus(docs, words, seed, ngram=ngram)
    j = corpus.jaccard
    result: dict = {
        "docs": docs, "words": words, "seed": seed, "threshold": threshold,
        "num_perm": num_perm, "ngram": ngram, "corpus_s": round(time.perf_counter() - t0, 2),
        "family_pairs": int(len(j)), "pairs_ge_threshold": int((j >= threshold).sum()),
        "hard_negatives_0.6_to_threshold": int(((j >= 0.6) & (j < threshold)).sum()),
    }
    texts = pl.Series("text", corpus.texts)
    params = NearDedupParams(threshold=threshold, num_perm=num_perm, ngram=ngram)
    seconds, removed = _ours_in_memory(texts, params)
    q = score_removals(corpus, removed, threshold)
    result.update({"true_clusters": q["true_clusters"], "should_remove": q["should_remove"],
                   "ours_in_memory_s": round(seconds, 3),
                   "ours_in_memory_docs_per_s": round(docs / seconds),
                   **{f"ours_{k}": q[k] for k in QUALITY}})
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        data = tmp / "corpus.jsonl"
        pl.DataFrame({"id": [f"d{i}" for i in range(docs)], "prompt": texts,
                      "completion": pl.repeat("ok", docs, eager=True)}).write_ndjson(data)
        if whole_process:
            measured, removed_cli = _ours_process(tmp, data, threshold, num_perm, ngram)
            result.update({"ours_process_s": measured["wall_s"],
                           "ours_process_docs_per_s": round(docs / measured["wall_s"]),
                           "ours_process_cpu_s": measured["cpu_s"],
                           "ours_peak_rss_mb": measured["peak_rss_mb"],
                           "ours_process_same_removals": bool(np.array_equal(removed_cli,
                                                                             removed))})
        for name in baselines:
            if not _available(name):
                result[f"{name}"] = "not installed (pip install datatools[bench])"
                continue
            measured, dedup_s, removed_b = _baseline_process(name, tmp, data, threshold,
                                                             num_perm, ngram)
            qb = score_removals(corpus, removed_b, threshold)
            result.update({f"{name}_in_memory_s": round(dedup_s, 3),
                           f"{name}_in_memory_docs_per_s": round(docs / dedup_s),
                           f"{name}_process_s": measured["wall_s"],
                           f"{name}_process_docs_per_s": round(docs / measured["wall_s"]),
                           f"{name}_peak_rss_mb": measured["peak_rss_mb"],
                           **{f"{name}_{k}": qb[k] for k in QUALITY},
                           f"in_memory_speedup_vs_{name}": round(dedup_s / seconds, 2)})
            if whole_process:
                result[f"process_speedup_vs_{name}"] = round(
                    measured["wall_s"] / result["ours_process_s"], 2)
    return result
