"""convert_path round trips, TRL output loading through `datasets`, and inspect_path."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from datatools.schemas.errors import UserError
from datatools.schemas.recipe import Source

from datatools.convert import convert_path
from datatools.formats.export import canonical_examples
from datatools.inspect import inspect_path
from datatools.readers import read_source

TARGETS = ("trl", "swift", "sharegpt", "alpaca")
SYSTEM = {"role": "system", "content": "be kind"}

# One file holding every kind, in TRL conversational form.
MIXED = [
    {"prompt": [SYSTEM, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"},
                {"role": "user", "content": "2+2?"}],
     "chosen": [{"role": "assistant", "content": "4"}],
     "rejected": [{"role": "assistant", "content": "5"}]},
    {"prompt": [{"role": "user", "content": "capital of France?"}],
     "completion": [{"role": "assistant", "content": "Paris"}], "label": True},
    {"prompt": [{"role": "user", "content": "capital of Spain?"}],
     "completion": [{"role": "assistant", "content": "Rome"}], "label": False},
    {"messages": [{"role": "user", "content": "say hi"}, {"role": "assistant", "content": "hi"}]},
    {"prompt": [{"role": "user", "content": "write a poem"}]},
]


def examples(path: Path) -> list:
    frame = read_source(Source(path=str(path)), path.parent).frame
    return list(canonical_examples(frame))


@pytest.fixture
def mixed(tmp_path) -> Path:
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in MIXED))
    return path


@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".json"])
def test_round_trip_keeps_every_example(mixed, tmp_path, to, suffix):
    out = tmp_path / f"out-{to}{suffix}"
    counts = convert_path(str(mixed), str(out), to)
    assert counts["written"] == 5 and counts["skipped"] == {}
    assert counts["by_kind"] == {"pairwise": 1, "unary": 2, "sft": 1, "prompt": 1}
    back = read_source(Source(path=str(out)), tmp_path)
    assert back.format == to and back.rejects.height == 0
    assert examples(out) == examples(mixed)


@pytest.mark.parametrize("to", TARGETS)
def test_target_shapes(mixed, tmp_path, to):
    out = tmp_path / f"{to}.jsonl"
    convert_path(str(mixed), str(out), to)
    pair = json.loads(out.read_text().splitlines()[0])
    expected_keys = {
        "trl": {"prompt", "chosen", "rejected"},
        "swift": {"messages", "rejected_response"},
        "sharegpt": {"conversations", "chosen", "rejected"},
        "alpaca": {"instruction", "input", "chosen", "rejected", "system", "history"},
    }[to]
    assert set(pair) == expected_keys
    if to == "sharegpt":
        assert pair["conversations"][0] == {"from": "system", "value": "be kind"}
        assert pair["chosen"] == {"from": "gpt", "value": "4"}
    if to == "alpaca":
        assert pair["history"] == [["hi", "hey"]] and pair["instruction"] == "2+2?"


def test_trl_pairwise_output_loads_with_datasets_in_trl_columns(tmp_path, shared_data):
    from datasets import load_dataset

    out = tmp_path / "dpo.jsonl"
    counts = convert_path(str(shared_data / "llama-factory/dpo_en_demo.json"), str(out), "trl")
    assert counts["written"] == 300 and counts["by_kind"] == {"pairwise": 300}
    dataset = load_dataset("json", data_files=str(out), split="train")
    assert dataset.column_names == ["prompt", "chosen", "rejected"] and len(dataset) == 300
    row = dataset[0]
    assert row["prompt"][-1]["role"] == "user"
    assert [m["role"] for m in row["chosen"]] == ["assistant"]
    out_parquet = tmp_path / "dpo.parquet"
    convert_path(str(out), str(out_parquet), "trl")
    assert load_dataset("parquet", data_files=str(out_parquet), split="train")[0] == row


@pytest.mark.parametrize("name, to", [
    ("llama-factory/kto_en_demo.json", "sharegpt"),
    ("llama-factory/v1_dpo_demo.jsonl", "swift"),
    ("hh-rlhf/harmless-base-test.jsonl.gz", "trl"),
    ("ms-swift/alpaca.jsonl", "alpaca"),
])
def test_real_data_round_trips(shared_data, tmp_path, name, to):
    out = tmp_path / f"out{'.jsonl'}"
    convert_path(str(shared_data / name), str(out), to)
    assert examples(out) == examples(shared_data / name)


def test_candidates_become_best_vs_worst_and_ties_are_skipped(tmp_path):
    path = tmp_path / "uf.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"instruction": "q1", "completions": [{"response": "a", "overall_score": 3},
                                              {"response": "b", "overall_score": 9},
                                              {"response": "c", "overall_score": 1}]},
        {"instruction": "q2", "completions": [{"response": "d", "overall_score": 5},
                                              {"response": "e", "overall_score": 5}]},
    ]))
    counts = convert_path(str(path), str(tmp_path / "pairs.jsonl"), "trl")
    assert counts["written"] == 1 and counts["skipped"] == {"tie": 1}
    pair = json.loads((tmp_path / "pairs.jsonl").read_text())
    assert pair["chosen"][0]["content"] == "b" and pair["rejected"][0]["content"] == "c"


def test_alpaca_skips_prompts_it_cannot_express(tmp_path):
    path = tmp_path / "tool.jsonl"
    path.write_text(json.dumps({"messages": [
        {"role": "user", "content": "weather?"}, {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "sunny"}]}) + "\n" + json.dumps(MIXED[3]) + "\n")
    counts = convert_path(str(path), str(tmp_path / "a.jsonl"), "alpaca")
    assert counts["written"] == 1 and counts["skipped"] == {"sft not representable in alpaca": 1}


def test_convert_errors(mixed, tmp_path):
    with pytest.raises(UserError, match="unknown target 'openai'"):
        convert_path(str(mixed), str(tmp_path / "x.jsonl"), "openai")
    with pytest.raises(UserError, match="output must end with one of"):
        convert_path(str(mixed), str(tmp_path / "x.txt"), "trl")
    assert not list(tmp_path.glob(".x*"))  # no temporary files left behind


def test_inspect_reports_format_counts_lengths_and_duplicates(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [{"prompt": "q", "chosen": "aa", "rejected": "b"},
            {"prompt": "q", "chosen": "aa", "rejected": "b"},
            {"prompt": "longer prompt", "chosen": "cccc", "rejected": "d"},
            "not an object"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    report = inspect_path(str(path))
    assert (report["format"], report["kind"], report["records"]) == ("trl", "pairwise", 5)
    assert (report["records_read"], report["rows"], report["rejects"]) == (3, 6, 2)
    assert report["rejects_by_reason"] == {"read.wrong_type": 1, "read.malformed_json": 1}
    assert report["length_chars"]["prompt"] == {"count": 3, "min": 1, "median": 1.0,
                                                "mean": 5.0, "max": 13}
    assert report["length_chars"]["completion"]["max"] == 4
    assert report["duplicates"] == {"prompt": 1, "prompt_completion": 2}
    json.dumps(report)  # the CLI prints it: plain JSON types only
