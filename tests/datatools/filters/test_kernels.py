"""The compiled kernels (`datatools/native/dedup.c`; words.c in test_length) give exactly the numpy code's values: shingle hashes on
texts chosen to hit every branch (token lengths around the 8-byte blocks, case, non-ASCII,
whitespace kinds, texts at the end of the buffer, texts of fewer tokens than n), both
sketches' signatures and exact Jaccard; and near_dedup removes the same rows either way."""
import shutil

import numpy as np
import polars as pl
import pytest

from datatools.bench.corpus import make_corpus
from datatools.filters import kernels, lsh, minhash, oph
from datatools.filters.near_dedup import NearDedupParams, near_duplicates

RNG = np.random.default_rng(5)
ALPHABET = list("abcxyzABCXYZ0189_") + [" ", "  ", "\t", "\n", "\r\n", "\v", "\f", ".", ",", "-",
                                        "@", "[", "`", "{", "é", "É", "国", "😀", "\u00a0"]


def adversarial_texts() -> list[str]:
    texts = ["", " ", "\t\n", "a", "A", "_", "é", "国会", "x" * 7, "x" * 8, "x" * 9, "X" * 15,
             "X" * 16, "X" * 17, "y" * 24 + " z", "w" * 25, "one two", "one two three four",
             "The Quick BROWN fox_jumps 12 34"]
    for _ in range(1500):  # random mixtures, lengths 0..400
        texts.append("".join(RNG.choice(ALPHABET, int(RNG.integers(0, 400)))))
    for n in (60, 63, 64, 65, 127, 128, 129):  # tokens crossing the 64-byte mask blocks
        texts.append(" ".join(["ab", "c" * n, "de" * (n // 2)]))
    texts.append("tail" + "q" * 70)  # the buffer's last text: no byte read past its end
    return texts


@pytest.fixture
def numpy_only(monkeypatch):
    """Run a function with the kernels off (`DATATOOLS_KERNELS=numpy`), then on again."""
    def run(fn):
        monkeypatch.setenv("DATATOOLS_KERNELS", "numpy")
        kernels.library.cache_clear()
        try:
            return fn()
        finally:
            monkeypatch.delenv("DATATOOLS_KERNELS")
            kernels.library.cache_clear()
    return run


needs_kernels = pytest.mark.skipif(kernels.library() is None,
                                   reason="the kernels are not built (no C compiler at install)")


def test_kernels_are_built_where_a_compiler_and_headers_are():
    # an install that could compile them must have (a broken build would silently fall back)
    import sysconfig
    from pathlib import Path

    import os

    if os.environ.get("DATATOOLS_KERNELS", "").lower() == "numpy":
        pytest.skip("turned off by DATATOOLS_KERNELS=numpy")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        pytest.skip("no Python headers here")
    assert kernels.library() is not None


@needs_kernels
@pytest.mark.parametrize("shingle", ["word", "char"])
@pytest.mark.parametrize("ngram", [1, 2, 5, 32])
def test_shingle_hashes_equal_numpy(shingle, ngram, numpy_only):
    texts = pl.Series(adversarial_texts())
    for chunk in (1 << 10, 1 << 20):  # many chunks (thread pool) and one
        h, off = minhash.shingle_hashes(texts, shingle, ngram, chunk_bytes=chunk)
        h0, off0 = numpy_only(lambda: minhash.shingle_hashes(texts, shingle, ngram,
                                                             chunk_bytes=chunk))
        assert np.array_equal(off, off0)
        assert np.array_equal(h, h0)
        assert off[-1] > 1000  # the texts have shingles: not two empty results


@needs_kernels
def test_signatures_and_exact_jaccard_equal_numpy(numpy_only):
    h, off = minhash.shingle_hashes(pl.Series(adversarial_texts()), "word", 3)
    for k in (16, 100, 128):
        assert np.array_equal(minhash.signatures(h, off, k, seed=7),
                              numpy_only(lambda: minhash.signatures(h, off, k, seed=7)))
        sig = oph.signatures(h, off, k, seed=7)
        assert np.array_equal(sig, numpy_only(lambda: oph.signatures(h, off, k, seed=7)))
        empty = np.diff(off) == 0
        assert (sig[empty] == oph.EMPTY).all() and not (sig[~empty] == oph.EMPTY).any()
    n = len(off) - 1
    pairs = np.vstack([RNG.integers(0, n, (4000, 2)), [[0, 0], [3, 3], [n - 1, 5]]])
    j = lsh.exact_jaccard(pairs, h, off)
    assert np.array_equal(j, numpy_only(lambda: lsh.exact_jaccard(pairs, h, off)))
    assert j[-2] == 1.0 and 0.0 < j.max()  # a text with itself; some real overlaps


@needs_kernels
def test_near_dedup_removes_the_same_rows_either_way(numpy_only):
    texts = pl.Series(make_corpus(3000, words=60, seed=2).texts)
    p = NearDedupParams(threshold=0.8)
    rank = np.arange(len(texts))
    cl = near_duplicates(texts, rank, p)
    cl0 = numpy_only(lambda: near_duplicates(texts, rank, p))
    assert (cl.rep >= 0).sum() > 50  # the corpus has families to remove
    assert np.array_equal(cl.rep, cl0.rep) and np.array_equal(cl.link, cl0.link)
    assert np.array_equal(cl.jaccard, cl0.jaccard, equal_nan=True)


@needs_kernels
def test_no_byte_is_read_past_the_texts(numpy_only):
    """The texts end right before a page that cannot be read: a kernel reading past them
    (an 8-byte block, a 64-byte mask) would crash this process."""
    import ctypes
    import mmap

    page = mmap.PAGESIZE
    buf = mmap.mmap(-1, 2 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    for text in ["ab", "x" * 9, "Tail WORDS end" + "q" * 70, "国会 议院", "x" * 70 + "\u3000",
                 "x\u3000", "a b c d\u00a0e"]:
        data = text.encode()
        start = page - len(data)
        buf[start:page] = data
        assert libc.mprotect(ctypes.c_void_p(base + page), page, 0) == 0  # PROT_NONE
        view = np.frombuffer(buf, dtype=np.uint8, count=len(data), offset=start)
        offsets = np.array([0, len(data)], dtype=np.int64)
        for shingle in ("word", "char"):
            h, counts = kernels.shingle_hashes(view, offsets, shingle, 2, minhash._P_ARRAY)
            h0, off0 = numpy_only(lambda: minhash.shingle_hashes(pl.Series([text]), shingle, 2))
            assert np.array_equal(h, h0) and counts[0] == off0[-1]
        # the length step's kernel reads string views: a long text where it lies, a short
        # one inside its view, which then ends right before the unreadable page
        if len(data) > 12:
            views = np.zeros(16, dtype=np.uint8)
            views[:16] = np.frombuffer(np.array([len(data), 0, 0, start], np.int32).tobytes(),
                                       np.uint8)
            addresses = np.array([base], dtype=np.uint64)
        else:
            buf[page - 16:page] = np.array([len(data)], np.int32).tobytes() + data.ljust(12, b"\0")
            views = np.frombuffer(buf, dtype=np.uint8, count=16, offset=page - 16)
            addresses = np.zeros(1, dtype=np.uint64)
        words = np.empty(1, dtype=np.uint32)
        kernels.library().word_counts(views, addresses, 1, words)
        assert words[0] == len(text.split())
        del views
        assert libc.mprotect(ctypes.c_void_p(base + page), page,
                             mmap.PROT_READ | mmap.PROT_WRITE) == 0
        del view
    buf.close()
