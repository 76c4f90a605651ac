"""Freed memory given back to the system between a build's phases.

Python objects freed by a phase (the reader's parsed lines, a step's per-record lists) go
back to glibc's heap, which keeps the pages. Polars and pyarrow allocate from their own
allocators (jemalloc, mimalloc), so they never reuse those pages: the memory stays resident
and adds to every later phase's peak. `malloc_trim(0)` returns the free pages to the system
in milliseconds (README, "Memory between phases")."""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system; False where that cannot be done (no
    glibc: macOS, musl), where it is simply skipped."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
