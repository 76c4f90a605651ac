"""read_source: every file type, real third-party data, and every kind of bad input."""
from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import polars as pl
import pytest
from datatools.schemas.errors import SourceError
from datatools.schemas.recipe import Source

from datatools.frame import FRAME_SCHEMA, LEDGER_SCHEMA
from datatools.readers import read_source

# Counted by hand (jq length / jq -c . | wc -l / csv rows minus header), 2026-11.
# file: (format, kind, records, canonical rows, read rejects)
REAL_DATA = {
    "hh-rlhf/harmless-base-test.jsonl.gz": ("hh_rlhf", "pairwise", 2312, 4614, 5),
    "llama-factory/alpaca_en_demo.json": ("alpaca", "sft", 999, 999, 0),
    "llama-factory/alpaca_zh_demo.json": ("alpaca", "sft", 1000, 1000, 0),
    "llama-factory/dpo_en_demo.json": ("sharegpt", "pairwise", 300, 600, 0),
    "llama-factory/dpo_zh_demo.json": ("sharegpt", "pairwise", 300, 600, 0),
    # messages + bool label: ms-swift's KTO shape (LLaMA-Factory maps it via dataset_info)
    "llama-factory/kto_en_demo.json": ("swift", "unary", 300, 300, 0),
    "llama-factory/v1_dpo_demo.jsonl": ("llamafactory", "pairwise", 10, 20, 0),
    "llama-factory/v1_sft_demo.jsonl": ("llamafactory", "sft", 500, 500, 0),
    "ms-swift/alpaca.csv": ("alpaca", "sft", 3, 3, 0),
    "ms-swift/alpaca.jsonl": ("alpaca", "sft", 3, 3, 0),
    "ms-swift/alpaca2.csv": ("alpaca", "sft", 3, 3, 0),
    # plain role/content messages: TRL's conversational language-modelling shape
    "ms-swift/chatml.jsonl": ("trl", "sft", 3, 3, 0),
    "ms-swift/conversations.jsonl": ("sharegpt", "sft", 3, 3, 0),
    "ms-swift/sharegpt.jsonl": ("sharegpt", "sft", 3, 3, 0),
    "ms-swift/swift_multi.json": ("swift", "sft", 3, 3, 0),
    "ms-swift/swift_multi.jsonl": ("swift", "sft", 3, 3, 0),
    "ms-swift/swift_pre.csv": ("swift", "sft", 3, 3, 0),
    "ms-swift/swift_pre.jsonl": ("swift", "sft", 3, 3, 0),
    "ms-swift/swift_single.csv": ("swift", "sft", 3, 3, 0),
    "ms-swift/swift_single.jsonl": ("swift", "sft", 3, 3, 0),
}
NOT_DATASETS = {"llama-factory/dataset_info.json"}  # LLaMA-Factory's registry of datasets


def read(path, workdir=".", **source):
    return read_source(Source(path=str(path), **source), Path(workdir))


def write_lines(path: Path, lines: list[bytes | str]) -> Path:
    path.write_bytes(b"".join((ln.encode() if isinstance(ln, str) else ln) + b"\n"
                              for ln in lines))
    return path


# ---- real data ------------------------------------------------------------------------------

def test_every_shared_data_file_is_covered(shared_data):
    files = {p.relative_to(shared_data).as_posix()
             for folder in ("llama-factory", "ms-swift", "hh-rlhf")
             for p in (shared_data / folder).iterdir() if p.name != "LICENSE"}
    assert files == set(REAL_DATA) | NOT_DATASETS


@pytest.mark.parametrize("name", sorted(REAL_DATA))
def test_real_data_reads_with_detected_format_and_counts(shared_data, name):
    fmt, kind, records, rows, rejects = REAL_DATA[name]
    result = read(shared_data / name)
    assert (result.format, result.kind, result.records) == (fmt, kind, records)
    assert (result.frame.height, result.rejects.height) == (rows, rejects)
    assert result.frame.schema == pl.Schema(FRAME_SCHEMA)
    assert result.frame["id"].n_unique() == records - rejects
    assert result.frame["source"].str.starts_with(str(shared_data / name) + ":").all()


