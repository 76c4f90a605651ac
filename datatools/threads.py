"""Run a function over slices of a frame on a few threads, results in order, with bounded
look-ahead. Polars and numpy release the GIL while they compute, so slices evaluated this
way keep every core busy where one slice at a time kept polars on one core (a 50k-row slice
is too small for polars to split by itself), while at most `ahead` slices' intermediate
copies exist at once — the memory bound of slicing is kept."""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers() -> int:
    """Threads for slice work: the CPUs this process may use (cgroup/affinity aware), ≤ 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None,
                ahead: int | None = None) -> Iterator[R]:
    """`map(fn, items)` on `threads` threads; at most `ahead` (default 2 × threads) items are
    in flight, and results come back in input order."""
    threads = threads or workers()
    if threads == 1:
        yield from map(fn, items)
        return
    ahead = ahead or 2 * threads
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
