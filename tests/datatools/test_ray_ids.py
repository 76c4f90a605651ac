"""Reading on Ray: large JSONL files read by tasks per byte range (`ray_ranges`), record
ids settled after reading (`ray_ids`). The same frame and ledger as a local read, for ids
that repeat within a source, collide with a source's own `~N` ids, repeat across sources,
or are derived from content, and for malformed lines (ledgered with their true line)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("ray")

from datatools.pipeline import read_sources  # noqa: E402
from datatools.recipe import load_recipe_dict  # noqa: E402

pytestmark = pytest.mark.slow


def pair(prompt: str, i: int = 0, **extra) -> dict:
    return {"prompt": prompt, "chosen": f"yes {i}", "rejected": "no", **extra}


def sources(tmp_path):
    """A JSONL file (the columnar reader), a JSON array (the per-record reader) and a
    ShareGPT file with a BOM, all repeating each other's ids and contents."""
    first = [pair("a", 0, id="x"), pair("b", 1, id="x"), pair("c", 2, id="x~2"),
             pair("d", 3, id="x"), pair("e", 4, id=7), pair("f", 5, id="7"),
             pair("same"), pair("same"), pair("g", 6, id="y~3"), pair("h", 7, id="y"),
             pair("i", 8, id="y"), pair("j", 9, id="y"), pair("same"),
             pair("k", 10, id="a\u00001"), pair("l", 11, id="a"), pair("m", 12, id=""),
             pair("one", 13, id="x~2~2")]
    lines = [json.dumps(r) + "\n" for r in first]
    lines[5:5] = ["{not json\n", "\n", '{"prompt": "no answer", "chosen": 3}\n']
    a = tmp_path / "a.jsonl"
    a.write_text("".join(lines))
    b = tmp_path / "b.json"
    b.write_text(json.dumps([pair("n", 14, id="x"), pair("o", 15, id="x~2"), pair("same"),
                             pair("p", 16, id="y"), pair("q", 17, id="z"),
                             pair("r", 18, id="x")]))
    c = tmp_path / "c.jsonl"
    turns = lambda text: [{"from": "human", "value": text}]  # noqa: E731
    c.write_text("\ufeff" + "".join(json.dumps(
        {"conversations": turns(t), "chosen": {"from": "gpt", "value": "ok"},
         "rejected": {"from": "gpt", "value": "no"}, **({"id": i} if i else {})}) + "\n"
        for t, i in [("s", "x"), ("t", None), ("t", None), ("u", "z")]), encoding="utf-8")
    return [{"path": str(a)}, {"path": str(b)}, {"path": str(c), "format": "sharegpt"}]


@pytest.mark.parametrize("block_rows,range_bytes", [(2, None), (1000, None), (2, 300),
                                                    (1000, 450)])
