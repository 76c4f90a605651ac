"""near_dedup: datasketch-identical signatures, planted near-duplicates, keep policies,
true-Jaccard threshold behaviour, Chinese text, reason codes and details."""
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datatools.filters import lsh, minhash, minhash_reference
from datatools.filters.near_dedup import NearDedup, NearDedupParams
from datatools.frame import frame_from_rows, rows_from_record

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
RNG = np.random.default_rng(0)
VOCAB = [f"w{i}" for i in range(5000)]


def doc(n=60):
    return [VOCAB[i] for i in RNG.integers(0, len(VOCAB), n)]


def edit(words, k):
    w = list(words)
    for p in RNG.choice(len(w), k, replace=False):
        w[p] = f"new{RNG.integers(1e9)}"
    return w


def frame(prompts, scores=None):
    rows = []
    for i, p in enumerate(prompts):
        s = None if scores is None else scores[i]
        rows += rows_from_record(f"r{i}", "t", [{"role": "user", "content": p}],
                                 [{"content": "a", "score": s}, {"content": "b", "score": None}])
    return frame_from_rows(rows)


def test_signatures_equal_datasketch():
    from datasketch import MinHash

    texts = ["The quick brown fox jumps over the lazy dog, twice!", "", "tiny",
             "国会的转发 美国国会由众议院和参议院组成", "Ünïcode wörds and CAPS   spaced\tout"]
    for shingle in ("word", "char"):
        h, off = minhash.shingle_hashes(pl.Series(texts), shingle, 3)
        sig = minhash.signatures(h, off, num_perm=64, seed=7)
        for i, t in enumerate(texts):
            m = MinHash(num_perm=64, seed=7, hashfunc=minhash_reference.shingle_hash)
            m.update_batch(minhash_reference.py_shingles(t, shingle, 3))
            assert np.array_equal(m.hashvalues, sig[i]), (shingle, t)


def test_choose_bands_catches_threshold():
    b, r = lsh.choose_bands(0.8, 128)
    assert b * r <= 128
    assert lsh.s_curve(0.8, b, r) >= 0.995
    # plain LSH tuned *at* 0.8 (datasketch's choice) misses a large share at 0.8
    assert lsh.s_curve(0.8, 9, 13) < 0.9


def test_planted_duplicates_found_distinct_kept():
    base = [doc() for _ in range(30)]
    dups = [edit(base[i], 1) for i in range(10)]  # J ≈ 0.85 with word 5-grams of 60 words
    texts = [" ".join(w) for w in base + dups]
    kept, rej = NearDedup(NearDedupParams())(frame(texts))
    assert sorted(set(rej["id"])) == sorted(f"r{30 + i}" for i in range(10))
    assert kept["id"].n_unique() == 30
    assert rej.height == 20  # both rows of each duplicate record
    assert set(rej["reason"]) == {"near_dedup.cluster"}
    d = rej.filter(pl.col("id") == "r30")["detail"][0]
    assert "record r0" in d and "cluster r0" in d and "estimated Jaccard" in d
    assert set(kept.filter(pl.col("id") == "r0")["near_dedup_cluster"]) == {"r0"}
    assert kept.filter(pl.col("id") == "r5")["near_dedup_cluster"].is_null().all() is False


def exact(a, b, n=5):
    sa = {tuple(a[i:i + n]) for i in range(len(a) - n + 1)}
    sb = {tuple(b[i:i + n]) for i in range(len(b) - n + 1)}
    return len(sa & sb) / len(sa | sb)


def test_threshold_is_true_jaccard_just_above_and_below():
    above, below = [], []
    while len(above) < 15 or len(below) < 15:
        a = doc(200)
        b = edit(a, int(RNG.integers(3, 9)))
        j = exact(a, b)
        if 0.80 <= j < 0.84 and len(above) < 15:
            above.append((a, b))
        elif 0.74 <= j < 0.80 and len(below) < 15:
            below.append((a, b))
    texts = [" ".join(w) for pair in above + below for w in pair]
    kept, rej = NearDedup(NearDedupParams(threshold=0.8))(frame(texts))
    dropped = set(rej["id"])
    assert {f"r{2 * i + 1}" for i in range(15)} <= dropped  # every pair just above: caught
    assert not dropped & {f"r{2 * i + 1}" for i in range(15, 30)}  # just below: kept


def test_keep_policies():
    a = doc(80)
    short = " ".join(a)
    longer = short + " " + "extra"
    texts = [short, longer]
    _, rej = NearDedup(NearDedupParams(keep="first"))(frame(texts))
    assert set(rej["id"]) == {"r1"}
    _, rej = NearDedup(NearDedupParams(keep="longest"))(frame(texts))
    assert set(rej["id"]) == {"r0"}
    _, rej = NearDedup(NearDedupParams(keep="highest_score"))(frame(texts + [short], [0.1, None, 0.9]))
    assert set(rej["id"]) == {"r0", "r1"}  # r2 has the best score; unscored r1 ranks last


def test_completion_level_drops_rows():
    text = " ".join(doc(50))
    rows = rows_from_record("a", "t", [{"role": "user", "content": "q1"}], [{"content": text}, {"content": "x y z"}])
    rows += rows_from_record("b", "t", [{"role": "user", "content": "q2"}], [{"content": text + " !"}])
    kept, rej = NearDedup(NearDedupParams(fields=["completion"]))(frame_from_rows(rows))
    assert rej["candidate_id"].to_list() == ["b-0"]
    assert "candidate a-0" in rej["detail"][0]
    assert kept.height == 2


@pytest.mark.skipif(not (DATA / "llama-factory/dpo_zh_demo.json").exists(), reason="shared data absent")
def test_chinese_char_shingles():
    data = json.loads((DATA / "llama-factory/dpo_zh_demo.json").read_text())[:60]
    prompts = [d["conversations"][-1]["value"] for d in data]
    # near-copies: drop one character from the middle of 5 long prompts
    picks = [i for i, p in enumerate(prompts) if len(p) > 200][:5]
    copies = [prompts[i][:100] + prompts[i][101:] for i in picks]
    texts = prompts + copies
    kept, rej = NearDedup(NearDedupParams(shingle="char", ngram=3))(frame(texts))
    dropped = set(rej["id"])
    assert {f"r{60 + k}" for k in range(5)} <= dropped
    # word shingles see a whole unspaced Chinese run as one token: char mode is needed
    _, rej_w = NearDedup(NearDedupParams(shingle="word"))(frame(texts))
    assert len(set(rej_w["id"])) < len(dropped)


def test_empty_texts_are_not_clustered():
    kept, rej = NearDedup(NearDedupParams())(frame(["", "  ", "!!"]))
    assert rej.height == 0 and kept.height == 6


def test_bench_smoke():
    from datatools.bench.dedup import run_dedup_bench

    r = run_dedup_bench(docs=3000, words=100, baseline=False)
    assert r["ours_recall"] == 1.0 and r["ours_precision"] == 1.0
    assert r["planted_pairs_below_threshold"] > 0 and r["ours_below_threshold_removed"] == 0
