"""release_free_memory gives the pages Python objects freed back to the system (glibc)."""
import sys

import pytest

from datatools.memory import release_free_memory
from datatools.profiling import rss_mb


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_freed_python_strings_leave_resident_memory_only_after_release():
    if not release_free_memory():
        pytest.skip("no glibc malloc_trim here (musl?)")
    # 1 KiB strings come from malloc (pymalloc takes ≤ 512 B); one in 64 stays alive, so the
    # freed ones are not at the heap's top, which glibc would trim by itself
    strings = [("x" * 1000) + str(i) for i in range(300_000)]
    keep = strings[::64]
    before = rss_mb()
    del strings
    held = rss_mb()
    assert release_free_memory()
    after = rss_mb()
    assert held > before - 100  # free() alone gave back little of the ~300 MB
    assert after < held - 150, (before, held, after)  # the release returned most of it
    assert len(keep) == 4688
