"""The check both columnar-reader tests make: a source read column-wise gives exactly what
the per-line path gives (a limit forces the per-line path)."""
from __future__ import annotations

import polars as pl

from datatools.readers import read_source


def assert_paths_agree(src, workdir):
    """Same frame (schema and values), ledger rows, counts, kind, format and notes; returns
    the per-line result."""
    fast = read_source(src, workdir)
    slow = read_source(src, workdir, limit=10 ** 9)  # a limit: the per-line path
    assert fast.frame.schema == slow.frame.schema
    assert fast.frame.equals(slow.frame)
    # the same ledger rows (the per-line path lists a batch's unreadable lines first)
    assert fast.rejects.sort(pl.all()).equals(slow.rejects.sort(pl.all()))
    assert (fast.records, fast.kind, fast.format) == (slow.records, slow.kind, slow.format)
    assert fast.notes() == slow.notes()
    return slow
