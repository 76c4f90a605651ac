"""Real shapes that read without code: preference-label files (alpaca_eval annotations,
Chatbot Arena / MT-Bench judgments), Stanford-Alpaca seed tasks with nested `instances`."""
import json

import polars as pl
import pytest

from datatools.convert import convert_path
from datatools.formats import ADAPTERS
from datatools.inspect import inspect_path
from datatools.pipeline import run_build
from datatools.readers import read_source
from datatools.recipe import load_recipe_dict
from datatools.schemas.recipe import Source

ALPACA_EVAL = [  # alpaca_eval annotations: preference 1 / 2, averaged annotators, ties
    {"instruction": "What are the names of some famous actors that started their careers on Broadway?",
     "output_1": "Some famous actors that started on Broadway are Hugh Jackman and Meryl Streep.",
     "output_2": "Broadway.", "generator_1": "gpt4_1106_preview", "generator_2": "alpaca-7b",
     "annotator": "weighted_alpaca_eval_gpt4_turbo", "preference": 1.0, "price_per_example": 0.01,
     "dataset": "helpful_base"},
    {"instruction": "How did US states get their names?", "output_1": "They just did.",
     "output_2": "Many come from Native American words, such as Massachusetts.",
     "generator_1": "alpaca-7b", "generator_2": "gpt4_1106_preview", "preference": 2.0,
     "dataset": "helpful_base"},
    {"instruction": "Hi, my sister and her girlfriends want me to play kickball with them.",
     "output_1": "Kickball is like baseball with a big rubber ball.",
     "output_2": "Kickball is a game similar to baseball.", "preference": 1.2,
     "dataset": "helpful_base"},
    {"instruction": "Is it safe to eat raw cookie dough?", "output_1": "Not entirely.",
     "output_2": "Not really.", "preference": 1.5, "dataset": "helpful_base"},
]


def _conv(q, a):
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


ARENA = [  # MT-Bench human judgments / Chatbot Arena conversations
    {"question_id": 81, "model_a": "gpt-4", "model_b": "llama-13b", "winner": "model_a",
     "judge": "expert_0", "turn": 1,
     "conversation_a": _conv("Compose a travel blog post about Hawaii.", "Aloha! Hawaii ..."),
     "conversation_b": _conv("Compose a travel blog post about Hawaii.", "Hawaii is a state.")},
    {"question_id": 82, "model_a": "vicuna-13b", "model_b": "gpt-3.5-turbo", "winner": "gpt-3.5-turbo",
     "judge": "expert_1", "turn": 1,
     "conversation_a": _conv("Draft a professional email.", "hey boss"),
     "conversation_b": _conv("Draft a professional email.", "Dear Ms. Smith, ...")},
    {"question_id": 83, "model_a": "alpaca-13b", "model_b": "claude-v1", "winner": "tie (bothbad)",
     "judge": "expert_2", "turn": 1,
     "conversation_a": _conv("Write a limerick.", "A cat."),
     "conversation_b": _conv("Write a limerick.", "A dog.")},
]

SEED_TASKS = [  # Stanford Alpaca seed_tasks.jsonl
    {"id": "seed_task_0", "name": "breakfast_suggestion",
     "instruction": "Is there anything I can eat for a breakfast that doesn't include eggs, yet includes protein?",
     "instances": [{"input": "", "output": "Yes, you can have 1 oatmeal banana protein shake."}],
     "is_classification": False},
    {"id": "seed_task_1", "name": "antonym_relation",
     "instruction": "What is the relation between the given pairs?",
     "instances": [{"input": "Night : Day :: Right : Left", "output": "They are opposites."},
                   {"input": "Hot : Cold :: Up : Down", "output": "They are opposites too."}],
     "is_classification": False},
]


def _write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_alpaca_eval_annotations_become_pairs_and_ties_go_to_the_ledger(tmp_path):
    result = read_source(Source(path=str(_write(tmp_path, "annotations.jsonl", ALPACA_EVAL))),
                         tmp_path)
    assert result.format == "preference_label" and result.kind == "pairwise"
    assert result.rejects["reason"].to_list() == ["read.tie"]
    f = result.frame
    first = f.filter(pl.col("source").str.ends_with(":1"))
    assert first["score"].to_list() == [1.0, 0.0]
    assert first["model"].to_list() == ["gpt4_1106_preview", "alpaca-7b"]
    second = f.filter(pl.col("source").str.ends_with(":2"))
    assert second["score"].to_list() == [0.0, 1.0]  # output_2 preferred
    weak = f.filter(pl.col("source").str.ends_with(":3"))["score"].to_list()
    assert weak == pytest.approx([0.8, 0.2])  # an averaged preference keeps its strength
    assert "dataset" in json.loads(f["meta"][0])