def test_real_hh_rlhf_rejects_are_the_five_odd_dialogues(shared_data):
    result = read(shared_data / "hh-rlhf/harmless-base-test.jsonl.gz")
    lines = sorted(int(s.rsplit(":", 1)[1]) for s in result.rejects["source"])
    assert lines == [1255, 1689, 1951, 1953, 2037]
    assert set(result.rejects["reason"]) == {"read.bad_content"}
    first = result.frame.row(0, named=True)
    assert first["prompt"][-1]["role"] == "user" and first["score"] == 1.0


def test_real_kto_labels_and_dpo_system_turns(shared_data):
    kto = read(shared_data / "llama-factory/kto_en_demo.json").frame
    assert kto["label"].sum() == 150 and kto["score"].null_count() == 300
    dpo = read(shared_data / "llama-factory/dpo_en_demo.json").frame
    first_roles = dpo["prompt"].list.first().struct.field("role")
    assert (first_roles == "system").sum() == 2 * 80  # 80 records open with a system turn


def test_llamafactory_dataset_info_is_a_clear_error(shared_data):
    with pytest.raises(SourceError, match="dataset_info.json, a registry of datasets"):
        read(shared_data / "llama-factory/dataset_info.json")


def test_folder_of_mixed_files_reads_each_with_its_own_format(shared_data):
    result = read(shared_data / "ms-swift")
    # 12 data files of 3 records each
    assert result.format == "mixed" and result.records == 36 and result.frame.height == 36


# ---- bad input → ledger rows with file and line ---------------------------------------------

def test_bad_jsonl_lines_become_ledger_rows_with_file_and_line(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", [
        '{"prompt": "q1", "chosen": "a", "rejected": "b"}',
        '{"prompt": "q2", "chosen": "a", "rejected": ',           # 2 malformed JSON
        b'{"prompt": "q3 \xff", "chosen": "a", "rejected": "b"}',  # 3 invalid UTF-8
        '',                                                        # blank: not a record
        '{}',                                                      # 5 empty record
        '[1, 2]',                                                  # 6 not an object
        '{"prompt": 3, "chosen": "a", "rejected": "b"}',          # 7 wrong type
        '{"prompt": "q8", "chosen": "a"}',                         # 8 missing field
        '{"prompt": "q9", "chosen": [{"role": "assistant", "content": 5}], "rejected": "b"}',
    ])
    result = read(path)
    assert result.records == 8 and result.frame.height == 2
    ledger = {r["source"]: r for r in result.rejects.iter_rows(named=True)}
    name = str(path)
    expected = {2: "read.malformed_json", 3: "read.invalid_utf8", 5: "read.empty_record",
                6: "read.wrong_type", 7: "read.wrong_type", 8: "read.missing_field",
                9: "read.bad_content"}
    assert {s: r["reason"] for s, r in ledger.items()} == {f"{name}:{n}": reason
                                                           for n, reason in expected.items()}
    assert result.rejects.schema == pl.Schema(LEDGER_SCHEMA)
    assert set(result.rejects["step"]) == {"read"}
    assert "prompt: expected a string or a list of messages, got number" in ledger[f"{name}:7"][
        "detail"]
    assert "rejected" in ledger[f"{name}:8"]["detail"]
    assert "0xff" in ledger[f"{name}:3"]["detail"] and "\\xff" in ledger[f"{name}:3"]["record"]
    # the raw line is kept whole; parsed-but-invalid records carry an id
    assert ledger[f"{name}:2"]["record"] == '{"prompt": "q2", "chosen": "a", "rejected": '
    assert ledger[f"{name}:2"]["id"] is None and ledger[f"{name}:7"]["id"]


