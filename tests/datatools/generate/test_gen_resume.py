"""A generate run killed with SIGKILL mid-way and started again recomputes nothing that
finished, loses nothing and duplicates nothing. Real subprocess, real kill, real tiny model."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

CHILD = Path(__file__).with_name("gen_resume_child.py")
N_RECORDS = 8


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _run(model_dir, cache, out, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), str(model_dir), str(cache), str(out),
                             str(log)], env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _load_child():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_resume_child", CHILD)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_sigkill_midway_then_resume(tiny_model_dir, tmp_path):
    cache, out, log = tmp_path / "cache", tmp_path / "out.parquet", tmp_path / "calls.log"
    db = cache / "requests.sqlite"
    proc = _run(tiny_model_dir, cache, out, log)
    deadline = time.time() + 90
    while _rows(db) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    assert not out.exists()
    done_before = _rows(db)
    first_calls = _lines(log)
    assert 3 <= done_before < N_RECORDS

    proc = _run(tiny_model_dir, cache, out, log)
    assert proc.wait(timeout=120) == 0
    second_calls = _lines(log)[len(first_calls):]
    # Recomputes nothing that finished: the resumed run sends exactly the missing requests.
    # (A request may have finished in the backend but been killed before its commit: it
    # was never cached, so it is rightly sent again; cached ones never are.)
    assert len(second_calls) == N_RECORDS - done_before
    assert not set(second_calls) & set(first_calls[:done_before])
    assert _rows(db) == N_RECORDS, "nothing duplicated, nothing lost"
    kept = pl.read_parquet(out)
    assert kept.height == 2 * N_RECORDS and kept["candidate_id"].n_unique() == kept.height

    # Loses nothing: the resumed output equals an uninterrupted run's in a fresh cache
    # (same code, run in-process to save a process start).
    out2, log2 = tmp_path / "out2.parquet", tmp_path / "calls2.log"
    child = _load_child()
    child.SLEEP_S = 0.0
    child.main(str(tiny_model_dir), str(tmp_path / "cache2"), str(out2), str(log2))
    assert len(_lines(log2)) == N_RECORDS
    assert pl.read_parquet(out2).equals(kept)
