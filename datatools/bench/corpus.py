"""A synthetic corpus of near-duplicate families with known true Jaccard similarities.

Documents are random words. A tenth of them are edited copies of an original, in families of
one original and 1–4 copies, placed at random positions (a copy often comes BEFORE its
original, so "keep the first" may keep a copy). Edits replace k random words with fresh
ones (each replacement removes up to `ngram` shingles) or the last word or two. Four kinds
of copy:
- near: J ≈ 0.81–0.99 to the original (k = 0–4, or an edit at the end);
- threshold: J just above 0.8 (k = 3–4), two or three to a family, so the copies are
  BELOW the threshold to each other and only linked through their original;
- hard negative: J ≈ 0.6–0.80 (k = 5–10): must never be removed for that link alone.
The true Jaccard of every pair inside a family is computed exactly on word n-gram sets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Corpus:
    texts: list[str]
    family: np.ndarray     # per document: its family number, -1 for unrelated documents
    pairs: np.ndarray      # (k, 2): every pair of documents inside one family
    jaccard: np.ndarray    # true Jaccard of each pair's word n-gram sets


def _vocab(rng: np.random.Generator, size: int) -> np.ndarray:
    letters = (rng.integers(0, 26, (size, 8)) + 97).astype(np.uint8)
    lengths = rng.integers(3, 9, size)  # ~5.5 letters: English-like document sizes
    words = {bytes(row[:n]).decode() for row, n in zip(letters, lengths)}
    return np.array(sorted(words))


def _join(vocab: np.ndarray, tokens: np.ndarray) -> list[str]:
    """Each row of token ids as one space-separated text (column-wise, in polars)."""
    import polars as pl

    docs, words = tokens.shape
    flat = pl.Series(vocab).gather(tokens.ravel())
    return flat.reshape((docs, words)).arr.join(" ").to_list()


def shingle_set(tokens, ngram: int = 5) -> set:
    """The set of word n-grams (as tuples of token ids) of one document."""
    t = list(tokens)
    return set(zip(*(t[i:] for i in range(ngram)))) if len(t) >= ngram else {tuple(t)}


def exact_jaccard(a, b, ngram: int = 5) -> float:
    sa, sb = shingle_set(a, ngram), shingle_set(b, ngram)
    return len(sa & sb) / len(sa | sb)


def _edit(rng: np.random.Generator, row: np.ndarray, kind: str, vocab_size: int) -> np.ndarray:
    row = row.copy()
    words = len(row)
    if kind == "near" and rng.random() < 0.3:  # an edit at the end: J ≈ 0.98–0.99
        k = int(rng.integers(1, 3))
        row[words - k:] = rng.integers(0, vocab_size, k)
        return row
    k = {"near": lambda: int(rng.integers(1, 5)), "threshold": lambda: int(rng.integers(3, 5)),
         "negative": lambda: int(rng.integers(5, 11))}[kind]()
    pos = rng.choice(words, k, replace=False)
    row[pos] = rng.integers(0, vocab_size, k)
    return row


def make_corpus(docs: int = 100_000, words: int = 200, seed: int = 0, dup_fraction: float = 0.1,
                ngram: int = 5) -> Corpus:
    """`docs` documents of `words` words; about `dup_fraction` of them are copies in families."""
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng, 50_000)
    tokens = rng.integers(0, len(vocab), size=(docs, words), dtype=np.int32)
    family = np.full(docs, -1, dtype=np.int64)
    free = rng.permutation(docs)  # positions handed out to family members, in random order
    used, fam, members_of = 0, 0, []
    while used < int(docs * dup_fraction):
        kind = rng.choice(["near", "threshold", "negative", "mixed"], p=[0.4, 0.25, 0.2, 0.15])
        n_copies = int(rng.integers(2, 4)) if kind == "threshold" else int(rng.integers(1, 5))
        if used + n_copies + 1 > len(free):
            break
        members = free[used:used + n_copies + 1]  # random positions: copies may come first
        used += n_copies + 1
        original = members[0]
        for m in members[1:]:
            k = rng.choice(["near", "threshold", "negative"]) if kind == "mixed" else kind
            tokens[m] = _edit(rng, tokens[original], k, len(vocab))
        family[members] = fam
        members_of.append(members)
        fam += 1
    texts = _join(vocab, tokens)
    pairs, jac = [], []
    for members in members_of:
        sets = [shingle_set(tokens[m], ngram) for m in members]
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                pairs.append((members[i], members[j]))
                jac.append(len(sets[i] & sets[j]) / len(sets[i] | sets[j]))
    return Corpus(texts=texts, family=family,
                  pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
                  jaccard=np.array(jac))


def score_removals(corpus: Corpus, removed: np.ndarray, threshold: float) -> dict:
    """Recall / precision of a set of removed document indexes against the true clusters.

    True clusters: connected groups of documents linked by pairs with true J ≥ threshold. A
    cluster of s documents should lose exactly s - 1 of them (one survivor). recall = correct
    removals / Σ (s - 1); precision = correct removals / all removals, where a removal is
    correct when the document is in a true cluster and that cluster still keeps a survivor
    (removing a document with no partner ≥ threshold, or a cluster's last member, is wrong).
    pair_recall: share of true pairs (J ≥ threshold) that do not both survive."""
    n = len(corpus.texts)
    gone = np.zeros(n, dtype=bool)
    gone[np.asarray(removed, dtype=np.int64)] = True
    pos = corpus.pairs[corpus.jaccard >= threshold]
    label = np.arange(n)  # true clusters: components of the J ≥ threshold pairs
    for _ in range(n):
        if not len(pos):
            break
        low = np.minimum(label[pos[:, 0]], label[pos[:, 1]])
        new = label.copy()
        np.minimum.at(new, pos[:, 0], low)
        np.minimum.at(new, pos[:, 1], low)
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    in_cluster = np.zeros(n, dtype=bool)
    in_cluster[pos.ravel()] = True
    clusters = np.unique(label[in_cluster])
    size = np.bincount(label[in_cluster], minlength=n)[clusters]
    lost = np.bincount(label[in_cluster & gone], minlength=n)[clusters]
    correct = np.minimum(lost, size - 1).sum()
    n_removed = int(gone.sum())
    both_kept = ~gone[pos[:, 0]] & ~gone[pos[:, 1]]
    return {
        "true_pairs": int(len(pos)), "true_clusters": int(len(clusters)),
        "should_remove": int((size - 1).sum()), "removed": n_removed,
        "recall": round(float(correct / max(1, (size - 1).sum())), 4),
        "precision": round(float(correct / n_removed), 4) if n_removed else None,
        "pair_recall": round(float((~both_kept).mean()), 4) if len(pos) else None,
        "clusters_with_one_survivor": int(((size - lost) == 1).sum()),
        "clusters_with_none_left": int((lost == size).sum()),
        "removed_without_partner": int((gone & ~in_cluster).sum()),
    }
