"""near_dedup's compiled kernels (`datatools/native/dedup.c`) on numpy arrays; `library()` is
None where they are not built, and `minhash`, `oph` and `lsh` then use their numpy code, which
gives the same values (tested)."""
from __future__ import annotations

import numpy as np

from datatools.native import library


def shingle_hashes(data: np.ndarray, offsets: np.ndarray, shingle: str, ngram: int,
                   multipliers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 shingle hashes, per-text shingle counts) of texts data[offsets[t]:offsets[t+1]]."""
    n_docs = len(offsets) - 1
    # a word token takes at least one byte and one separator, a char token one byte; a text
    # with fewer than n tokens gives one shingle: so at most this many
    bound = (len(data) if shingle == "char" else len(data) // 2 + 1) + n_docs
    out = np.empty(bound, dtype=np.uint32)
    counts = np.empty(n_docs, dtype=np.int64)
    written = library().shingle_hashes(
        np.ascontiguousarray(data), np.ascontiguousarray(offsets, dtype=np.int64), n_docs,
        ngram, int(shingle == "char"), multipliers, out, counts)
    return out[:written].copy(), counts  # a copy: the bound is ~2x what most texts use


def minhash_signatures(hv: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray,
                       sig: np.ndarray) -> None:
    """sig[t] = min over text t's pre-mixed hashes h of a·h + b (mod 2^32), in place; sig is
    (n_docs, k) uint32, filled with the empty value by the caller."""
    library().minhash_signatures(np.ascontiguousarray(hv), np.ascontiguousarray(offsets,
                                 dtype=np.int64), len(offsets) - 1, np.ascontiguousarray(a),
                                 np.ascontiguousarray(b), len(a), sig)


def oph_signatures(hashes: np.ndarray, offsets: np.ndarray, a: int, b: int, k: int,
                   table: np.ndarray, salt: int) -> np.ndarray:
    """`oph.signatures` (one permutation, densified with `table`, then hashed steps)."""
    n_docs = len(offsets) - 1
    sig = np.full((n_docs, k), 0xFFFFFFFF, dtype=np.uint32)
    shift = 32 - (k.bit_length() - 1) if k & (k - 1) == 0 else -1
    library().oph_signatures(np.ascontiguousarray(hashes, dtype=np.uint32),
                             np.ascontiguousarray(offsets, dtype=np.int64), n_docs, int(a),
                             int(b), k, shift, np.ascontiguousarray(table, dtype=np.uint32),
                             table.shape[0], int(salt), sig)
    return sig


def sorted_intersections(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """|A ∩ B| per pair, A and B the sorted distinct values[offsets[p]:offsets[p+1]]."""
    inter = np.empty(len(pairs), dtype=np.int64)
    library().sorted_intersections(np.ascontiguousarray(values, dtype=np.uint32),
                                   np.ascontiguousarray(offsets, dtype=np.int64),
                                   np.ascontiguousarray(pairs, dtype=np.int64), len(pairs), inter)
    return inter
