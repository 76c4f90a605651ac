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


def run_jobs(jobs: list[tuple[str, Callable[[], object], tuple[str, ...]]],
             threads: int | None = None) -> dict[str, float]:
    """Run named jobs at once on `threads` threads (default `workers()`), started in list
    order (put the longest first). A job `(name, fn, needs)` starts `fn` only after the
    earlier jobs named in `needs` have finished: they were started before it (one queue, in
    order), so waiting on them cannot deadlock. Returns each job's own wall seconds (its
    wait excluded). If a job fails, the jobs not started are cancelled, the running ones
    finish, and the first failed job's error (in list order) is raised."""
    import time

    threads = threads or workers()
    futures: dict[str, object] = {}
    walls: dict[str, float] = {}

    def timed(name, fn, needs):
        for need in needs:
            futures[need].result()  # (a failed need fails this job with the same error)
        started = time.perf_counter()
        fn()
        walls[name] = time.perf_counter() - started

    with ThreadPoolExecutor(max(1, min(threads, len(jobs)))) as pool:
        for name, fn, needs in jobs:
            if not set(needs) <= futures.keys():
                raise ValueError(f"job {name} needs a job not listed before it: {needs}")
            futures[name] = pool.submit(timed, name, fn, needs)
        try:
            for future in futures.values():
                future.result()
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
    return {name: walls[name] for name, _, _ in jobs}
