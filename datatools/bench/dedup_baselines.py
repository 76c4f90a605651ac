"""The baselines of `datatools bench dedup`: near-dedup written the way the datasketch and rensa
READMEs show it (word 5-gram shingles, a MinHash per document, an LSH index, keep the first
of each near-duplicate group: a document is dropped when a kept one it collides with has an
estimated Jaccard ≥ threshold; otherwise it is kept and indexed).

Run as a process (`python -m datatools.bench.dedup_baselines NAME IN.jsonl OUT_DIR ...`), it
reads the corpus, deduplicates, writes the kept records and the dropped indexes, and prints
the seconds of its in-memory part, so whole-process and in-memory speed come from one run.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def word_shingles(text: str, ngram: int) -> list[str]:
    w = text.lower().split()
    return [" ".join(w[i:i + ngram]) for i in range(len(w) - ngram + 1)] or [" ".join(w)]


def dedup_datasketch(texts: list[str], threshold: float, num_perm: int, ngram: int) -> list[int]:
    """datasketch: `MinHash.bulk` (its fast path) + `MinHashLSH(threshold, num_perm)`."""
    from datasketch import MinHash, MinHashLSH

    sigs = MinHash.bulk([[s.encode() for s in word_shingles(t, ngram)] for t in texts],
                        num_perm=num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    removed = []
    for i, m in enumerate(sigs):
        if any(m.jaccard(sigs[j]) >= threshold for j in lsh.query(m)):
            removed.append(i)
        else:
            lsh.insert(i, m)
    return removed


def dedup_rensa(texts: list[str], threshold: float, num_perm: int, ngram: int,
                num_bands: int = 16) -> list[int]:
    """rensa: `RMinHash` per document + `RMinHashLSH` (num_bands=16, its README's setting)."""
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=num_bands)
    kept: dict[int, RMinHash] = {}
    removed = []
    for i, text in enumerate(texts):
        m = RMinHash(num_perm=num_perm, seed=42)
        m.update(word_shingles(text, ngram))
        if any(m.jaccard(kept[j]) >= threshold for j in lsh.query(m)):
            removed.append(i)
        else:
            lsh.insert(i, m)
            kept[i] = m
    return removed


BASELINES = {"datasketch": dedup_datasketch, "rensa": dedup_rensa}


def main(argv: list[str]) -> None:
    import orjson

    name, src, out, threshold, num_perm, ngram = argv
    with open(src, "rb") as fh:
        records = [orjson.loads(line) for line in fh]
    texts = [r["prompt"] for r in records]
    started = time.perf_counter()
    removed = BASELINES[name](texts, float(threshold), int(num_perm), int(ngram))
    seconds = time.perf_counter() - started
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gone = set(removed)
    with open(out / "kept.jsonl", "wb") as fh:
        for i, r in enumerate(records):
            if i not in gone:
                fh.write(orjson.dumps(r) + b"\n")
    np.save(out / "removed.npy", np.array(removed, dtype=np.int64))
    print(json.dumps({"dedup_s": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
