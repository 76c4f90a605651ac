"""A progress bar for model requests: requests done / total, ETA, and tokens per second.

Silent under --quiet or when stderr is not a terminal (like datatools.progress).
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def request_progress(total: int, description: str, quiet: bool = False
                     ) -> Iterator[Callable[[int, int], None]]:
    """Yields `advance(requests, tokens)`."""
    start = time.perf_counter()
    if quiet or not sys.stderr.isatty():
        yield lambda requests=1, tokens=0: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    tokens_total = 0
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("req  {task.fields[rps]:.1f} req/s  {task.fields[tps]:,.0f} tok/s"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=total, rps=0.0, tps=0.0)

        def advance(requests: int = 1, tokens: int = 0) -> None:
            nonlocal tokens_total
            tokens_total += tokens
            elapsed = max(time.perf_counter() - start, 1e-9)
            done = bar.tasks[0].completed + requests
            bar.update(task, advance=requests, rps=done / elapsed, tps=tokens_total / elapsed)

        yield advance
