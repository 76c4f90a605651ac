"""Vectorised MinHash signatures (numpy), value-compatible with datasketch's "affine32" scheme.

MinHash (Broder 1997, "On the resemblance and containment of documents"): for a random
permutation π of the hash space, P[min π(A) = min π(B)] = |A ∩ B| / |A ∪ B| (the Jaccard
similarity J), so the fraction of agreeing positions in two k-permutation signatures is an
unbiased estimate of J with standard error sqrt(J(1-J)/k).

datasketch ≥ 2.0 ("affine32") pre-mixes each 32-bit shingle hash with the MurmurHash3 finaliser
(fmix32) and permutes it with h → a·h + b mod 2^32 (odd a), drawing (a, b) from
`np.random.RandomState(seed)`. We do the same arithmetic for all shingles of many documents at
once. Shingle hashes come from the byte-level tokeniser below; `minhash_reference.shingle_hash`
is the same function in plain Python, so `datasketch.MinHash(num_perm, seed,
hashfunc=shingle_hash)` updated with `py_shingles(text)` gives identical hash values (tested).

Where the compiled kernels are built (`kernels.py`, `datatools/native/dedup.c`), the shingle hashes and signatures come from it: the
same values in one pass over memory; the numpy code here is the fallback and the reference the
kernels are tested against.

Tokens: "word" = maximal runs of [0-9A-Za-z_] or non-ASCII bytes, ASCII-lowercased;
"char" = every non-whitespace character (use it for CJK text, which has no spaces).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from datatools.filters import kernels, oph
from datatools.filters.hash_mix import FMIX32 as _FMIX32, FMIX64 as _FMIX64, fmix as _fmix
from datatools.native import text_bytes

_M64 = (1 << 64) - 1
_K = 0x100000001B3  # FNV-64 prime: multiplier of the token-block chain


def _splitmix64(n: int, state: int = 0) -> list[int]:
    out = []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & _M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        out.append((z ^ (z >> 31)) | 1)
    return out


# Position multipliers for combining the token hashes of one n-gram (odd 64-bit splitmix64
# outputs) so that "a b" and "b a" hash differently.
_P = _splitmix64(32)
MAX_NGRAM = len(_P)
_P_ARRAY = np.array(_P, dtype=np.uint64)


def _separated(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One chunk's texts ASCII-lowercased with a space before each text and at the end (no
    token then runs across a boundary, and every token starts and ends inside: cheaper than
    cutting tokens afterwards), followed by 16 zero bytes for the 8-byte windows; and each
    text's start in it (text d moves d + 1 bytes right)."""
    body = np.insert(data, offsets, np.uint8(32))
    buf = np.zeros(len(body) + 16, dtype=np.uint8)
    upper = (body - np.uint8(65)) < 26
    # ASCII-lowercase once (uint8: 64 bytes per SIMD op), not each token's blocks
    np.bitwise_or(body, upper.view(np.uint8) << np.uint8(5), out=buf[:len(body)])
    return buf, offsets + np.arange(1, len(offsets) + 1)


def _token_spans(body: np.ndarray, shingle: str):
    """Token [start, end) byte positions in a chunk from `_separated` (spaces at both ends)."""
    n = len(body)
    if shingle == "char":
        cont = (body & 0xC0) == 0x80  # UTF-8 continuation byte: same character
        space = (body == 32) | ((body >= 9) & (body <= 13))
        starts = np.flatnonzero(~space & ~cont)
        # a character ends where the next one starts (or at the end of the chunk)
        char_starts = np.append(np.flatnonzero(~cont), n)
        return starts, char_starts[np.searchsorted(char_starts, starts, side="right")]
    word = (((body - np.uint8(97)) < 26) | ((body - np.uint8(48)) < 10) | (body >= 128)
            | (body == 95))
    # one pass for both edges: a token starts/ends where `word` flips (never at 0 or n: the
    # chunk begins and ends with a space)
    edges = np.flatnonzero(word[1:] != word[:-1]) + 1
    return edges[0::2], edges[1::2]