def test_chatbot_arena_rows_build_pairs_with_the_winner_chosen(tmp_path):
    path = _write(tmp_path, "mt_bench_human_judgments.jsonl", ARENA)
    result = run_build(load_recipe_dict({
        "name": "arena", "sources": [{"path": str(path)}], "steps": [{"validate": {}}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}}}), quiet=True)
    pairs = result.datasets["pairwise"]
    assert [c[0]["content"] for c in pairs["chosen"]] == ["Aloha! Hawaii ...", "Dear Ms. Smith, ..."]
    assert pairs["chosen_model"].to_list() == ["gpt-4", "gpt-3.5-turbo"]
    assert pairs["prompt"][0].to_list() == [{"role": "user", "content": "Compose a travel blog post about Hawaii."}]
    tie = result.ledger.filter(pl.col("reason") == "read.tie")
    assert tie.height == 1 and "tie (bothbad)" in tie["detail"][0]


def test_arena_second_turn_judgments_are_ledgered_not_misread(tmp_path):
    """MT-Bench turn-2 judgments: both conversations share the user turns, but each model wrote
    its own first answer, so the verdict is about two whole dialogues, not one final answer."""
    q1, q2 = "Compose a travel blog post about Hawaii.", "Rewrite it starting every sentence with A."
    turn2 = {"question_id": 81, "model_a": "gpt-4", "model_b": "llama-13b", "winner": "model_a",
             "judge": "expert_0", "turn": 2,
             "conversation_a": _conv(q1, "Aloha! ...") + _conv(q2, "A trip to Hawaii ..."),
             "conversation_b": _conv(q1, "Hawaii is a state.") + _conv(q2, "Hawaii. A state.")}
    path = _write(tmp_path, "mt_bench_turn2.jsonl", [ARENA[0], turn2])
    result = run_build(load_recipe_dict({
        "name": "arena2", "sources": [{"path": str(path)}], "steps": [{"validate": {}}],
        "outputs": {"dir": str(tmp_path / "out"), "pairwise": {}}}), quiet=True)
    assert result.datasets["pairwise"].height == 1
    bad = result.ledger.filter(pl.col("reason") == "read.bad_content")
    assert bad.height == 1 and bad["source"][0].endswith(":2")
    assert "differ from turn 1" in bad["detail"][0]


def test_other_key_names_map_onto_preference_labels(tmp_path):
    rows = [{"question": "2+2?", "answer_a": "4", "answer_b": "5", "better": 1}]
    source = Source(path=str(_write(tmp_path, "custom.jsonl", rows)),
                    columns={"question": "instruction", "answer_a": "output_1",
                             "answer_b": "output_2", "better": "preference"})
    assert read_source(source, tmp_path).frame["score"].to_list() == [1.0, 0.0]


def test_seed_tasks_give_one_sft_record_per_instance(tmp_path):
    path = _write(tmp_path, "seed_tasks.jsonl", SEED_TASKS)
    result = run_build(load_recipe_dict({
        "name": "seed", "sources": [{"path": str(path)}], "steps": [{"validate": {}}],
        "outputs": {"dir": str(tmp_path / "out"), "sft": {}}}), quiet=True)
    sft = result.datasets["sft"]
    assert sft["id"].to_list() == ["seed_task_0", "seed_task_1#0", "seed_task_1#1"]
    assert sft["messages"][1][0]["content"] == (
        "What is the relation between the given pairs?\nNight : Day :: Right : Left")
    assert sft["messages"][2][-1]["content"] == "They are opposites too."
    assert json.loads(sft["meta"][0])["name"] == "breakfast_suggestion"
    assert result.ledger.height == 0


def test_inspect_and_convert_name_the_keys_of_records_without_a_completion(tmp_path):
    rows = [{"instruction": "Classify the sentiment.", "examples": [{"text": "great", "label": "pos"}],
             "category": "classification"}]
    path = _write(tmp_path, "tasks.jsonl", rows)
    info = inspect_path(str(path))
    assert info["records_without_completion"] == 1
    assert info["unused_keys_of_records_without_completion"] == {"examples": 1, "category": 1}
    assert "source keys not read: examples (1), category (1)" in info["notes"][0]
    out = convert_path(str(path), str(tmp_path / "out.jsonl"), "trl")
    assert "examples" in out["notes"][0]


def test_convert_keeps_the_source_ids_and_metadata(tmp_path):
    path = _write(tmp_path, "seed_tasks.jsonl", SEED_TASKS[:1])
    convert_path(str(path), str(tmp_path / "out.jsonl"), "trl")
    record = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert record["id"] == "seed_task_0" and record["name"] == "breakfast_suggestion"
    assert record["is_classification"] is False and "messages" in record
    annotations = _write(tmp_path, "annotations.jsonl", ALPACA_EVAL[:1])
    convert_path(str(annotations), str(tmp_path / "pairs.jsonl"), "trl")
    pair = json.loads((tmp_path / "pairs.jsonl").read_text())
    assert "id" not in pair  # derived from the content, not the source's
    assert pair["annotator"] == "weighted_alpaca_eval_gpt4_turbo" and "chosen" in pair


def test_every_format_is_a_recipe_choice():
    from typing import get_args

    from datatools.schemas.recipe import Format

    assert set(get_args(Format)) == {"auto", *ADAPTERS}
