"""One large JSONL file read by several processes, with exactly the result of one.

Parsing a line builds Python objects (orjson holds the GIL while it does), so threads do not
help and reading was the one phase of a build that kept a single core busy. Here the file is
cut into byte ranges at line ends and each range is read by its own process with the same
columnar reader (`columnar.read_jsonl`), which sends its frame back a piece at a time (a
worker holds about one piece, not its whole range).

What is not local to a range is made to match a one-process read:
- line numbers: each worker first counts the lines of its range; the driver sends every
  worker the number of lines before its range, so `source` and ledger rows name the file's
  true line;
- record ids: a repeated id gets a `~N` suffix by occurrence across the whole file
  (`rows.take_id`). Each worker assigns ids as if its range were the file and logs every
  (base id, id given) pair; the driver then replays the bases of later ranges in file order
  against the earlier ranges' ids and rewrites only the ids that differ (an exact copy of a
  record in an earlier range, say), in `id` and in `candidate_id` (`<id>-<suffix>`).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import polars as pl

from datatools.readers.rows import take_id
from datatools.threads import workers as cpu_workers

MIN_BYTES = 64 * 2**20       # a smaller file is read by one process (start-up would dominate)
RANGE_BYTES = 32 * 2**20     # at least this much of the file per worker
WORKERS_ENV = "DATATOOLS_READ_WORKERS"  # reading processes per large file; unset: one


def read_workers(path: Path) -> int:
    """Processes for reading `path`: DATATOOLS_READ_WORKERS (opt-in; 0 or "auto": the usable
    CPUs, ≤ 8), at most one per RANGE_BYTES, and 1 below MIN_BYTES. One by default: on the
    2-core machine this was measured on, two processes read a 1M-record file in 16.6 s
    against 14.6 s for one, at twice the CPU (every record is also encoded, sent and
    decoded once more), so the gain needs more cores than that."""
    wanted = os.environ.get(WORKERS_ENV, "").strip().lower()
    if not wanted or path.stat().st_size < MIN_BYTES:
        return 1
    cpus = cpu_workers() if wanted in ("0", "auto") else int(wanted)
    return max(1, min(cpus, path.stat().st_size // RANGE_BYTES))


def byte_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering the file, each starting at the beginning of a line."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as fh:
        for k in range(1, parts):
            fh.seek(max(size * k // parts - 1, cuts[-1]))
            fh.readline()  # to the end of the line the guess falls in
            cuts.append(min(fh.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def range_lines(path: Path, start: int, end: int, first_line: int):
    """(line number, line) for the lines in [start, end), numbered from `first_line`."""
    with open(path, "rb") as fh:
        fh.seek(start)
        at, lineno = start, first_line
        for line in fh:
            if at >= end:
                break
            yield lineno, line
            at += len(line)
            lineno += 1


def count_lines(path: Path, start: int, end: int, block: int = 16 * 2**20) -> int:
    """Lines in [start, end) as `enumerate(file)` counts them (a last line may lack "\\n")."""
    newlines, last = 0, b"\n"
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            data = fh.read(min(block, left))
            if not data:
                break
            newlines += data.count(b"\n")
            last, left = data[-1:], left - len(data)
    return newlines + (last != b"\n")


class IdLog(Counter):
    """`rows.take_id`'s counter, which also logs each (base id, id given), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: list[tuple[str, str]] = []


class _Sender:
    """The worker's `frames`: each piece goes to the driver as soon as it is made."""

    def __init__(self, conn):
        self.conn = conn

    def append(self, piece: pl.DataFrame) -> None:
        import io

        buffer = io.BytesIO()  # Arrow IPC: ~3x cheaper than pickling the frame
        piece.write_ipc(buffer, compression="uncompressed")
        self.conn.send(("piece",))
        self.conn.send_bytes(buffer.getbuffer())


