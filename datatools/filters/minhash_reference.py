"""The shingle hashing of `minhash` in plain Python, one text at a time: the reference the
vectorised code is tested against, and a `hashfunc` for datasketch
(`MinHash(num_perm, seed, hashfunc=shingle_hash)` updated with `py_shingles(text)` gives the
signatures `minhash.signatures` computes)."""
from __future__ import annotations

from datatools.filters.hash_mix import FMIX64 as _FMIX64
from datatools.filters.minhash import _K, _M64, _P


def _fmix64_int(h: int) -> int:
    s1, m1, s2, m2, s3 = _FMIX64
    h ^= h >> s1
    h = (h * m1) & _M64
    h ^= h >> s2
    h = (h * m2) & _M64
    return h ^ (h >> s3)


def token_hash(token: bytes) -> int:
    """64-bit hash of a token's (lowercased) UTF-8 bytes, read as little-endian 8-byte blocks:
    acc = len; acc = fmix64(acc·K + block) per block (a Merkle–Damgård chain of the finaliser)."""
    acc = len(token)
    for k in range(0, len(token), 8):
        acc = _fmix64_int((acc * _K + int.from_bytes(token[k:k + 8], "little")) & _M64)
    return acc


def shingle_hash(shingle: tuple[bytes, ...]) -> int:
    """32-bit hash of an n-gram of tokens; pass as datasketch `hashfunc`."""
    acc = len(shingle)
    for i, tok in enumerate(shingle):
        acc = (acc + token_hash(tok) * _P[i]) & _M64
    return _fmix64_int(acc) >> 32


def _is_word_byte(c: int) -> bool:
    return c >= 0x80 or c == 0x5F or 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def py_tokens(text: str, shingle: str = "word") -> list[bytes]:
    b = text.encode().translate(_LOWER_BYTES)
    if shingle == "char":
        return [ch.encode() for ch in b.decode() if ch not in " \t\n\v\f\r"]
    out, cur = [], bytearray()
    for c in b:
        if _is_word_byte(c):
            cur.append(c)
        elif cur:
            out.append(bytes(cur))
            cur = bytearray()
    if cur:
        out.append(bytes(cur))
    return out


def py_shingles(text: str, shingle: str = "word", ngram: int = 5) -> list[tuple[bytes, ...]]:
    """Shingles of one text; a text with fewer than `ngram` tokens is one shingle."""
    toks = py_tokens(text, shingle)
    if not toks:
        return []
    if len(toks) < ngram:
        return [tuple(toks)]
    return [tuple(toks[i:i + ngram]) for i in range(len(toks) - ngram + 1)]


_LOWER_BYTES = bytes(c + 32 if 0x41 <= c <= 0x5A else c for c in range(256))
