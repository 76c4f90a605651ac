"""The compiled kernels of `_kernels.c` through ctypes, or None where they are not built:
near_dedup's hashing and signatures, and the screen of TRL JSONL lines (`readers.native_trl`).

`pip install` compiles `_kernels.c` (setup.py, an optional extension: an install without a C
compiler still succeeds and `minhash` uses its numpy code). Both give the same values, which
the tests check on the same texts. ctypes releases the GIL during a call, so `minhash` runs
these on its thread pool as it runs the numpy code. `DATATOOLS_KERNELS=numpy` turns them off
(to compare the two, or to rule them out when something looks wrong).
"""
from __future__ import annotations

import ctypes
import os
from functools import lru_cache

import numpy as np

_U8 = np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS")
_U32 = np.ctypeslib.ndpointer(np.uint32, flags="C_CONTIGUOUS")
_U64 = np.ctypeslib.ndpointer(np.uint64, flags="C_CONTIGUOUS")
_I64 = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The built library, or None (not built, or turned off by DATATOOLS_KERNELS=numpy)."""
    if os.environ.get("DATATOOLS_KERNELS", "").lower() == "numpy":
        return None
    try:
        from datatools.filters import _kernels
    except ImportError:
        return None
    lib = ctypes.CDLL(_kernels.__file__)
    lib.init_tables()  # the byte-class tables, before any call that reads them
    lib.shingle_hashes.restype = ctypes.c_int64
    lib.shingle_hashes.argtypes = [_U8, _I64, ctypes.c_int64, ctypes.c_int, ctypes.c_int, _U64,
                                   _U32, _I64]
    lib.minhash_signatures.restype = None
    lib.minhash_signatures.argtypes = [_U32, _I64, ctypes.c_int64, _U32, _U32, ctypes.c_int,
                                       _U32]
    lib.oph_signatures.restype = None
    lib.oph_signatures.argtypes = [_U32, _I64, ctypes.c_int64, ctypes.c_uint32, ctypes.c_uint32,
                                   ctypes.c_int, ctypes.c_int, _U32, ctypes.c_int,
                                   ctypes.c_uint32, _U32]
    lib.sorted_intersections.restype = None
    lib.sorted_intersections.argtypes = [_U32, _I64, _I64, ctypes.c_int64, _I64]
    lib.trl_screen.restype = ctypes.c_int64
    lib.trl_screen.argtypes = [_U8, ctypes.c_int64, np.ctypeslib.ndpointer(np.int8), ctypes.c_int64]
    return lib


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


def trl_screen(block: bytes) -> np.ndarray:
    """Per line of `block` (split at b"\\n"): the plain TRL shape polars' JSON reader reads
    exactly as the per-line reader does (0-3, as `columnar_trl.general_shape`), -1 for a line
    the screen does not vouch for, -2 for a blank line (`_kernels.c`, trl_screen)."""
    data = np.frombuffer(block, dtype=np.uint8)
    shapes = np.empty(len(block) + 1, dtype=np.int8)  # at most a line per byte (untouched)
    n = library().trl_screen(data, len(data), shapes, len(shapes))
    return shapes[:n]