def _token_hashes(data: np.ndarray, offsets: np.ndarray, shingle: str):
    """Token hashes (uint64, `token_hash` of the lowercased bytes) and each document's first
    token index (length n_docs + 1), for one chunk of texts."""
    buf, doc_starts = _separated(data, offsets)
    starts, ends = _token_spans(buf[:len(buf) - 16], shingle)
    # window[p] = the 8 bytes at p as a little-endian uint64 (overlapping, unaligned view)
    window = np.lib.stride_tricks.as_strided(
        buf[:8].view("<u8"), shape=(len(buf) - 8,), strides=(1,))
    length = (ends - starts).astype(np.uint64)

    def mask(n):  # low min(n, 8) bytes set: the part of an 8-byte window inside the token
        return np.uint64(_M64) >> ((np.uint64(8) - np.minimum(n, np.uint64(8))) * np.uint64(8))

    with np.errstate(over="ignore"):
        # first block for every token without index gathers (most words fit in 8 bytes) ...
        block = window[starts] & mask(length)
        acc = _fmix(length * np.uint64(_K) + block, _FMIX64)
        # ... then further blocks only for the long tokens
        live, k = np.flatnonzero(length > 8), 1
        while len(live):
            rest = length[live] - np.uint64(8 * k)
            block = window[starts[live] + 8 * k] & mask(rest)
            acc[live] = _fmix(acc[live] * np.uint64(_K) + block, _FMIX64)
            live = live[rest > 8]
            k += 1
    return acc, np.searchsorted(starts, doc_starts)


def _ngram_hashes(th: np.ndarray, first: np.ndarray, ngram: int):
    """n-gram hashes (uint32) and per-document shingle counts, matching `py_shingles`.

    acc[t] = ngram + Σ_i th[t+i]·P[i] is computed for every token t with contiguous slices
    (no per-token position arithmetic), then the starts that stay inside their document are
    kept; a document with fewer than `ngram` tokens gets its one shorter shingle instead."""
    m, counts, w = len(th), np.diff(first), len(th) - ngram + 1
    acc, keep = np.zeros(m, dtype=np.uint64), np.ones(m, dtype=bool)
    with np.errstate(over="ignore"):
        if w > 0:
            acc[:w] = ngram
            term = np.empty(w, dtype=np.uint64)
            for i in range(ngram):
                np.multiply(th[i:i + w], np.uint64(_P[i]), out=term)
                acc[:w] += term
        # the last min(count, ngram-1) tokens of each document start no full n-gram
        for k in range(1, ngram):
            keep[first[1:][counts >= k] - k] = False
        short = np.flatnonzero((counts > 0) & (counts < ngram))
        if len(short):
            f, c = first[short], counts[short]
            a = c.astype(np.uint64)
            for i in range(ngram - 1):
                a += np.where(i < c, th[np.minimum(f + i, m - 1)], np.uint64(0)) * np.uint64(_P[i])
            acc[f] = a
            keep[f] = True
        sh = (_fmix(acc[keep], _FMIX64) >> np.uint64(32)).astype(np.uint32)
    return sh, np.where(counts >= ngram, counts - ngram + 1, counts > 0)


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def shingle_hashes(texts: pl.Series, shingle: str = "word", ngram: int = 5,
                   chunk_bytes: int = 1 << 20):
    """Shingle hashes of every text: (uint32 hashes, int64 offsets of length len(texts)+1).
    Chunks of ~1 MB of text run on a thread pool (numpy releases the GIL)."""
    if not 1 <= ngram <= MAX_NGRAM:
        raise ValueError(f"ngram must be in 1..{MAX_NGRAM}")
    data, offsets = text_bytes(texts)
    bounds, i, n = [], 0, len(offsets) - 1
    while i < n:  # chunk boundaries on documents
        j = int(np.searchsorted(offsets, offsets[i] + chunk_bytes, side="right"))
        j = min(max(j - 1, i + 1), n)
        bounds.append((i, j))
        i = j

    compiled = kernels.library() is not None

    def work(ij):
        i, j = ij
        if compiled:  # the same values in one pass (`kernels`)
            return kernels.shingle_hashes(data[offsets[i]:offsets[j]],
                                          offsets[i:j + 1] - offsets[i], shingle, ngram, _P_ARRAY)
        th, first = _token_hashes(data[offsets[i]:offsets[j]], offsets[i:j + 1] - offsets[i],
                                  shingle)
        return _ngram_hashes(th, first, ngram)

    with ThreadPoolExecutor(_threads()) as pool:
        parts = list(pool.map(work, bounds))
    return _joined(parts)


def shingle_hashes_of_parts(parts, shingle: str = "word", ngram: int = 5):
    """`shingle_hashes` of texts that arrive as an iterable of Series (e.g. slices of a frame
    turned into text one at a time), so all the texts never sit in memory together."""
    hashed = []
    for texts in parts:
        h, off = shingle_hashes(texts, shingle, ngram)
        hashed.append((h, np.diff(off)))
    return _joined(hashed)


