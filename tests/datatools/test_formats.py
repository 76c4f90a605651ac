"""Format adapters and detection, record by record (no files)."""
from __future__ import annotations

import pytest

from datatools.formats import detect_format, parse_record
from datatools.formats.base import RecordError
from datatools.formats.hh_rlhf import dialogue_messages

U = lambda text: {"role": "user", "content": text}  # noqa: E731
A = lambda text: {"role": "assistant", "content": text}  # noqa: E731
S = lambda text: {"role": "system", "content": text}  # noqa: E731


def contents(parsed):
    return [(c["content"], c.get("score"), c.get("label")) for c in parsed.completions]


# ---- detection ------------------------------------------------------------------------------

@pytest.mark.parametrize("record, expected", [
    ({"prompt": "q", "chosen": "a", "rejected": "b"}, ("trl", "pairwise")),
    ({"chosen": [U("q"), A("a")], "rejected": [U("q"), A("b")]}, ("trl", "pairwise")),
    ({"prompt": [U("q")], "completion": [A("a")], "label": False}, ("trl", "unary")),
    ({"prompt": "q", "completion": "a"}, ("trl", "sft")),
    ({"prompt": "q"}, ("trl", "prompt")),
    ({"messages": [U("q"), A("a")]}, ("trl", "sft")),
    ({"text": "plain text"}, ("trl", "sft")),
    ({"messages": [U("q"), A("a")], "label": True}, ("swift", "unary")),
    ({"messages": [U("q"), A("a")], "rejected_response": "b"}, ("swift", "pairwise")),
    ({"query": "q", "response": "a", "history": [["h", "i"]]}, ("swift", "sft")),
    ({"response": "pretraining text"}, ("swift", "sft")),
    ({"conversations": [{"from": "human", "value": "q"}],
      "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
     ("sharegpt", "pairwise")),
    ({"conversation": [{"human": "q", "assistant": "a"}]}, ("sharegpt", "sft")),
    ({"instruction": "q", "input": "", "output": "a"}, ("alpaca", "sft")),
    ({"instruction": "q", "chosen": "a", "rejected": "b"}, ("alpaca", "pairwise")),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}]},
     ("llamafactory", "prompt")),
    ({"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: q\n\nAssistant: b"},
     ("hh_rlhf", "pairwise")),
    ({"instruction": "q", "completions": [{"response": "a", "overall_score": 7}]},
     ("ultrafeedback", "candidates")),
])
def test_detect_format(record, expected):
    assert detect_format([record]) == expected


def test_detect_uses_keys_of_several_records_and_reports_mixed_kinds():
    records = [{"query": "q"}, {"query": "q2", "response": "a", "rejected_response": "b"}]
    assert detect_format(records) == ("swift", "mixed")


def test_undetectable_format_names_keys_and_formats_tried():
    from datatools.schemas.errors import SourceError

    with pytest.raises(SourceError) as err:
        detect_format([{"question": "q", "answer": "a"}])
    message = str(err.value)
    assert "keys seen: answer, question" in message
    for name in ("trl", "swift", "sharegpt", "alpaca", "hh_rlhf", "ultrafeedback"):
        assert name in message


# ---- normalisation --------------------------------------------------------------------------

def test_trl_pairwise_scores_default_to_one_and_zero_and_explicit_scores_win():
    parsed = parse_record({"prompt": "q", "chosen": "a", "rejected": "b"}, "trl")
    assert parsed.prompt == [U("q")] and contents(parsed) == [("a", 1.0, None), ("b", 0.0, None)]
    parsed = parse_record({"prompt": "q", "chosen": "a", "rejected": "b",
                           "score_chosen": 8, "score_rejected": "3.5"}, "trl")
    assert contents(parsed) == [("a", 8.0, None), ("b", 3.5, None)]


def test_trl_implicit_prompt_is_the_shared_dialogue_prefix():
    parsed = parse_record({"chosen": [S("s"), U("q"), A("a")],
                           "rejected": [S("s"), U("q"), A("b")]}, "trl")
    assert parsed.prompt == [S("s"), U("q")] and [c[0] for c in contents(parsed)] == ["a", "b"]
    parsed = parse_record({"chosen": "The sky is blue.", "rejected": "The sky is green."}, "trl")
    assert parsed.prompt == [U("The sky is ")] and contents(parsed)[0][0] == "blue."


def test_trl_unary_keeps_label_and_no_score():
    parsed = parse_record({"prompt": [U("q")], "completion": [A("a")], "label": "false"}, "trl")
    assert parsed.kind == "unary" and contents(parsed) == [("a", None, False)]


def test_messages_split_at_last_assistant_turn():
    parsed = parse_record({"messages": [S("s"), U("1"), A("2"), U("3"), A("4")]}, "trl")
    assert parsed.prompt == [S("s"), U("1"), A("2"), U("3")]
    assert contents(parsed) == [("4", None, None)]


def test_swift_query_history_system_and_rejected_response():
    parsed = parse_record({"system": "s", "query": "q", "response": "a",
                           "history": [["h1", "a1"]], "rejected_response": "b"}, "swift")
    assert parsed.prompt == [S("s"), U("h1"), A("a1"), U("q")]
    assert contents(parsed) == [("a", 1.0, None), ("b", 0.0, None)]