def test_bad_csv_rows_become_ledger_rows(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"instruction,input,output\n"
                     b"q1,,a1\n"
                     b"q2,x,a2,extra\n"
                     b"q3 \xfe,,a3\n"
                     b",,\n"
                     b'"multi\nline",,a5\n'
                     b"q6,,\n")
    result = read(path)
    assert result.records == 6
    reasons = dict(zip(result.rejects["source"], result.rejects["reason"]))
    assert reasons == {f"{path}:3": "read.malformed_csv", f"{path}:4": "read.invalid_utf8",
                       f"{path}:5": "read.empty_record"}
    assert result.frame["source"].to_list() == [f"{path}:2", f"{path}:6", f"{path}:8"]
    assert result.frame["prompt"][1][0]["content"] == "multi\nline"
    assert result.frame["completion"][2] is None  # no output: a prompt-only record


def test_json_array_records_keep_their_line_and_bad_bytes_reach_the_ledger(tmp_path):
    path = tmp_path / "data.json"
    path.write_bytes(b'[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c \xff",'
                     b' "output": "d"},\n\n  {"instruction": "e",\n "output": "f"}\n]\n')
    result = read(path)
    assert result.frame["source"].to_list() == [f"{path}:2", f"{path}:5"]
    assert result.rejects.select("source", "reason").rows() == [(f"{path}:3",
                                                                 "read.invalid_utf8")]


def test_malformed_json_array_is_a_source_error_with_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"prompt": "q"},\n{"prompt": }\n]')
    with pytest.raises(SourceError, match=r"broken.json: malformed JSON at line 3 column 12"):
        read(path)


# ---- sources unusable as a whole ------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match=r"nope.jsonl: file not found \(looked at .*nope.jsonl\)"):
        read("nope.jsonl", workdir=tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(SourceError, match="empty.jsonl: empty: no records found"):
        read("empty.jsonl", workdir=tmp_path)


def test_unknown_format_lists_keys_and_formats_tried(tmp_path):
    write_lines(tmp_path / "odd.jsonl", ['{"question": "q", "answer": "a"}'])
    with pytest.raises(SourceError) as err:
        read("odd.jsonl", workdir=tmp_path)
    assert "odd.jsonl: unknown format: keys seen: answer, question" in str(err.value)
    assert "trl needs prompt" in str(err.value) and "alpaca needs instruction" in str(err.value)


def test_unsupported_extension_and_all_records_bad(tmp_path):
    (tmp_path / "data.txt").write_text("hello")
    with pytest.raises(SourceError, match="unsupported file type .txt"):
        read("data.txt", workdir=tmp_path)
    write_lines(tmp_path / "allbad.jsonl", ["{oops", "[]"])
    with pytest.raises(SourceError, match="no readable records among 2 .*malformed_json: 1"):
        read("allbad.jsonl", workdir=tmp_path)


# ---- file types and source options ----------------------------------------------------------

PAIRS = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(5)]


def test_gzip_jsonl_parquet_and_object_with_list_read_the_same(tmp_path):
    with gzip.open(tmp_path / "p.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in PAIRS)
    pl.DataFrame(PAIRS).write_parquet(tmp_path / "p.parquet")
    (tmp_path / "p.json").write_text(json.dumps({"version": 1, "data": PAIRS}))
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in PAIRS))
    (tmp_path / "one.json").write_text(json.dumps({"prompt": [{"role": "user", "content": "q"}],
                                                   "completion": "a"}))
    assert read(tmp_path / "one.json").frame["completion"].to_list() == ["a"]
    frames = [read(tmp_path / name).frame for name in
              ("p.jsonl.gz", "p.parquet", "p.json", "lines.json")]
    for frame in frames:
        assert frame.drop("source").equals(frames[0].drop("source"))
    assert frames[1]["source"][2] == f"{tmp_path / 'p.parquet'}:1"  # row index, 0-based


