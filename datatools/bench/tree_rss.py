"""Peak memory of a process tree: a Ray build runs its work in worker processes (and the
object store), which the build process's own peak RSS does not include."""
from __future__ import annotations

import threading


class TreeRSS:
    """Peaks over this process and all its descendants, sampled every `every` s:

    - `peak_mb`: summed RSS. Shared pages (the object store's memory map) count once per
      process mapping them, so this is an upper bound.
    - `peak_private_mb`: summed private memory (RSS less shared pages: `RssAnon`), what the
      processes hold of their own; the object store's shared memory is bounded by its size.
    - `peak_child_private_mb`: the same for the largest direct child alone (the build
      process, i.e. Ray's driver, whose own peak RSS counts the object store pages it wrote).
    """

    def __init__(self, every: float = 0.5):
        self.every, self._stop = every, threading.Event()
        self.peak_mb = self.peak_private_mb = self.peak_child_private_mb = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = private = 0
            children = {c.pid for c in me.children()}
            for p in [me, *me.children(recursive=True)]:
                try:
                    info = p.memory_info()
                except psutil.Error:
                    continue
                total += info.rss
                private += info.rss - info.shared
                if p.pid in children:
                    self.peak_child_private_mb = max(self.peak_child_private_mb,
                                                     (info.rss - info.shared) / 2**20)
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self.peak_private_mb = max(self.peak_private_mb, private / 2**20)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
