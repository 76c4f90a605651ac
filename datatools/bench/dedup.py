"""Near-dedup benchmark: our vectorised MinHash/LSH vs a plain datasketch baseline, on a
synthetic corpus with planted near-duplicates of known true Jaccard."""
from __future__ import annotations

import resource
import time

import numpy as np
import polars as pl

from datatools.bench.corpus import exact_jaccard, make_corpus


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _baseline(texts: list[str], threshold: float, num_perm: int, ngram: int):
    """datasketch as its README shows it: MinHash.bulk over word 5-gram bytes + MinHashLSH."""
    from datasketch import MinHash, MinHashLSH

    shingles = []
    for t in texts:
        w = t.lower().split()
        shingles.append([" ".join(w[i:i + ngram]).encode() for i in range(len(w) - ngram + 1)])
    sigs = MinHash.bulk(shingles, num_perm=num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    found = set()
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            found.add((j, i))
        lsh.insert(i, m)
    return found


def run_dedup_bench(docs: int = 200_000, words: int = 200, seed: int = 0, threshold: float = 0.8,
                    num_perm: int = 128, ngram: int = 5, baseline: bool = True) -> dict:
    from datatools.filters.near_dedup import NearDedupParams, near_duplicates

    t0 = time.perf_counter()
    corpus = make_corpus(docs, words, seed, ngram=ngram)
    gen_s = time.perf_counter() - t0
    texts = pl.Series("text", corpus.texts)
    params = NearDedupParams(threshold=threshold, num_perm=num_perm, ngram=ngram)

    # warm-up on a small slice: one-time costs (pyarrow import, thread pools) are not throughput
    near_duplicates(texts[:1000], np.arange(min(docs, 1000)), params)
    t0 = time.perf_counter()
    cl = near_duplicates(texts, np.arange(docs), params)
    ours_s = time.perf_counter() - t0
    rss_ours = _rss_mb()

    o, c = corpus.pairs[:, 0], corpus.pairs[:, 1]
    pos = corpus.jaccard >= threshold
    # a planted pair is caught when its two documents do not both survive
    caught = (cl.rep[o] >= 0) | (cl.rep[c] >= 0)
    removed = np.flatnonzero(cl.rep >= 0)
    toks = [t.split() for t in corpus.texts] if len(removed) else []
    true_j = np.array([exact_jaccard(toks[i], toks[cl.rep[i]], ngram) for i in removed])
    result = {
        "docs": docs, "words": words, "seed": seed, "threshold": threshold,
        "num_perm": num_perm, "ngram": ngram, "corpus_s": round(gen_s, 2),
        "planted_pairs": int(len(pos)), "planted_pairs_ge_threshold": int(pos.sum()),
        "planted_pairs_below_threshold": int((~pos).sum()),
        "ours_s": round(ours_s, 3), "ours_docs_per_s": round(docs / ours_s),
        "ours_recall": round(float(caught[pos].mean()), 4) if pos.any() else None,
        "ours_removed": int(len(removed)),
        "ours_precision": round(float((true_j >= threshold).mean()), 4) if len(removed) else None,
        "ours_below_threshold_removed": int((true_j < threshold).sum()),
        "peak_rss_mb_ours": round(rss_ours),
    }
    if baseline:
        t0 = time.perf_counter()
        found = _baseline(corpus.texts, threshold, num_perm, ngram)
        base_s = time.perf_counter() - t0
        hit = np.array([(a, b) in found for a, b in zip(o.tolist(), c.tolist())])
        result.update({
            "baseline_s": round(base_s, 3), "baseline_docs_per_s": round(docs / base_s),
            "baseline_recall": round(float(hit[pos].mean()), 4) if pos.any() else None,
            "speedup": round(base_s / ours_s, 2),
        })
    result["peak_rss_mb"] = round(_rss_mb())
    return result