def test_saved_dataset_split_folder_and_load_dataset_path(tmp_path):
    from datasets import Dataset, DatasetDict

    Dataset.from_list(PAIRS).save_to_disk(str(tmp_path / "saved"))
    DatasetDict({"train": Dataset.from_list(PAIRS[:3]), "test": Dataset.from_list(PAIRS[3:])}
                ).save_to_disk(str(tmp_path / "dict"))
    assert read(tmp_path / "saved").frame.height == 10
    assert read(tmp_path / "dict", split="test").frame["prompt"][0][0]["content"] == "q3"
    with pytest.raises(SourceError, match="no split 'dev'; splits: train, test"):
        read(tmp_path / "dict", split="dev")
    folder = tmp_path / "files"
    folder.mkdir()
    write_lines(folder / "train.jsonl", [json.dumps(r) for r in PAIRS[:4]])
    write_lines(folder / "test.jsonl", [json.dumps(PAIRS[4])])
    assert read(folder).frame.height == 8
    assert read(folder, split="test").frame["source"][0] == f"{folder}/test.jsonl:1"
    # Hub ids go through datasets.load_dataset, which also takes a local folder.
    hub = read_source(Source(hub=str(folder), split="train"), tmp_path)
    assert hub.frame.height == 8 and hub.frame["source"][0] == f"hub:{folder}:0"
    with pytest.raises(SourceError, match="cannot load from the Hub"):
        read_source(Source(hub=str(tmp_path / "no-such-dataset")), tmp_path)


def test_parquet_saved_and_hub_stream_in_batches_with_the_same_result(tmp_path, monkeypatch):
    """Parquet files, saved datasets and Hub datasets are read a batch of rows at a time; the
    frame, ids (repeats get ~N across batches), locations and ledger rows are those of one
    batch, and a limit still stops at the right row."""
    from datatools.readers import raw
    from datasets import Dataset

    rows = [{"prompt": f"q{i % 4}", "chosen": f"good {i % 4}", "rejected": f"bad {i}",
             "id": None if i % 3 else f"own-{i % 2}"} for i in range(11)]
    rows[5] = {"prompt": "", "chosen": "", "rejected": "", "id": None}  # an empty record
    pl.DataFrame(rows).write_parquet(tmp_path / "p.parquet", row_group_size=4)
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "hub").mkdir()
    pl.DataFrame(rows).write_parquet(tmp_path / "hub" / "train.parquet")

    def reads(limit):
        return [read_source(s, tmp_path, limit=limit) for s in (
            Source(path="p.parquet"), Source(path="saved"), Source(hub=str(tmp_path / "hub")))]

    whole = {limit: reads(limit) for limit in (None, 7)}
    monkeypatch.setattr(raw, "BATCH", 3)
    for limit, wanted in whole.items():
        for got, want in zip(reads(limit), wanted):
            assert got.frame.equals(want.frame) and got.rejects.equals(want.rejects)
            assert got.records == want.records == (limit or 11)
    parquet = whole[None][0]
    assert parquet.rejects["reason"].to_list() == ["read.empty_record"]
    assert parquet.rejects["source"].to_list() == ["p.parquet:5"]
    assert parquet.frame["source"].to_list()[-1] == "p.parquet:10"
    ids = set(parquet.frame["id"])
    assert {"own-0", "own-0~2", "own-1", "own-1~2"} <= ids  # rows 0, 6 and 3, 9: other batches