def test_ray_read_equals_a_local_read(ray_cluster, tmp_path, monkeypatch, block_rows,
                                      range_bytes):
    """Read on the driver, or the JSONL files (not the one with a BOM) by tasks over byte
    ranges of a few records each."""
    from datatools.executors import ray_ranges
    from datatools.executors.ray_blocks import collect
    from datatools.executors.ray_read import BlockSink

    if range_bytes:
        monkeypatch.setattr(ray_ranges, "MIN_BYTES", 0)
        monkeypatch.setattr(ray_ranges, "RANGE_BYTES", range_bytes)
    loaded = load_recipe_dict({"name": "ids", "sources": sources(tmp_path),
                               "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}}})
    local, local_ledger, local_sources, _ = read_sources(loaded, quiet=True)
    sink = BlockSink(block_rows)
    _, ledger, summaries, _ = read_sources(loaded, quiet=True, sink=sink)
    on_ray = collect(sink.dataset(partitions=2))
    if range_bytes:
        assert len({n // ray_ranges.RANGE_BLOCKS for n in sink.numbers}) >= 2  # ranges
    assert ledger.equals(local_ledger)  # a bad line and a line lacking "rejected" (after a blank)
    assert ledger["source"].to_list() == [f"{tmp_path}/a.jsonl:6", f"{tmp_path}/a.jsonl:8"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa
    assert strip(summaries) == strip(local_sources)

    columns = ["id", "candidate_id", "source"]
    assert on_ray.select(columns).equals(local.select(columns))
    assert on_ray.equals(local)
    ids = local.unique("id", maintain_order=True)["id"].to_list()
    assert len(ids) == 27  # every record its own id
    # within a source a repeat skips the source's own ids ("x~2" → "x~2~2"); across sources
    # "~N" by occurrence, skipping ids some record has (the third file's "x": not "x~2");
    # an id holding "\x00<digits>" itself is kept as it is
    assert ids[:4] == ["x", "x~2", "x~2~2", "x~3"] and ids[11] == "y~4"
    assert ids[17:19] == ["x~1", "x~2~1"] and ids[23] == "x~4" and ids[26] == "z~1"
    assert [i for i in ids if "\x00" in i] == ["a\x001"]


@pytest.mark.parametrize("range_rows", [None, 3])
def test_ray_read_of_parquet_saved_and_hub_datasets_equals_a_local_read(
        ray_cluster, tmp_path, monkeypatch, range_rows):
    """A parquet file, a saved dataset and a Hub dataset (a local folder through
    `load_dataset`), read on the driver or by tasks over ranges of 3 rows: the same frame, ids
    (repeats within and across sources and ranges), ledger rows (an empty row, located by its
    index) and summaries as a local read."""
    import polars as pl
    from datasets import Dataset

    from datatools.executors import ray_ranges
    from datatools.executors.ray_blocks import collect
    from datatools.executors.ray_read import BlockSink

    rows = [pair("a", 0, id="x"), pair("b", 1, id="x"), pair("c", 2, id="x~2"),
            pair("same"), pair("same"), {"prompt": None, "chosen": None, "rejected": None},
            pair("d", 3, id="x"), pair("same"), pair("e", 4, id="y")]
    rows = [{"id": None, **r} for r in rows]
    pl.DataFrame(rows).write_parquet(tmp_path / "p.parquet", row_group_size=2)
    Dataset.from_list(rows[::-1]).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "hub").mkdir()
    pl.DataFrame(rows[2:]).write_parquet(tmp_path / "hub" / "train.parquet")
    if range_rows:
        monkeypatch.setattr(ray_ranges, "MIN_ROWS", 0)
        monkeypatch.setattr(ray_ranges, "RANGE_ROWS", range_rows)
    loaded = load_recipe_dict({
        "name": "rows", "sources": [{"path": str(tmp_path / "p.parquet")},
                                    {"path": str(tmp_path / "saved")},
                                    {"hub": str(tmp_path / "hub")}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}}})
    local, local_ledger, local_sources, _ = read_sources(loaded, quiet=True)
    sink = BlockSink(2)
    _, ledger, summaries, _ = read_sources(loaded, quiet=True, sink=sink)
    on_ray = collect(sink.dataset(partitions=2))
    for source, tasks in ((0, 3), (1, 3), (2, 3)):  # 9, 9, 7 rows: 3 tasks each
        windows = {n // ray_ranges.RANGE_BLOCKS
                   for n, s in zip(sink.numbers, sink.block_sources) if s == source}
        assert len(windows) == (tasks if range_rows else 1)
    assert ledger.equals(local_ledger)
    assert ledger["source"].to_list() == [f"{tmp_path}/p.parquet:5", f"{tmp_path}/saved:3",
                                          f"hub:{tmp_path}/hub:3"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa
    assert strip(summaries) == strip(local_sources)
    assert on_ray.equals(local)
    ids = local.unique("id", maintain_order=True)["id"].to_list()
    assert len(ids) == 22 and ids[:4] == ["x", "x~2", "x~2~2", ids[3]]