def _joined(parts):
    if not parts:
        return np.zeros(0, np.uint32), np.zeros(1, np.int64)
    counts = np.concatenate([c for _, c in parts])
    return (np.concatenate([h for h, _ in parts]),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 (a, b): same RandomState draws as MinHash._init_permutations."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int = 128, seed: int = 1,
               block: int = 1 << 12) -> np.ndarray:
    """(n_docs, num_perm) uint32 MinHash signatures; an empty document gets all 2^32-1
    (datasketch's empty value). Layout (num_perm, shingles) + np.minimum.reduceat is the
    fast one: one broadcast multiply-add per block of ~4k shingles into a reused per-thread
    buffer (no fresh allocation and page faults per block), its rows padded off a power-of-two
    stride (the rows then collided in the same cache sets: up to 2x slower, measured). 4k
    shingles (a 2 MiB buffer, near the cache) took 15 % less CPU than 16k on 300k prompts
    (2.53 against 2.99 CPU-s); 1k-2k took more (per-block overhead)."""
    a, b = permutations(num_perm, seed)
    n_docs = len(offsets) - 1
    sig = np.full((n_docs, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    hv = _fmix(hashes.astype(np.uint32), _FMIX32)
    if kernels.library() is not None:
        return _compiled_signatures(hv, offsets, a, b, sig)
    a, b = a[:, None], b[:, None]
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    ends = offsets[nonempty + 1]
    jobs, k = [], 0
    while k < len(nonempty):  # runs of documents whose shingles fill about one block
        lo = offsets[nonempty[k]]
        kk = int(np.searchsorted(ends, lo + block, side="right"))
        kk = max(kk, k + 1)
        jobs.append(nonempty[k:kk])
        k = kk
    local = threading.local()

    def work(batch):
        for docs in batch:
            lo, hi = offsets[docs[0]], offsets[docs[-1] + 1]
            buf = getattr(local, "buf", None)
            if buf is None or buf.shape[1] < hi - lo:
                buf = local.buf = np.empty((num_perm, max(hi - lo, block) + 16), np.uint32)
            w = buf[:, :hi - lo]
            np.multiply(a, hv[None, lo:hi], out=w)
            w += b
            sig[docs] = np.minimum.reduceat(w, offsets[docs] - lo, axis=1).T

    # a few large batches per thread: one pool task per block would cost more in scheduling
    n_batches = 8 * _threads()
    with ThreadPoolExecutor(_threads()) as pool:
        list(pool.map(work, [jobs[i::n_batches] for i in range(n_batches)]))
    return sig


def _compiled_signatures(hv, offsets, a, b, sig):
    """`signatures` by the compiled kernel: the documents cut into one run per thread with about
    equal shingles (a run is a slice of sig and of the hashes)."""
    n_docs, n_runs = len(offsets) - 1, _threads()
    cuts = np.searchsorted(offsets, np.linspace(0, offsets[-1], n_runs + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 0, n_docs), [n_docs]]))

    def work(lo, hi):
        kernels.minhash_signatures(hv[offsets[lo]:offsets[hi]], offsets[lo:hi + 1] - offsets[lo],
                                   a, b, sig[lo:hi])

    with ThreadPoolExecutor(n_runs) as pool:
        list(pool.map(work, bounds[:-1], bounds[1:]))
    return sig


# The sketches a signature can be: k-permutation MinHash (datasketch's values) or one
# permutation with densification (`oph`: one operation per shingle instead of k).
SKETCHES = {"minhash": signatures, "oph": oph.signatures}


def signatures_of(hashes: np.ndarray, offsets: np.ndarray, docs: np.ndarray,
                  num_perm: int = 128, seed: int = 1, sketch: str = "minhash") -> np.ndarray:
    """`signatures(...)[docs]` without the signatures of the other documents: their shingle
    hashes are gathered into a compact run first (a run of consecutive docs is a slice)."""
    sign = SKETCHES[sketch]
    docs = np.asarray(docs, dtype=np.int64)
    if not len(docs):
        return np.zeros((0, num_perm), np.uint32)
    lo, hi = offsets[docs], offsets[docs + 1]
    if docs[-1] - docs[0] + 1 == len(docs):  # consecutive: no gather
        return sign(hashes[lo[0]:hi[-1]], offsets[docs[0]:docs[-1] + 2] - lo[0],
                    num_perm, seed)
    lens = hi - lo
    own = np.concatenate([[0], np.cumsum(lens)])
    idx = np.arange(own[-1]) + np.repeat(lo - own[:-1], lens)
    return sign(hashes[idx], own, num_perm, seed)