def worker_main() -> None:
    """A reading process (started by `read_jsonl_parallel`): argv is the socket's file
    descriptor, the path, the range's start and end, the source name and the format."""
    import sys
    from multiprocessing.connection import Connection

    from datatools.readers.columnar import read_jsonl

    fd, path, start, end, name, fmt = sys.argv[1:7]
    conn, path, start, end = Connection(int(fd)), Path(path), int(start), int(end)
    try:
        conn.send(("lines", count_lines(path, start, end)))
        first_line = conn.recv()
        ids, notes = IdLog(), Counter()
        _, rejects, seen, kinds = read_jsonl(path, name, fmt, ids, notes, _Sender(conn),
                                             range_lines(path, start, end, first_line))
        conn.send(("done", rejects, seen, kinds, notes, ids.taken))
    except BaseException as err:  # noqa: BLE001 - reported to the driver, which raises
        import traceback

        conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _start(path: Path, start: int, end: int, name: str, fmt: str):
    """A reading process for one range, and its end of the socket. A plain subprocess of this
    interpreter, not `multiprocessing`: spawn re-imports the caller's main module (a script
    without a main guard would start again) and polars' threads do not survive fork."""
    import socket
    import subprocess
    import sys
    from multiprocessing.connection import Connection

    import datatools

    here, there = socket.socketpair()
    package_root = str(Path(datatools.__file__).resolve().parents[1])  # this very datatools
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from datatools.readers.parallel import worker_main; worker_main()",
         str(there.fileno()), str(path), str(start), str(end), name, fmt],
        pass_fds=[there.fileno()], env=env, stdin=subprocess.DEVNULL)
    there.close()
    return proc, Connection(here.detach())


def read_jsonl_parallel(path: Path, name: str, fmt: str, notes: Counter, frames, processes: int):
    """`columnar.read_jsonl(path, name, fmt, Counter(), notes, frames)` on `processes`
    processes: the same (frames, rejects, seen, kinds), frames appended in file order."""
    links, procs = [], []
    try:
        for start, end in byte_ranges(path, processes):
            proc, link = _start(path, start, end, name, fmt)
            procs.append(proc)
            links.append(link)
        first = 1
        for link in links:  # every worker's line count, then where its lines start
            first_line = first
            first += _receive(link)[1]
            link.send(first_line)
        results = _collect(links)
    finally:
        for link in links:
            link.close()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except Exception:  # noqa: BLE001 - stuck or interrupted: it must not outlive us
                proc.kill()
                proc.wait()
    ids: Counter = Counter()
    rejects, seen, kinds = [], 0, set()
    for pieces, (range_rejects, range_seen, range_kinds, range_notes, taken) in results:
        changed = {}
        for base, given in taken:  # replay in file order, as one reader would
            record_id = take_id(ids, base)
            if record_id != given:
                changed[given] = record_id
        for piece in pieces:
            frames.append(_renamed(piece, changed) if changed else piece)
        rejects.extend(range_rejects)
        seen += range_seen
        kinds |= range_kinds
        notes.update(range_notes)
    return frames, rejects, seen, kinds


def _receive(link):
    try:
        message = link.recv()
    except EOFError:
        raise RuntimeError("a reading process ended without a result (killed, or out of "
                           f"memory?); {WORKERS_ENV}=1 reads in one process") from None
    if message[0] == "error":
        raise RuntimeError(f"a reading process failed: {message[1]}")
    return message


def _collect(links: list) -> list:
    """Each worker's (pieces, (rejects, seen, kinds, notes, taken)), in range order. Pieces
    are taken from whichever worker has one ready (a worker waits while its pipe is full)."""
    import io
    from multiprocessing.connection import wait

    pieces: dict = {link: [] for link in links}
    results: dict = {}
    while len(results) < len(links):
        for link in wait([k for k in links if k not in results]):
            message = _receive(link)
            if message[0] == "piece":
                pieces[link].append(pl.read_ipc(io.BytesIO(link.recv_bytes())))
            else:
                results[link] = message[1:]
    return [(pieces[link], results[link]) for link in links]


def _renamed(piece: pl.DataFrame, changed: dict[str, str]) -> pl.DataFrame:
    """`piece` with the ids in `changed` replaced, in `id` and `candidate_id` alike."""
    old = pl.col("id")
    new = old.replace(list(changed), list(changed.values()))
    moved = old.is_in(list(changed))
    return piece.with_columns(
        new.alias("id"),
        pl.when(moved).then(new + pl.col("candidate_id").str.slice(old.str.len_chars()))
        .otherwise(pl.col("candidate_id")).alias("candidate_id"),
    )
