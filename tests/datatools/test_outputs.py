"""The ledger kept as parts: counts, and what is written equals the rows it stands for."""
import json

import polars as pl
import pytest

from datatools.frame import LEDGER_SCHEMA, frame_from_rows, rows_from_record
from datatools.outputs import Ledger, to_ledger
from datatools.parquet_out import write_parquet
from datatools.step import partition


def _rejected():
    rows = []
    for i in range(7):
        rows += rows_from_record(f"r{i}", f"d.jsonl:{i + 1}", [{"role": "user", "content": f"q{i}"}],
                                 [{"content": f"a{i}", "score": 1.0}, {"content": "b", "score": 0.0}])
    frame = frame_from_rows(rows)
    reason = pl.when(pl.col("id").is_in(["r1", "r4"])).then(pl.lit("length.completion_words"))
    return partition(frame, reason, pl.lit("too short"), row_wise=True)[1]


def test_ledger_counts_and_written_rows(tmp_path):
    rejected = _rejected()
    read_rows = pl.DataFrame([dict(step="read", reason="read.malformed_json", detail="line 3",
                                   source="d.jsonl:3", id=None, candidate_id=None, record="{")],
                             schema=LEDGER_SCHEMA)
    ledger = Ledger()
    ledger.add_rows(read_rows)
    ledger.add_rejected("length", rejected)
    ledger.add_rejected("near_dedup", rejected.clear())  # empty parts are not kept
    assert ledger.height == 5 and len(ledger.parts) == 2
    assert ledger.counts("step") == {"length": 4, "read": 1}
    assert ledger.counts("reason") == {"length.completion_words": 4, "read.malformed_json": 1}

    path = tmp_path / "rejects.parquet"
    ledger.write(path)
    written = pl.read_parquet(path)
    expected = pl.concat([read_rows, to_ledger(rejected, "length")])
    assert written.schema == pl.Schema(LEDGER_SCHEMA)
    assert written.equals(expected)
    record = json.loads(written["record"][1])  # the whole rejected row, nothing lost
    assert record["completion"] == "a1" and record["prompt"][0]["content"] == "q1"


def test_row_wise_partition_equals_the_whole_frame_one(monkeypatch):
    import datatools.step as step

    rows = []
    for i in range(23):
        rows += rows_from_record(f"r{i}", "s", [{"role": "user", "content": f"q{i}"}],
                                 [{"content": "x" * i}])
    frame = frame_from_rows(rows)
    reason = pl.when(pl.col("completion").str.len_chars() % 3 == 0).then(pl.lit("odd.three"))
    detail = pl.format("length {}", pl.col("completion").str.len_chars())
    monkeypatch.setattr(step, "SLICE_ROWS", 5)  # several slices, one of them short
    whole = partition(frame, reason, detail)
    sliced = partition(frame, reason, detail, row_wise=True)
    assert sliced[0].equals(whole[0]) and sliced[1].equals(whole[1])
    assert sliced[1].height == 8 and sliced[1]["detail"][1] == "length 3"


@pytest.mark.parametrize("writer", ["sink", "pyarrow (slices)"])
def test_write_parquet_round_trips_in_row_groups(tmp_path, writer):
    import pyarrow.parquet as pq

    from datatools.parquet_out import write_slices

    answers = [{"content": str(i)} for i in range(8)] + [{"content": ""},
                                                         {"content": "é 国 😀\n\t"}]
    frame = frame_from_rows(rows_from_record("r", "s", [{"role": "user", "content": "q"}],
                                             answers))
    frame = frame.with_columns(meta=pl.when(pl.int_range(pl.len()) == 3).then(None)
                               .otherwise(pl.col("meta")))
    if writer == "sink":
        write_parquet(frame, tmp_path / "f.parquet", rows=3)
    else:  # the writer of slices made one at a time
        write_slices(frame.iter_slices(3), frame.head(0), tmp_path / "f.parquet", rows=3)
    assert pq.ParquetFile(tmp_path / "f.parquet").num_row_groups == 4
    assert pl.read_parquet(tmp_path / "f.parquet").equals(frame)
    assert pq.read_table(tmp_path / "f.parquet").schema == frame.to_arrow().schema


def test_both_writers_write_the_same_table(tmp_path):
    import pyarrow.parquet as pq

    from datatools.parquet_out import write_slices

    rows = []
    for i in range(50):
        rows += rows_from_record(f"r{i}", "s", [{"role": "system", "content": "be brief"},
                                                {"role": "user", "content": f"q{i} " * i}],
                                 [{"content": "a" * i, "score": 0.5 * i}, {"content": "b"}])
    frame = frame_from_rows(rows)
    write_parquet(frame, tmp_path / "sink.parquet", rows=16)
    write_slices(frame.iter_slices(16), frame.head(0), tmp_path / "slices.parquet", rows=16)
    assert pq.read_table(tmp_path / "sink.parquet").equals(
        pq.read_table(tmp_path / "slices.parquet"))


def test_sink_writes_pieces_in_order_cast_to_the_schema(tmp_path):
    """Lazy pieces — slices of a frame, an empty piece with a Null-typed column, a parquet
    scan (the Ray executor's parts) — come out in order, cast to the schema."""
    from datatools.parquet_out import sink

    frame = pl.DataFrame({"a": list(range(10)), "b": [f"x{i}" for i in range(10)]})
    frame.slice(6).write_parquet(tmp_path / "tail.parquet")
    pieces = [frame.slice(0, 4).lazy(), pl.LazyFrame({"a": [], "b": []}),
              frame.slice(4, 2).lazy(), pl.scan_parquet(tmp_path / "tail.parquet")]
    sink(pieces, frame.head(0), tmp_path / "out.parquet", rows=4)
    assert pl.read_parquet(tmp_path / "out.parquet").equals(frame)
    sink([], frame.head(0), tmp_path / "empty.parquet")
    assert pl.read_parquet(tmp_path / "empty.parquet").equals(frame.head(0))
