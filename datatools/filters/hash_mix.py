"""Integer finalisers shared by the shingle hashes and both sketches (numpy, wrapping)."""
from __future__ import annotations

import numpy as np

FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)  # MurmurHash3 fmix32, as in datasketch
FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)  # MurmurHash3 fmix64


def fmix(h: np.ndarray, consts) -> np.ndarray:
    """MurmurHash3's finaliser on every element (a bijection of the integer type)."""
    s1, m1, s2, m2, s3 = (h.dtype.type(c) for c in consts)
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h