def test_limit_columns_forced_format_and_ids(tmp_path):
    rows = [{"q": "same", "a": "x"}, {"q": "same", "a": "x"}, {"q": "other", "a": "y",
                                                                "id": 7, "topic": "t"}]
    write_lines(tmp_path / "d.jsonl", [json.dumps(r) for r in rows])
    result = read("d.jsonl", tmp_path, columns={"q": "query", "a": "response"})
    assert result.format == "swift" and result.frame.height == 3
    ids = result.frame["id"].to_list()
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "~2" and ids[2] == "7"
    assert json.loads(result.frame["meta"][2]) == {"topic": "t"}
    assert read("d.jsonl", tmp_path, columns={"q": "query", "a": "response"},
                limit=2).records == 2
    assert read_source(Source(path="d.jsonl", columns={"q": "query", "a": "response"}),
                       tmp_path, limit=1).frame.height == 1
    with pytest.raises(SourceError, match="columns: qq not found in the source; keys seen: a,"):
        read("d.jsonl", tmp_path, columns={"qq": "query"})


def test_forced_format_sends_misfits_to_the_ledger(tmp_path):
    write_lines(tmp_path / "d.jsonl", ['{"prompt": "q", "completion": "a"}',
                                       '{"instruction": "q", "output": "a"}'])
    result = read("d.jsonl", tmp_path, format="trl")
    assert result.format == "trl" and result.frame.height == 1
    assert result.rejects.select("source", "reason").row(0) == ("d.jsonl:2",
                                                                "read.missing_field")
    assert "prompt, messages, text or chosen+rejected" in result.rejects["detail"][0]


def test_reading_is_fast_enough(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w") as fh:
        for i in range(20_000):
            fh.write(json.dumps({"prompt": f"question {i}", "chosen": f"yes {i}",
                                 "rejected": f"no {i}"}) + "\n")
    start = time.perf_counter()
    result = read(path)
    assert result.frame.height == 40_000
    assert time.perf_counter() - start < 10  # ~0.5 s here; 1M lines took ~24 s


def test_fast_frame_builder_matches_frame_from_rows(tmp_path):
    from datatools.frame import frame_from_rows, rows_from_record
    from datatools.readers.rows import frame_from_candidate_rows

    rows = [*rows_from_record("a", "f:1", [{"role": "user", "content": "q"}],
                              [{"content": "x", "score": 2.0}, {"content": "y", "label": True}],
                              {"k": 1}),
            *rows_from_record("b", "f:2", [], [{"content": "text only"}]),
            *rows_from_record("c", "f:3", [{"role": "system", "content": "s"},
                                           {"role": "user", "content": "q"}], [])]
    assert frame_from_candidate_rows(rows).equals(frame_from_rows(rows))


def test_suffixed_ids_never_collide_with_a_sources_own_ids(tmp_path):
    # a source's own "x~2" before, and "x~3" after, two records with id "x": four distinct
    # ids; ids are given in reading order, so the later own "x~3" is the one suffixed
    rows = [{"id": "x~2", "prompt": "a", "completion": "1"},
            {"id": "x", "prompt": "b", "completion": "2"},
            {"id": "x", "prompt": "c", "completion": "3"},
            {"id": "x~3", "prompt": "d", "completion": "4"}]
    write_lines(tmp_path / "d.jsonl", [json.dumps(r) for r in rows])
    ids = read("d.jsonl", tmp_path).frame["id"].to_list()
    assert ids[0] == "x~2" and ids[1] == "x" and len(set(ids)) == 4
    assert ids[2:] == ["x~3", "x~3~2"]


def test_take_ids_gives_what_take_id_gives_one_by_one():
    """The inline path for fresh bases agrees with take_id, repeats and a source's own
    suffixed ids ("a~2" before a second "a") included, and leaves the same counter."""
    import random
    from collections import Counter

    from datatools.readers.rows import take_id, take_ids

    rng = random.Random(0)
    pool = ["a", "b", "a~2", "a~3", "c", "b~2", "d"]
    for _ in range(200):
        bases = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        seen = [rng.choice(pool) for _ in range(rng.randint(0, 3))]
        one, many = Counter(), Counter()
        for base in seen:
            take_id(one, base), take_id(many, base)
        assert take_ids(many, bases) == [take_id(one, base) for base in bases]
        assert many == one
