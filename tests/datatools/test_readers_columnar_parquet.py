"""Differential test: a parquet file read column-wise gives exactly what the per-row path
gives (frame, ids, ledger rows with file and row, kinds, notes), for every format the columnar
reader takes, on files whose rows have what parquet really holds: nulls for absent keys,
struct metadata, non-JSON values (dates, bytes, decimals), repeated ids, empty rows."""
import datetime as dt
import decimal
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datatools.readers import columnar, read_source
from datatools.readers.columnar_source import read_columnar
from datatools.schemas.errors import SourceError
from datatools.schemas.recipe import Source
from tests.datatools.test_readers_columnar import LINES
from tests.datatools.test_readers_columnar_shapes import SHAPES
from tests.read_paths import assert_paths_agree

ODD = {"when": dt.datetime(2026, 1, 2, 3, 4), "day": dt.date(2026, 1, 2),
       "blob": b"\x00\xff", "price": decimal.Decimal("1.50")}


def _groups(records: list[dict]) -> list[list[dict]]:
    """The records split into groups parquet can hold as one table (one type per column)."""
    groups: list[list[dict]] = []
    for record in records:
        for group in groups:
            try:  # (pyarrow infers a column's type from its first values: both orders)
                pa.Table.from_pylist(group + [record])
                pa.Table.from_pylist([record] + group)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                continue
            group.append(record)
            break
        else:
            try:
                pa.Table.from_pylist([record])
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                continue  # not storable in parquet at all (e.g. a bare empty list)
            groups.append([record])
    return groups


def _files(tmp_path, fmt: str, rng: random.Random) -> list:
    """Parquet files of the format's shapes: each group repeated with copies (repeated ids),
    extra non-JSON columns on some rows, and one row of nulls (an empty record)."""
    shapes = SHAPES[fmt] + (LINES if fmt == "trl" else [])
    paths = []
    for g, group in enumerate(_groups(shapes)):
        rows = [dict(rng.choice(group)) for _ in range(60)] + [dict(r) for r in group]
        for row in rows[::7]:
            row.update(ODD)
        rows.insert(3, {})  # every column null: an empty record
        path = tmp_path / f"{fmt}-{g}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=16)
        paths.append(path)
    return paths


@pytest.mark.parametrize("batch", [5, 50_000])
@pytest.mark.parametrize("fmt", sorted(SHAPES))
def test_parquet_columnar_equals_per_row(tmp_path, monkeypatch, fmt, batch):
    from datatools.readers import raw

    monkeypatch.setattr(raw, "BATCH", batch)
    monkeypatch.setattr(columnar, "CHUNK", batch)
    taken, reasons, meta = 0, set(), False
    for path in _files(tmp_path, fmt, random.Random(batch)):
        for forced in ("auto", fmt):
            src = Source(path=str(path), format=forced)
            try:
                if read_columnar(src, tmp_path, False) is None:
                    continue  # its first rows are another format: the per-row path reads it
            except SourceError as err:  # no good row at all: the per-row path says the same
                with pytest.raises(SourceError) as per_row:
                    read_source(src, tmp_path, limit=10 ** 9)
                # (the same counts; the per-row path names a batch's unreadable rows first)
                assert str(per_row.value).split(" (")[0] == str(err).split(" (")[0]
                continue
            taken += 1
            slow = assert_paths_agree(src, tmp_path)
            reasons |= set(slow.rejects["reason"])
            meta |= bool(slow.frame["meta"].str.contains("2026-01-02").any())
            assert slow.frame["source"].str.contains(r"\.parquet:\d+$").all()
    assert taken >= 2  # the columnar path was taken, forced and detected
    assert "read.empty_record" in reasons
    assert meta  # the non-JSON values went to meta as the per-row path writes them


