"""Run a benchmark's subject as its own process and measure it: wall seconds from spawn to
exit, CPU seconds (user + system, all threads) and the peak RSS of that process alone."""
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
    out = proc.stdout.read()
    drain.join()
    err = chunks[0] if chunks else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
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
             "peak_rss_mb": round(usage.ru_maxrss / 1024)},
            out.decode(errors="replace"))


def run_cli_build(recipe, *args: str) -> dict:
    """`datatools build RECIPE --quiet ARGS` in a fresh process, measured."""
    cmd = [sys.executable, "-m", "datatools.cli", "build", str(recipe), "--quiet", *args]
    return run_process(cmd)[0]
