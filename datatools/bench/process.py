"""Run a benchmark's subject as its own process and measure it: wall seconds from spawn to
exit, CPU seconds (user + system, all threads) and the peak RSS of that process alone.

The peak is the child's own `VmHWM`, sampled while it runs: the ru_maxrss that wait4 reports
keeps the parent's peak across fork and exec, so a child smaller than the benchmark process
that spawned it was reported at the parent's size (`bench dedup` gave ours and rensa the same
807 MiB: the parent's, after it had built the corpus)."""
from __future__ import annotations

import os
import subprocess
import sys
import time


def run_process(cmd: list[str]) -> tuple[dict, str]:
    """(measurements, stdout) of `cmd`; a failure raises with the end of its stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # stderr is drained by a thread while stdout is read (a full pipe would block the child)
    import threading

    chunks: list[bytes] = []
    drain = threading.Thread(target=lambda: chunks.append(proc.stderr.read()))
    drain.start()
    peak = _PeakOf(proc.pid)
    out = proc.stdout.read()
    drain.join()
    err = chunks[0] if chunks else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    peak_mb = peak.stop()
    proc.stdout.close()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n"
                           f"{err.decode(errors='replace')[-4000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return ({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
             "cpu_per_wall": round(cpu / wall, 2) if wall > 0 else None,
             "peak_rss_mb": round(peak_mb if peak_mb is not None else usage.ru_maxrss / 1024)},
            out.decode(errors="replace"))


class _PeakOf:
    """The largest `VmHWM` (peak RSS) of process `pid` seen every 20 ms until `stop()`; None
    where /proc has none (not Linux). A peak reached in the last 20 ms before exit is missed."""

    def __init__(self, pid: int):
        import threading

        self.pid, self.peak, self._done = pid, None, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from datatools.profiling import status_mb

        while True:
            hwm = status_mb("VmHWM", self.pid)
            if hwm is not None:
                self.peak = max(self.peak or 0.0, hwm)
            if self._done.wait(0.02):
                return

    def stop(self) -> float | None:
        self._done.set()
        self._thread.join()
        return self.peak


def run_cli_build(recipe, *args: str) -> dict:
    """`datatools build RECIPE --quiet ARGS` in a fresh process, measured."""
    cmd = [sys.executable, "-m", "datatools.cli", "build", str(recipe), "--quiet", *args]
    return run_process(cmd)[0]