@pytest.mark.parametrize("fmt", sorted(SHAPES))
def test_saved_and_hub_datasets_columnar_equal_per_row(tmp_path, monkeypatch, fmt):
    """The same rows as a saved dataset and as a Hub dataset (a local folder through
    `load_dataset`): their rows, decoded by `datasets`, read columnar as per row."""
    from datatools.readers import raw
    from datasets import Dataset

    monkeypatch.setattr(raw, "BATCH", 5)
    monkeypatch.setattr(columnar, "CHUNK", 5)
    taken = 0
    for g, path in enumerate(_files(tmp_path, fmt, random.Random(3))):
        Dataset.from_parquet(str(path)).save_to_disk(str(tmp_path / f"saved{g}"))
        (tmp_path / f"hub{g}").mkdir()
        path.rename(tmp_path / f"hub{g}" / "train.parquet")
        for src in (Source(path=f"saved{g}"), Source(hub=str(tmp_path / f"hub{g}"))):
            try:
                if read_columnar(src, tmp_path, False) is None:
                    continue
            except SourceError:
                continue  # no good row (the parquet test compares that case)
            taken += 1
            slow = assert_paths_agree(src, tmp_path)
            assert slow.frame["source"].str.contains(r"(saved|hub\S*)\d+:\d+$").all()
    assert taken >= 2


def test_dataset_rows_are_the_rows_datasets_gives(tmp_path):
    """`dataset_records` (slices formatted column-wise) gives exactly `dataset[index]`, odd
    values and absent keys included."""
    from datasets import Dataset

    from datatools.readers.hf import dataset_records

    for path in _files(tmp_path, "trl", random.Random(5)):
        dataset = Dataset.from_parquet(str(path))
        assert list(dataset_records(dataset, 7)) == list(enumerate(dataset))
        assert list(dataset_records(dataset, 7, limit=10)) == list(enumerate(dataset))[:10]


def test_real_files_as_parquet_columnar_equal_per_row(shared_data, tmp_path):
    """The real LLaMA-Factory and ms-swift samples written to parquet the way a Hub
    upload stores them (`datasets` → `to_parquet`: one schema for all rows, nulls where a
    row lacks a key) read columnar as per row, and as the JSONL files they came from."""
    from datasets import Dataset

    from tests.datatools.test_readers_columnar_shapes import _real_jsonl

    taken, same = set(), set()
    for path in _real_jsonl(shared_data, tmp_path):
        try:  # (from_json unifies the keys of all rows, as `load_dataset("json")` does)
            dataset = Dataset.from_json(str(path))
        except Exception:  # rows whose types no single schema holds: not storable as parquet
            continue
        out = tmp_path / f"{path.stem}.parquet"
        dataset.to_parquet(str(out))
        src = Source(path=str(out))
        try:
            columnar_result = read_columnar(src, tmp_path, False)
            jsonl = read_source(Source(path=str(path)), tmp_path)
        except SourceError:  # not a training format (the mt-bench questions)
            continue
        got = columnar_result or read_source(src, tmp_path)
        if columnar_result is not None:
            taken.add(assert_paths_agree(src, tmp_path).format)
        # the same records as the JSONL file they came from (absent keys became nulls)
        assert got.frame.drop("source").equals(jsonl.frame.drop("source")), path.name
        same.add(got.format)
    assert {"sharegpt", "alpaca", "swift", "trl"} <= taken, taken
    assert "llamafactory" in same  # read per row (not a columnar format), the same too


def test_json_columns_from_datasets_read_as_their_objects(tmp_path):
    """`datasets` ≥ 5 stores fields of varying shape as Arrow's `arrow.json` extension (JSON
    text): the quickstart's completions (a list of them) and constraints. Read as parquet,
    a saved dataset or a Hub dataset, the frame is the JSONL file's, not the JSON text."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    jsonl = Path(__file__).parents[2] / "recipes" / "data" / "quickstart.jsonl"
    dataset = Dataset.from_json(str(jsonl))
    dataset.to_parquet(str(tmp_path / "q.parquet"))
    dataset.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "hub").mkdir()
    dataset.to_parquet(str(tmp_path / "hub" / "train.parquet"))
    types = {f.name: str(f.type) for f in pq.read_schema(tmp_path / "q.parquet")}
    assert "arrow.json" in types["completions"]  # what this test is about
    want = read_source(Source(path=str(jsonl)), tmp_path).frame.drop("source")
    for src in (Source(path="q.parquet"), Source(path="saved"), Source(hub=str(tmp_path / "hub"))):
        got = read_source(src, tmp_path)
        assert got.frame.drop("source").equals(want), src
        assert got.frame["score"].null_count() < got.frame.height  # scores, not JSON text
        if src.path == "q.parquet":  # the per-row path decodes them the same way
            assert read_source(src, tmp_path, limit=10 ** 9).frame.equals(got.frame)
