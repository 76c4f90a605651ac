"""One-permutation MinHash signatures with optimal densification (numpy).

k-permutation MinHash (`minhash.signatures`) does k multiply-adds and k minimums per shingle.
One permutation hashing (Li, Owen & Zhang 2012, "One Permutation Hashing", NeurIPS) permutes
each shingle once, splits the permuted range into k equal bins and keeps the minimum in each
bin: one operation per shingle, and P[bin i agrees] = J for bins that are non-empty in both
texts. A text with fewer shingles than bins leaves bins empty; optimal densification
(Shrivastava 2017, "Optimal Densification for Fast and Accurate Minwise Hashing", ICML) fills
empty bin i with the value of the first non-empty bin among j_1(i), j_2(i), ... — a fixed
sequence of random bins the same for every text — which keeps P[bin i agrees] = J for every
bin. Values of different bins lie in disjoint ranges, so a filled bin agrees with another
text's bin only when both copied the same source bin with the same minimum.

The estimate (fraction of agreeing bins) is unbiased like MinHash's, but for texts of few
shingles it spreads wider than the binomial sqrt(J(1-J)/k) (densified bins are copies: 1.41x
at 2 shingles, 1.2x at 5-20, measured), so these signatures only make LSH candidates; pairs are
verified with k-permutation signatures (`near_dedup.verify_pairs`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from datatools.filters import kernels
from datatools.filters.hash_mix import FMIX32 as _FMIX32, fmix as _fmix

EMPTY = np.uint32(0xFFFFFFFF)  # an empty text's value, as in `minhash.signatures`
_C1, _C2 = np.uint32(0x9E3779B1), np.uint32(0x85EBCA77)  # odd constants of the bin sequence
_TABLE = 64  # steps of each bin's densification sequence kept in a table (more are hashed)


def _mix(x: int) -> np.uint32:
    with np.errstate(over="ignore"):
        return _fmix(np.array([x & 0xFFFFFFFF], np.uint32) * _C1 + _C2, _FMIX32)[0]


def _bin_of(v: np.ndarray, k: int) -> np.ndarray:
    """v's bin in 0..k-1: the top of its range (a shift for a power of two, else multiply-shift)."""
    if k & (k - 1) == 0:
        return v >> np.uint32(32 - k.bit_length() + 1)
    return ((v.astype(np.uint64) * np.uint64(k)) >> np.uint64(32)).astype(np.uint32)


def _sequence(bins: np.ndarray, step: int, k: int, salt: np.uint32) -> np.ndarray:
    """The step-th bin of each bin's densification sequence (the same for every text)."""
    with np.errstate(over="ignore"):
        return _bin_of(_fmix(bins.astype(np.uint32) * _C1 + np.uint32(step) * _C2 + salt,
                             _FMIX32), k)


def signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int = 128,
               seed: int = 1) -> np.ndarray:
    """(n_docs, num_perm) uint32 signatures; a text with no shingles gets all EMPTY."""
    k, n_docs = num_perm, len(offsets) - 1
    counts = np.diff(offsets)
    # the one permutation: an affine map of the (already mixed) 32-bit shingle hashes, as
    # datasketch permutes with its first (a, b)
    a, b = np.uint32(_mix(seed) | 1), _mix(seed + 1)
    if kernels.library() is not None:  # the same values in one pass (`kernels`)
        return kernels.oph_signatures(hashes, offsets, a, b, k, _table(k, seed), _salt(seed))
    with np.errstate(over="ignore"):
        v = hashes.astype(np.uint32, copy=True)
        v *= a
        v += b
    index_type = np.uint32 if n_docs * k < 1 << 32 else np.int64
    cell = np.repeat(np.arange(n_docs, dtype=index_type) * index_type(k), counts)
    cell += _bin_of(v, k)
    sig = np.full(n_docs * k, EMPTY, dtype=np.uint32)
    np.minimum.at(sig, cell, v)
    del cell, v
    return _densified(sig, counts > 0, k, seed).reshape(n_docs, k)


def _salt(seed: int) -> np.uint32:
    return _mix(seed ^ 0x5BD1E995)


@lru_cache(maxsize=8)
def _table(k: int, seed: int) -> np.ndarray:
    """(_TABLE, k): row s-1 = each bin's s-th densification step."""
    salt = _salt(seed)
    return np.stack([_sequence(np.arange(k), s, k, salt) for s in range(1, _TABLE + 1)])


def _densified(sig: np.ndarray, nonempty: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Every empty bin of a non-empty text takes the value of the first non-empty bin in its
    fixed random sequence: step 1 for every empty bin at once, then each further step only for
    the bins still empty (about a fifth per step for 200-shingle texts). `sig` is flat; read
    values come from non-empty bins only, so the result is written into it in place."""
    empty = (sig == EMPTY).reshape(-1, k)
    empty &= nonempty[:, None]
    flat = np.flatnonzero(empty)
    bins = flat % k
    base = flat - bins
    salt, table = _salt(seed), _table(k, seed)
    value = sig[base + table[0][bins]]
    todo, step = np.flatnonzero(value == EMPTY), 2
    while len(todo):
        j = table[step - 1][bins[todo]] if step <= _TABLE else _sequence(bins[todo], step, k,
                                                                          salt)
        found = sig[base[todo] + j]
        value[todo] = found
        todo = todo[found == EMPTY]
        step += 1
    sig[flat] = value
    return sig
