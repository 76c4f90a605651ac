"""HostCPU measures the machine's busy and stolen CPU share over a block (Linux /proc/stat)."""
import os
import sys
import time

import pytest

from datatools.bench.host_cpu import HostCPU


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_a_busy_loop_shows_as_busy_machine_time():
    start, cpu0 = time.perf_counter(), time.process_time()
    with HostCPU() as host:
        while time.process_time() - cpu0 < 0.6:  # one core busy in this process
            pass
    wall = time.perf_counter() - start
    own = 100 * 0.6 / ((os.cpu_count() or 1) * wall)  # this loop's share of all cores' time
    assert host.busy_pct is not None and host.steal_pct is not None
    assert host.busy_pct >= 0.7 * own  # ticks are 10 ms: a little slack
    assert 0 <= host.steal_pct <= 100 - host.busy_pct + 1
