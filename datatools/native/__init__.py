"""The optional compiled kernels (`dedup.c`: near_dedup's hashing and signatures;
`trl_screen.c` and `trl_ids.c`: the screen of TRL JSONL lines and their content ids for
`readers.native_trl`; `words.c`: the `length` step's word counts), loaded through ctypes.

`pip install` compiles them into one extension, `datatools.native._kernels` (setup.py; optional:
an install without a C compiler or Python's headers still succeeds, and the numpy code and the
per-line reader give the same results, slower; the tests compare the two). ctypes releases the
GIL during a call, so callers run these on their thread pools. `DATATOOLS_KERNELS=numpy` turns
them off (to compare the two, or to rule them out when something looks wrong).
"""
from __future__ import annotations

import ctypes
import os
from functools import lru_cache

import numpy as np

U8 = np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS")
I8 = np.ctypeslib.ndpointer(np.int8, flags="C_CONTIGUOUS")
U32 = np.ctypeslib.ndpointer(np.uint32, flags="C_CONTIGUOUS")
U64 = np.ctypeslib.ndpointer(np.uint64, flags="C_CONTIGUOUS")
I64 = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
_int, _i64, _u32 = ctypes.c_int, ctypes.c_int64, ctypes.c_uint32

# name: (return type, argument types), as declared in the C files
_SIGNATURES = {
    "init_tables": (None, []),
    "shingle_hashes": (_i64, [U8, I64, _i64, _int, _int, U64, U32, I64]),
    "minhash_signatures": (None, [U32, I64, _i64, U32, U32, _int, U32]),
    "oph_signatures": (None, [U32, I64, _i64, _u32, _u32, _int, _int, U32, _int, _u32, U32]),
    "sorted_intersections": (None, [U32, I64, I64, _i64, I64]),
    "trl_screen": (_i64, [U8, _i64, I8, _i64]),
    "trl_content_ids": (None, [U8, U64, U8, U64, U8, U64, I8, _i64, U8]),
    "word_counts": (None, [U8, U64, _i64, U32]),
}


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The built library, or None (not built, or turned off by DATATOOLS_KERNELS=numpy)."""
    if os.environ.get("DATATOOLS_KERNELS", "").lower() == "numpy":
        return None
    try:
        from datatools.native import _kernels
    except ImportError:
        return None
    lib = ctypes.CDLL(_kernels.__file__)
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    lib.init_tables()  # the byte-class tables, before any call that reads them
    return lib


def text_bytes(texts) -> tuple[np.ndarray, np.ndarray]:
    """A string Series' UTF-8 bytes as one uint8 array + int64 offsets (a null reads as ""),
    as the kernels take them (zero copy via Arrow once the text is a large_string)."""
    import polars as pl
    import pyarrow as pa

    arr = texts.cast(pl.String).fill_null("").rechunk().to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data[offsets[0]: offsets[-1]], offsets - offsets[0]


def string_views(texts) -> tuple[np.ndarray, np.ndarray, object]:
    """A string Series as the kernels read it where polars holds it (`views.h`): its Arrow
    string views (16 bytes each), its data buffers' addresses, and the Arrow array, which
    must stay alive while they are used. A null reads as "". No text is copied (turning the
    text into one contiguous buffer, `text_bytes`, took 14 ms per 15k answers)."""
    import polars as pl
    import pyarrow as pa

    arr = texts.cast(pl.String).fill_null("").to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string_view():  # the C code reads views: never another layout as one
        arr = arr.cast(pa.string_view())
    buffers = arr.buffers()
    views = np.frombuffer(buffers[1], dtype=np.uint8)[16 * arr.offset: 16 * (arr.offset + len(arr))]
    addresses = np.array([0 if b is None else b.address for b in buffers[2:]] or [0], np.uint64)
    return views, addresses, arr