def test_sharegpt_roles_map_and_unknown_roles_pass_through():
    parsed = parse_record({"conversations": [
        {"from": "system", "value": "s"}, {"from": "human", "value": "q"},
        {"from": "function_call", "value": "call"}, {"from": "observation", "value": "obs"},
        {"from": "narrator", "value": "x"}, {"from": "gpt", "value": "a"}]}, "sharegpt")
    assert [m["role"] for m in parsed.prompt] == ["system", "user", "assistant", "tool",
                                                  "narrator"]
    assert contents(parsed) == [("a", None, None)]


def test_sharegpt_kto_tag_is_a_label():
    parsed = parse_record({"conversations": [{"from": "human", "value": "q"},
                                             {"from": "gpt", "value": "a"}],
                           "kto_tag": False}, "sharegpt")
    assert parsed.kind == "unary" and contents(parsed) == [("a", None, False)]


def test_alpaca_joins_instruction_and_input_and_keeps_history():
    parsed = parse_record({"instruction": "Translate", "input": "hola", "output": "hello",
                           "system": "s", "history": [["hi", "hey"]]}, "alpaca")
    assert parsed.prompt == [S("s"), U("hi"), A("hey"), U("Translate\nhola")]
    assert contents(parsed) == [("hello", None, None)]


def test_content_blocks_are_joined_and_loss_weight_ignored():
    record = {"messages": [
        {"role": "user", "content": [{"type": "text", "value": "a "}, {"type": "text",
                                                                      "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "value": "c"}], "loss_weight": 1.0}]}
    parsed = parse_record(record, "llamafactory")
    assert parsed.prompt == [U("a b")] and contents(parsed) == [("c", None, None)]


def test_hh_rlhf_dialogue_parsing_and_shared_prefix():
    text = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant: like this"
    assert dialogue_messages(text, "chosen") == [U("hi"), A("hello"), U("how?"),
                                                 A("like this")]
    parsed = parse_record({"chosen": text, "rejected": text.replace("like this", "no")},
                          "hh_rlhf")
    assert parsed.prompt == [U("hi"), A("hello"), U("how?")]
    assert contents(parsed) == [("like this", 1.0, None), ("no", 0.0, None)]


def test_hh_rlhf_dialogues_differing_before_the_answer_are_bad_content():
    with pytest.raises(RecordError) as err:
        parse_record({"chosen": "\n\nHuman: a\n\nAssistant: b\n\nAssistant: c",
                      "rejected": "\n\nHuman: a\n\nAssistant: d"}, "hh_rlhf")
    assert err.value.reason == "read.bad_content" and "differ from turn 1" in err.value.detail


def test_ultrafeedback_one_row_per_completion_with_overall_or_mean_rating():
    record = {"instruction": "q", "source": "evol", "completions": [
        {"model": "m1", "response": "a", "overall_score": 7.5,
         "annotations": {"honesty": {"Rating": "4"}, "helpfulness": {"Rating": "N/A"}}},
        {"model": "m2", "response": "b",
         "annotations": {"honesty": {"Rating": "2"}, "helpfulness": {"Rating": "3"}}},
        {"text": "c", "ratings": {"x": 1}},
    ]}
    parsed = parse_record(record, "ultrafeedback")
    assert parsed.kind == "candidates" and parsed.prompt == [U("q")]
    assert contents(parsed) == [("a", 7.5, None), ("b", 2.5, None), ("c", 1.0, None)]
    assert [c.get("model") for c in parsed.completions] == ["m1", "m2", None]
    assert parsed.completions[0]["meta"] == {"ratings": {"honesty": 4.0}}
    assert parsed.meta == {"source": "evol"}  # unconsumed keys are kept in meta


# ---- records that do not fit ----------------------------------------------------------------

@pytest.mark.parametrize("record, fmt, reason, detail", [
    ({"prompt": "q", "chosen": "a"}, "trl", "read.missing_field", "rejected"),
    ({"prompt": 3, "completion": "a"}, "trl", "read.wrong_type", "prompt: expected a string"),
    ({"instruction": "q", "output": ["a"]}, "alpaca", "read.wrong_type", "output"),
    ({"input": "x", "output": "a"}, "alpaca", "read.missing_field", "instruction"),
    ({"query": "q", "response": "a", "history": [["only one"]]}, "swift", "read.wrong_type",
     "history[0]"),
    ({"messages": [{"role": "user", "content": 42}]}, "trl", "read.bad_content",
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": {"k": "v"}}]}, "swift", "read.bad_content",
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "image": "x.png"}]}]},
     "llamafactory", "read.bad_content", "only text content blocks"),
    ({"messages": [{"content": "q"}]}, "trl", "read.missing_field", "messages[0].role"),
    ({"conversations": "q"}, "sharegpt", "read.wrong_type", "conversations"),
    ({"prompt": "q", "completion": "a", "label": "maybe"}, "trl", "read.wrong_type", "label"),
    ({"instruction": "q", "completions": [{"model": "m"}]}, "ultrafeedback",
     "read.missing_field", "completions[0]"),
])
def test_records_that_do_not_fit_name_the_field(record, fmt, reason, detail):
    with pytest.raises(RecordError) as err:
        parse_record(record, fmt)
    assert err.value.reason == reason
    assert detail in err.value.detail
