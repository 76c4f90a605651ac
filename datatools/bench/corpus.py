"""A synthetic corpus with planted near-duplicates of known true Jaccard similarity."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Corpus:
    texts: list[str]
    pairs: np.ndarray      # (k, 2) planted (original, copy) document indices
    jaccard: np.ndarray    # true Jaccard of the pair's word n-gram shingle sets


def _vocab(rng: np.random.Generator, size: int) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 9, size)  # ~5.5 letters: English-like document sizes
    words = {"".join(rng.choice(letters, n)) for n in lengths}
    return np.array(sorted(words))


def exact_jaccard(a: list[str], b: list[str], ngram: int = 5) -> float:
    sa = {tuple(a[i:i + ngram]) for i in range(len(a) - ngram + 1)}
    sb = {tuple(b[i:i + ngram]) for i in range(len(b) - ngram + 1)}
    return len(sa & sb) / len(sa | sb)


def make_corpus(docs: int = 200_000, words: int = 200, seed: int = 0, dup_fraction: float = 0.1,
                ngram: int = 5) -> Corpus:
    """`docs` random documents of `words` words; a `dup_fraction` of them are edited copies of
    earlier documents. An edit replaces k random words with fresh ones: each replacement
    removes up to `ngram` shingles, so J ≈ (S - d)/(S + d) for d changed shingles. k spans
    copies from J ≈ 0.97 down to ≈ 0.55, so some planted pairs sit just below a 0.8 threshold
    (negatives that a loose filter would wrongly drop). The true J is computed exactly."""
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng, 50_000)
    tokens = rng.integers(0, len(vocab), size=(docs, words), dtype=np.int32)
    n_dup = int(docs * dup_fraction)
    copies = np.sort(rng.choice(np.arange(1, docs), n_dup, replace=False))
    origins = (rng.random(n_dup) * copies).astype(np.int64)  # an earlier document
    # number of replaced words: mostly 1..6 (J ≥ 0.8 at 200 words), some 7..14 (below)
    edits = np.where(rng.random(n_dup) < 0.75, rng.integers(1, 7, n_dup),
                     rng.integers(7, 15, n_dup))
    for c, o, k in zip(copies, origins, edits):
        row = tokens[o].copy()
        pos = rng.choice(words, k, replace=False)
        row[pos] = rng.integers(0, len(vocab), k)
        tokens[c] = row
    # origins may themselves be copies: keep the planted pair anyway (its J is exact)
    texts = [" ".join(vocab[r]) for r in tokens]
    jac = np.array([exact_jaccard(list(tokens[o]), list(tokens[c]), ngram)
                    for o, c in zip(origins, copies)])
    return Corpus(texts=texts, pairs=np.stack([origins, copies], axis=1), jaccard=jac)
