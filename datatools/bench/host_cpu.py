"""How much of the machine's CPU a benchmark really had: on a shared VM the hypervisor gives
some of each core's time to other guests ("steal"), and other processes use some too; the
benchmark's wall clock then says little about the code. Read from Linux's /proc/stat."""
from __future__ import annotations

# /proc/stat "cpu" fields, in USER_HZ ticks: user nice system idle iowait irq softirq steal
_BUSY = (0, 1, 2, 5, 6)
_STEAL = 7


def _ticks() -> list[int] | None:
    try:
        with open("/proc/stat") as stat:
            first = stat.readline().split()
    except OSError:
        return None
    return [int(v) for v in first[1:9]] if first and first[0] == "cpu" else None


class HostCPU:
    """Context manager: while it is open, the share of the machine's CPU time that was
    stolen by the hypervisor (`steal_pct`) and that was busy in any process (`busy_pct`,
    this benchmark included), in % of all cores' time. None where /proc/stat is absent."""

    def __init__(self) -> None:
        self.steal_pct: float | None = None
        self.busy_pct: float | None = None

    def __enter__(self) -> "HostCPU":
        self._start = _ticks()
        return self

    def __exit__(self, *exc) -> None:
        end = _ticks()
        if self._start is None or end is None:
            return
        delta = [b - a for a, b in zip(self._start, end)]
        total = sum(delta)
        if total <= 0:
            return
        self.steal_pct = round(100 * delta[_STEAL] / total, 1)
        self.busy_pct = round(100 * sum(delta[i] for i in _BUSY) / total, 1)
