"""bench's process measurement: the peak RSS is the child's own, not its parent's."""
import sys

from datatools.bench.process import run_process
from datatools.profiling import peak_rss_mb


def test_child_peak_is_its_own_not_the_larger_parents():
    held = bytearray(400 * 2**20)  # the parent (a bench after building its corpus) is large
    held[::4096] = b"\x01" * len(held[::4096])
    child = ("x = bytearray(60 * 2**20); x[::4096] = b'\\x01' * len(x[::4096]); "
             "import time; time.sleep(0.3)")
    measured, _ = run_process([sys.executable, "-c", child])
    assert 60 <= measured["peak_rss_mb"] < 300  # wait4's ru_maxrss would say ≥ 400
    assert peak_rss_mb() >= 400  # this process's own peak, from VmHWM
    del held
