"""Peak memory of a process tree: a Ray build runs its work in worker processes (and the
object store), which the build process's own peak RSS does not include."""
from __future__ import annotations

import threading


class TreeRSS:
    """Peak summed RSS of this process and all its descendants, sampled every `every` s.
    Shared pages (the object store's memory map) count once per process mapping them, so
    this is an upper bound."""

    def __init__(self, every: float = 0.5):
        self.every, self.peak_mb, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
