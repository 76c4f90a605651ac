"""One-permutation signatures with densification: every bin filled from the text's own bins,
independent of the batch, an unbiased estimate, LSH recall at the threshold; `sketch: auto`
(which texts get which sketch) removes what k-permutation MinHash removes."""
import numpy as np
import polars as pl
import pytest

from datatools.filters import lsh, minhash, oph
from datatools.filters.near_dedup import NearDedupParams, near_duplicates, sketch_groups

RNG = np.random.default_rng(11)


def texts_of(tokens) -> list[str]:
    return [" ".join(f"w{x}" for x in row) for row in tokens]


def copies(words: int, n: int, edits: int):
    """n random texts of `words` words and a copy of each with `edits` words replaced."""
    tokens = RNG.integers(0, 10**6, (n, words))
    edited = tokens.copy()
    for row in edited:
        row[RNG.choice(words, edits, replace=False)] = RNG.integers(10**6, 2 * 10**6, edits)
    h, off = minhash.shingle_hashes(pl.Series(texts_of(tokens) + texts_of(edited)), "word", 5)
    return h, off, np.stack([np.arange(n), np.arange(n, 2 * n)], axis=1)


@pytest.mark.parametrize("k", [128, 100])
def test_every_bin_comes_from_the_texts_own_bins(k):
    texts = ["one two three four five six", "", "a b c d e f g h i j k l m n o p q r s t u v",
             " ".join(f"w{i}" for i in range(400))]
    h, off = minhash.shingle_hashes(pl.Series(texts), "word", 5)
    sig = oph.signatures(h, off, k, seed=3)
    assert sig.shape == (4, k) and sig.dtype == np.uint32
    assert (sig[1] == oph.EMPTY).all()  # no shingles: nothing to compare
    a, b = np.uint32(oph._mix(3) | 1), oph._mix(4)
    for i in (0, 2, 3):
        with np.errstate(over="ignore"):
            own = h[off[i]:off[i + 1]].astype(np.uint32) * a + b  # the text's permuted hashes
        assert set(sig[i].tolist()) <= set(own.tolist())
        assert (sig[i] != oph.EMPTY).all()
    # the 2-shingle text fills 128 bins from its 2 values; the 396-shingle text has most bins
    # of its own, each the minimum of the hashes that fall in that bin
    assert len(set(sig[0].tolist())) == 2
    assert len(set(sig[3].tolist())) > 0.8 * k


def test_a_texts_signature_does_not_depend_on_its_batch():
    h, off, _ = copies(30, 50, 2)
    whole = oph.signatures(h, off, 128, 1)
    docs = np.array([3, 7, 40, 41, 99])
    assert np.array_equal(minhash.signatures_of(h, off, docs, 128, 1, "oph"), whole[docs])
    assert np.array_equal(minhash.signatures_of(h, off, np.arange(5, 9), 128, 1, "oph"),
                          whole[5:9])
    assert not np.array_equal(oph.signatures(h, off, 128, 2), whole)  # the seed matters


@pytest.mark.parametrize("words,edits", [(6, 1), (14, 1), (84, 4), (204, 8)])
def test_estimate_is_unbiased_and_wider_than_minhash_only_for_few_shingles(words, edits):
    """Fraction of agreeing bins against the true Jaccard of the hashed shingle sets: mean
    error ~0; for texts of few shingles (densified copies) it spreads wider than the binomial
    sqrt(J(1-J)/k), which is why pairs are verified with k-permutation signatures."""
    h, off, pairs = copies(words, 1500, edits)
    exact = lsh.exact_jaccard(pairs, h, off)
    sigma = np.sqrt(exact * (1 - exact) / 128)
    ok = sigma > 0
    est = lsh.estimate_jaccard(oph.signatures(h, off, 128, 1), pairs)
    assert abs((est - exact).mean()) < 0.01
    z = ((est - exact)[ok] / sigma[ok]).std()
    mh = lsh.estimate_jaccard(minhash.signatures(h, off, 128, 1), pairs)
    assert 0.9 < ((mh - exact)[ok] / sigma[ok]).std() < 1.1  # MinHash: the binomial itself
    assert (z > 1.1) if words - 4 <= 10 else (z < 1.1)


