"""A JSONL file read by several processes gives exactly what one process gives: frame (ids
with their `~N` suffixes included), ledger rows with file and line, counts, kinds, notes."""
import json
import random
from collections import Counter

import pytest

from datatools.readers import columnar, parallel
from datatools.readers.columnar_source import read_columnar
from datatools.readers.parallel import byte_ranges, count_lines, read_jsonl_parallel
from datatools.schemas.recipe import Source
from tests.datatools.test_readers_columnar import _write
from tests.read_paths import assert_paths_agree


def _one_process(path, fmt="trl"):
    notes = Counter()
    frames, rejects, seen, kinds = columnar.read_jsonl(path, "f.jsonl", fmt, Counter(), notes)
    return frames, rejects, seen, kinds, notes


def _processes(path, n, fmt="trl"):
    notes = Counter()
    frames, rejects, seen, kinds = read_jsonl_parallel(path, "f.jsonl", fmt, notes, [], n)
    return frames, rejects, seen, kinds, notes


def _same(a, b):
    import polars as pl

    assert pl.concat(a[0]).equals(pl.concat(b[0]))
    assert a[1:] == b[1:]


@pytest.mark.parametrize("processes", [2, 3, 7])
def test_ranges_read_like_one_process_on_every_shape(tmp_path, processes):
    path = tmp_path / "mixed.jsonl"
    _write(path, random.Random(processes), 300)  # malformed lines, bad bytes, CRLF, blanks...
    one = _one_process(path)
    _same(_processes(path, processes), one)
    assert {"read.malformed_json", "read.invalid_utf8"} <= {r["reason"] for r in one[1]}


def test_ids_repeated_across_ranges_are_suffixed_as_one_reader_would(tmp_path):
    record = {"prompt": "same", "chosen": "c", "rejected": "r"}
    lines = [record, {"id": "x", "prompt": "a", "completion": "b"}] * 3 + [
        {"id": "x~2", "prompt": "own", "completion": "b"},      # an own id like a suffix
        {"id": "x", "prompt": "a", "completion": "b"}, record]
    path = tmp_path / "dups.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines))  # no newline at the end
    one = _one_process(path)
    many = _processes(path, 4)
    _same(many, one)
    ids = list(__import__("polars").concat(one[0])["id"].unique(maintain_order=True))
    assert ids[:4] == [ids[0], "x", f"{ids[0]}~2", "x~2"]  # later ranges were renamed
    assert "x~2~2" in ids or "x~3" in ids


def test_byte_ranges_start_at_lines_and_cover_the_file(tmp_path):
    path = tmp_path / "f.jsonl"
    body = b'{"a": 1}\n\n{"b": "x\\ny"}\r\n' + b'{"c": 3}\n' * 50 + b'{"last": true}'
    path.write_bytes(body)
    for parts in (1, 2, 5, 64, 500):
        ranges = byte_ranges(path, parts)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(body)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert all(body[start - 1:start] == b"\n" for start, _ in ranges[1:])
        assert sum(count_lines(path, a, b) for a, b in ranges) == len(body.split(b"\n"))


def test_read_source_takes_the_parallel_path_and_agrees_with_the_line_path(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 1)
    monkeypatch.setenv(parallel.WORKERS_ENV, "3")
    path = tmp_path / "mixed.jsonl"
    _write(path, random.Random(5), 200)
    assert parallel.read_workers(path) == 3
    src = Source(path=str(path), format="auto")
    assert read_columnar(src, tmp_path, False) is not None
    assert_paths_agree(src, tmp_path)
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    assert parallel.read_workers(path) == 1
    monkeypatch.delenv(parallel.WORKERS_ENV)
    assert parallel.read_workers(path) == 1  # opt-in


def test_a_failing_reading_process_is_an_error_not_a_short_read(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"prompt": "p", "completion": "a"}\n' * 10)
    with pytest.raises(RuntimeError, match="a reading process failed: KeyError"):
        _processes(path, 2, fmt="no-such-format")
