"""Where a build's time goes: wall and CPU seconds per phase (start-up, read, each step,
builders, report.json, card, the outputs).

CPU time is the whole process's (`time.process_time`: every thread, user + system) plus that
of its finished child processes (the reading processes of a large file), so CPU/wall says
how many cores a phase kept busy: 1.0 is one core, 2.0 two. Recording a phase
costs two clock reads; a build always records them and `datatools build --profile FILE`
writes them out. A phase whose parts run at once (the output writers) is one row, so no CPU
is counted twice; its parts have their own wall seconds only (`parts`).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; 10 ms resolution), else None."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds() -> float:
    """This process's CPU seconds and those of the child processes it has waited for."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Profile:
    phases: list[dict] = field(default_factory=list)

    def startup(self) -> None:
        """The phase from process start to now: interpreter, imports, recipe checks."""
        age = process_age()
        if age is not None:
            self.phases.append(_row("start-up", age, cpu_seconds()))

    @staticmethod
    def start() -> tuple[float, float]:
        return time.perf_counter(), cpu_seconds()

    def stop(self, name: str, started: tuple[float, float]) -> None:
        self.phases.append(_row(name, time.perf_counter() - started[0],
                                cpu_seconds() - started[1]))

    @contextmanager
    def phase(self, name: str):
        started = self.start()
        try:
            yield
        finally:
            self.stop(name, started)

    @contextmanager
    def parallel(self, name: str):
        """A phase made of parts run at once on threads: the caller fills the yielded dict
        with {part: its own wall s}. A part has no CPU of its own (CPU is the process's);
        the phase's CPU/wall says how many cores the parts kept busy together."""
        parts: dict[str, float] = {}
        with self.phase(name):
            yield parts
        self.phases[-1]["parts"] = [{"phase": k, "wall_s": round(v, 3)} for k, v in parts.items()]

    def table(self) -> list[dict]:
        """The phases plus a total row (the sum of the phases)."""
        wall = sum(p["wall_s"] for p in self.phases)
        cpu = sum(p["cpu_s"] for p in self.phases)
        return [*self.phases, _row("total", wall, cpu)]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB): recorded at the end of each phase, it
    shows which phase raised the build's peak. Linux's `VmHWM` is this process's own; its
    ru_maxrss is not: it keeps the peak of the process that forked it across exec (a bench
    that generated its data first reported that as the build's peak at start-up)."""
    hwm = status_mb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float | None:
    """This process's resident memory now (MiB; Linux only, else None). Beside the peak it
    tells what a phase left resident: memory freed but kept by the allocator counts too."""
    return status_mb("VmRSS")


def status_mb(field: str, pid: int | str = "self") -> float | None:
    """A memory field of /proc/PID/status in MiB (None when there is none: not Linux, or the
    process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next(ln for ln in status if ln.startswith(f"{field}:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


def _row(name: str, wall: float, cpu: float) -> dict:
    now = rss_mb()
    return {"phase": name, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "cpu_per_wall": round(cpu / wall, 2) if wall > 0 else None,
            "peak_rss_mb": round(peak_rss_mb()), "rss_mb": None if now is None else round(now)}


def print_profile(rows: list[dict], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="profile (CPU = all threads; CPU/wall = cores kept busy; "
                        "RSS now = resident at the end)", title_justify="left")
    for col in ("phase", "wall s", "CPU s", "CPU/wall", "% wall", "peak RSS MiB",
                "RSS now"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    total = rows[-1]["wall_s"] or 1.0
    for r in rows:
        ratio = "" if r["cpu_per_wall"] is None else f"{r['cpu_per_wall']:.2f}"
        table.add_row(r["phase"], f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}", ratio,
                      f"{100 * r['wall_s'] / total:.0f}%", f"{r.get('peak_rss_mb', 0):,}",
                      "" if r.get("rss_mb") is None else f"{r['rss_mb']:,}")
        for part in r.get("parts") or []:  # at the same time as each other: not summed
            table.add_row(f"  ∥ {part['phase']}", f"{part['wall_s']:.2f}", "", "", "", "", "")
    (console or Console(stderr=True)).print(table)