@pytest.mark.parametrize("threshold", [0.6, 0.8, 0.9])
def test_lsh_finds_pairs_just_above_the_threshold(threshold):
    """Texts `auto` bands by one permutation alone (≥ k shingles) or with MinHash too (from
    threshold × k): no pair within 0.06 above the threshold shares no band (the bound is
    max_miss = 1e-4 per pair at the threshold)."""
    p = NearDedupParams(threshold=threshold)
    bands, rows = lsh.choose_bands(p.threshold, p.num_perm, p.max_miss)
    found = total = 0
    for words in (110, 150, 200, 320):
        n = words - 4  # an edit removes up to 5 of the n shingles: J ≈ (n - 5e) / (n + 5e)
        edits = max([e for e in range(1, n) if (n - 5 * e) / (n + 5 * e) >= threshold + 0.01]
                    or [1])
        h, off, pairs = copies(words, 600, edits)
        exact = lsh.exact_jaccard(pairs, h, off)
        keys = lsh.band_keys(oph.signatures(h, off, p.num_perm, p.seed), bands, rows)
        hit = (keys[:, pairs[:, 0]] == keys[:, pairs[:, 1]]).any(axis=0)
        near = (exact >= threshold) & (exact < threshold + 0.06)
        found, total = found + hit[near].sum(), total + near.sum()
    assert total > 500 and found == total


@pytest.mark.parametrize("words", [60, 120, 200])
def test_auto_removes_what_minhash_removes_on_the_bench_corpus(words):
    """120 words (116 shingles) are banded by both sketches; 200 by one permutation alone."""
    from datatools.bench.corpus import make_corpus

    c = make_corpus(docs=4000, words=words, seed=2)
    texts, rank = pl.Series(c.texts), np.arange(4000)
    by = {s: near_duplicates(texts, rank, NearDedupParams(sketch=s)) for s in ("auto", "minhash")}
    assert (by["auto"].rep >= 0).sum() > 50
    # the same survivor for every removed text (the partner named in the detail is the one
    # with the highest estimate, the same in both: verification uses k permutations)
    assert np.array_equal(by["auto"].rep, by["minhash"].rep)
    assert np.array_equal(by["auto"].link, by["minhash"].link)


def test_sketch_groups_share_a_sketch_for_every_pair_that_can_reach_the_threshold():
    p = NearDedupParams(threshold=0.8, num_perm=128)
    counts = np.arange(0, 400)
    groups = dict(sketch_groups(counts, p))
    short, long_ = set(groups["minhash"].tolist()), set(groups["oph"].tolist())
    assert 0 not in short | long_ and short | long_ == set(range(1, 400))
    assert max(short) == 127 and min(long_) == 103  # 103..127 banded by both
    for a in range(1, 400):  # J ≤ min/max: only counts within a factor 0.8 can be a pair
        for b in range(a, min(400, int(a / 0.8) + 1)):
            assert {a, b} <= short or {a, b} <= long_, (a, b)
    assert dict(sketch_groups(counts, NearDedupParams(sketch="minhash")))["minhash"].tolist() \
        == list(range(1, 400))


def test_band_keys_of_a_block_are_those_of_the_whole():
    """The Ray plan bands each block on its own: a text's keys must not depend on which other
    texts are banded with it, whichever sketch (or both) bands it."""
    from datatools.filters.near_dedup import band_keys_of

    words = [30, 110, 125, 200, 0, 400] * 20
    texts = pl.Series([" ".join(f"w{RNG.integers(10**6)}" for _ in range(n)) for n in words])
    p = NearDedupParams()

    def keyed(series):
        _, _, docs, keys = band_keys_of(series, p)
        return {(int(d), tuple(k)) for d, k in zip(docs, keys.T)}

    whole = keyed(texts)
    half = len(texts) // 2
    parts = keyed(texts[:half]) | {(d + half, k) for d, k in keyed(texts[half:])}
    assert parts == whole
    by_doc = {}
    for d, _ in whole:
        by_doc[d] = by_doc.get(d, 0) + 1
    assert {by_doc[i] for i in range(len(words)) if 103 <= words[i] - 4 < 128} == {2}  # both
    assert {by_doc[i] for i in range(len(words)) if words[i] - 4 >= 128 or 0 < words[i] - 4 < 103} == {1}
    assert all(words[i] for i in by_doc)  # an empty text is never banded
