"""Slice work on several threads: same results as one whole-frame select, in order, with a
bounded number of slices in flight; named jobs (the output writers) run at once."""
import threading
import time

import polars as pl
import pytest

from datatools import step as step_module
from datatools.frame import frame_from_rows, prompt_text, rows_from_record
from datatools.step import select_in_slices, select_per_record, text_slices
from datatools.threads import ordered_map, run_jobs


def test_ordered_map_keeps_order_and_bounds_in_flight():
    live, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.002 * (i % 3))  # uneven: later items may finish first
        with lock:
            live[0] -= 1
        return i * i

    assert list(ordered_map(work, range(40), threads=3, ahead=4)) == [i * i for i in range(40)]
    assert peak[0] <= 4
    assert list(ordered_map(work, range(5), threads=1)) == [0, 1, 4, 9, 16]


def _frame(n):
    rows = []
    for i in range(n):
        prompt = [{"role": "system", "content": f"sys {i % 7}"},
                  {"role": "user", "content": f"question {i} " + "word " * (i % 11)}]
        rows += rows_from_record(f"r{i}", "t", prompt, [{"content": f"a{i}"}, {"content": "b"}])
    return frame_from_rows(rows)


def test_slices_on_threads_equal_one_select(monkeypatch):
    frame = _frame(500)
    words = prompt_text().str.count_matches(r"\S+").alias("n")
    whole = frame.select(words)
    monkeypatch.setattr(step_module, "SLICE_ROWS", 37)  # 28 slices
    assert select_in_slices(frame, words).equals(whole)
    assert select_per_record(frame, words).equals(whole)  # once per record, given to both rows
    texts = pl.concat(list(text_slices(frame, prompt_text())))
    assert texts.to_list() == frame.select(prompt_text())[:, 0].to_list()


def test_run_jobs_runs_at_once_and_a_job_waits_for_its_needs():
    both = threading.Barrier(2, timeout=10)  # passes only if the two jobs run at the same time
    done: list[str] = []

    def job(name, wait=None):
        def run():
            if wait:
                wait.wait()
            time.sleep(0.05 if name == "ledger" else 0)
            done.append(name)
        return run

    walls = run_jobs([("pairwise", job("pairwise", both), ()), ("ledger", job("ledger", both), ()),
                      ("report", job("report"), ("ledger",))], threads=2)
    assert list(walls) == ["pairwise", "ledger", "report"]
    assert done.index("report") > done.index("ledger")
    assert walls["ledger"] >= 0.05 and walls["report"] < 0.05  # own time: the wait is excluded


def test_run_jobs_raises_the_first_failure_in_order_after_the_others_end():
    ended: list[str] = []

    def fail(err, delay):
        def run():
            time.sleep(delay)
            ended.append(str(err))
            raise err
        return run

    with pytest.raises(OSError, match="first"):  # it failed last, but is first in the list
        run_jobs([("a", fail(OSError(28, "first"), 0.1), ()),
                  ("b", fail(ValueError("second"), 0), ()),
                  ("c", lambda: ended.append("needs a"), ("a",))], threads=2)
    assert ended == ["second", "[Errno 28] first"]  # both ran to their end; c never started
