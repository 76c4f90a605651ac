"""Differential test: every format the columnar reader takes (TRL conversational, ShareGPT,
Alpaca, ms-swift, UltraFeedback) gives exactly the per-line path's frame, ids, ledger rows
(file and line), kinds and notes, on files full of nasty lines and on real third-party files."""
import json
import random

import pytest

from datatools.readers import columnar, read_source
from datatools.readers.columnar_source import read_columnar
from datatools.readers.columnar_shapes import PLAIN
from datatools.schemas.recipe import Source
from tests.read_paths import assert_paths_agree


def U(x):
    return {"role": "user", "content": x}


def A(x):
    return {"role": "assistant", "content": x}


def S(x):
    return {"role": "system", "content": x}


META = {"metadata": {"source": "x", "nested": {"a": [1, 2, None]}}, "tags": ["a", "b"]}
SHAPES = {
    "trl": [
        {"prompt": [U("q")], "chosen": [A("c")], "rejected": [A("r")]},
        {"prompt": [S("s"), U("q")], "completion": [A("yes")]},
        {"prompt": [U("q")], "completion": [A("ok")], "label": True},
        {"prompt": [U("q")], "completion": [A("ok")], "label": "yes"},    # CSV-style label
        {"prompt": [U("q")], "completion": [A("ok")], "label": 2},         # bad label
        {"prompt": "q", "chosen": [U("q"), A("c")], "rejected": [U("q"), A("r")]},  # UF-binarized
        {"chosen": [U("q"), A("c")], "rejected": [U("q"), A("r")], "score_chosen": "7"},
        {"chosen": [U("q"), A("c")], "rejected": [U("z"), A("r")]},        # no shared prompt
        {"prompt": [U("q")], "chosen": [A("c"), A("d")], "rejected": [A("r")]},
        {"prompt": [U("q")], "chosen": [U("c")], "rejected": [A("r")]},    # wrong role
        {"prompt": [U("q")], "chosen": [A("c")], "rejected": [A("r")], **META},
        {"prompt": [U("q")], "chosen": [A("c")], "rejected": [A("r")],
         "metadata": {"score_chosen": 4, "score_rejected": "2"}},
        {"prompt": [{"role": "user", "content": [{"type": "text", "text": "blocks"}]}],
         "completion": [A("a")]},
        {"prompt": [{"role": "user", "content": "q", "name": "bob"}], "completion": [A("a")]},
        {"prompt": [{"role": "user"}], "completion": [A("a")]},
        {"prompt": [U(None)], "completion": [A("a")]},
        {"messages": [U("q"), A("a")]},
        {"messages": [U("q")], "label": False},
        {"prompt": "q", "chosen": "c", "rejected": "r"},
        {"prompt": "q"}, {"text": "lm text"}, {"text": 5},
    ],
    "sharegpt": [
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
        {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"},
                           {"from": "gpt", "value": "a"}, {"from": "human", "value": "q2"},
                           {"from": "gpt", "value": "a2"}], "system": "other"},
        {"system": "sys", "conversations": [{"from": "human", "value": "q"},
                                            {"from": "function_call", "value": "f"}]},
        {"system": "", "conversations": [{"from": "human", "value": "q"}]},
        {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "c"},
         "rejected": {"from": "gpt", "value": "r"}},
        {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "c"}},
        {"conversations": [{"from": "human", "value": "q"}], "chosen": "c", "rejected": "r",
         "score_chosen": 2, "score_rejected": 1},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
         "kto_tag": True},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
         "kto_tag": "maybe"},
        {"conversations": [{"from": "alien", "value": "q"}, {"from": "gpt", "value": "a"}], **META},
        {"conversations": [{"from": "human", "value": 3}]},
        {"conversations": [{"from": "human", "value": [{"type": "text", "text": "b"}]}]},
        {"conversation": [{"human": "q", "assistant": "a"}]},
        {"messages": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
        {"conversations": "not a list"}, {"conversations": []}, {"system": 4, "conversations": []},
    ],
    "alpaca": [
        {"instruction": "do", "input": "", "output": "done"},
        {"instruction": "do", "input": "this", "output": "y"},              # one-word answer
        {"instruction": "do", "output": "x", "system": "s", "history": [["a", "b"]]},
        {"instruction": "do", "output": "x", "history": [["a"]]},
        {"instruction": "do", "chosen": "c", "rejected": "r"},
        {"instruction": "do", "chosen": "c", "rejected": "r", "score_chosen": "1e1"},
        {"instruction": "do", "output": "x", "kto_tag": False},
        {"instruction": "do", "output": "x", "label": 1},
        {"instruction": "do", "output": 12},                               # int output
        {"instruction": "do", "input": 5, "output": "x"},
        {"instruction": "do"},                                             # prompt only
        {"instruction": "do", "extra": "kept", **META},                    # unused keys
        {"instruction": "seed", "instances": [{"input": "a", "output": "b"},
                                              {"input": "", "output": "c"}]},
        {"instruction": None, "output": "x"}, {"instruction": 1, "output": "x"},
    ],
    "swift": [
        {"messages": [S("s"), U("q"), A("a")], "rejected_response": "bad"},
        {"messages": [U("q"), A("a")], "system": "sys"},
        {"messages": [U("q"), A("a")], "label": True},
        {"messages": [U("q"), A("a")], "label": "no"},
        {"messages": [U("q")], "rejected_response": "bad"},                # no chosen answer
        {"messages": [U("q"), A("a")], "rejected_messages": [U("q"), A("b")]},
        {"messages": [U("q"), A("a")], "rejected_messages": [U("z"), A("b")]},
        {"messages": [U("q"), A("a")], "rejected_response": "b", "score_chosen": 1.5,
         "score_rejected": 0},
        {"messages": [U("q"), {"role": "assistant", "content": "a", "loss": False}]},
        {"messages": [U("q"), A("a")], "system": 3},
        {"query": "q", "response": "a", "history": [["u", "v"]]},
        {"query": "q", "response": "a", "rejected_response": "b", **META},
        {"response": "pretraining text"},
        {"messages": [U("q"), A("a")], "rejected_response": 7},
    ],
    "ultrafeedback": [
        {"instruction": "q", "completions": [{"response": "a", "model": "m", "overall_score": 8},
                                             {"response": "b", "overall_score": "6.5"}]},
        {"prompt": "q", "completions": ["plain", "strings"], "models": ["m1", "m2"]},
        {"messages": [U("q")], "system": "s", "completions": [{"text": "a", "score": 1}]},
        {"instruction": "q", "completions": [{"response": "a", "annotations": {
            "helpfulness": {"Rating": "4", "Rationale": "ok"}, "honesty": {"Rating": "N/A"}}}]},
        {"instruction": "q", "completions": [{"response": "a", "ratings": {"h": 3}}]},
        {"instruction": "q", "completions": [{"content": "a", "label": True, "model": 5}]},
        {"instruction": "q", "completions": [{"response": None, "text": "t"}]},
        {"instruction": "q", "completions": [{"model": "m"}]},             # no answer text
        {"instruction": "q", "completions": [{"response": "a", "score": "high"}]},
        {"instruction": "q", "completions": []}, {"instruction": "q", "completions": 3},
        {"instruction": "q", "completions": [{"response": "a"}], "source": "s", **META},
        {"instruction": 5, "completions": ["a"]},
    ],
}
# Lines written with each format's prompt key K and answer key V (so they do not change the
# format the first lines detect).
RAW = [
    '{"K": oops', '[1, 2]', 'null', '"a string"', '{}', '{"a": null, "b": "  "}',
    '{"K": "dup", "K": "last wins", "V": "a"}',
    '{"K": "\\ud800 lone surrogate", "V": "a"}',
    '{"K": "\\ud83d\\ude00 pair", "V": "a"}',
    '{"K": "nan", "V": "c", "score_chosen": NaN}',
    '\ufeff{"K": "bom mid-file", "V": "x"}',
    '{"deep": ' + "[" * 150 + "]" * 150 + ', "K": "x", "V": "y"}',
    '{"id": "own", "K": "x", "V": "y"}', '{"id": 3, "K": "x", "V": "y"}',
    '{"id": true, "K": "x", "V": "y"}', '{"id": "", "K": "x", "V": "y"}',
    '{"K": "ints as strings", "V": "1", "score_chosen": "3", "label": "1"}',
    '   ', '',
]
KEYS = {"trl": ("prompt", "completion"), "alpaca": ("instruction", "output"),
        "ultrafeedback": ("instruction", "completions"), "swift": ("query", "response"),
        "sharegpt": ("system", "output")}


def _write(path, fmt, rng, n):
    shapes = SHAPES[fmt]
    k, v = KEYS[fmt]
    raw = [line.replace('"K"', f'"{k}"').replace('"V"', f'"{v}"') for line in RAW]
    lines = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            record = json.loads(json.dumps(shapes[0]))  # the plain shape, with varied text
            lines.append(json.dumps(record, ensure_ascii=rng.random() < 0.5)
                         .replace('"q"', f'"q{rng.randint(0, n // 4)}"'))
        elif r < 0.85:
            lines.append(json.dumps(rng.choice(shapes), ensure_ascii=rng.random() < 0.5))
        else:
            lines.append(rng.choice(raw))
    lines += [json.dumps(r, ensure_ascii=False) for r in shapes] + raw  # every line once
    body = "\n".join(lines).encode().replace(b"\n", b"\r\n", 3)  # a few CRLF line ends
    path.write_bytes(body + b"\n\xff\xfe bad bytes\n" + json.dumps(shapes[0]).encode() + b"\n")


@pytest.mark.parametrize("chunk", [5, 50_000])
@pytest.mark.parametrize("fmt", sorted(SHAPES))
def test_each_shape_columnar_equals_per_line(tmp_path, monkeypatch, fmt, chunk):
    monkeypatch.setattr(columnar, "CHUNK", chunk)
    assert PLAIN[fmt](SHAPES[fmt][0]) is not None  # the plain shape is taken columnar
    path = tmp_path / f"{fmt}.jsonl"
    _write(path, fmt, random.Random(chunk), 300)
    for forced in ("auto", fmt):
        src = Source(path=str(path), format=forced)
        assert read_columnar(src, tmp_path, False) is not None  # the columnar path was taken
        slow = assert_paths_agree(src, tmp_path)
        assert slow.format == fmt
    reasons = set(slow.rejects["reason"])
    assert {"read.malformed_json", "read.invalid_utf8", "read.wrong_type", "read.empty_record",
            "read.too_deep"} <= reasons
    assert slow.frame["id"].str.contains("~").any()  # duplicate ids were suffixed
    assert (slow.frame["meta"] != "{}").any()  # unused keys kept


def _real_jsonl(shared_data, tmp_path):
    """The real JSONL files, and the real .json files rewritten one record a line."""
    files = sorted(shared_data.glob("*/*.jsonl"))
    for name in ("alpaca_en_demo", "alpaca_zh_demo", "dpo_en_demo", "dpo_zh_demo", "kto_en_demo"):
        source = shared_data / "llama-factory" / f"{name}.json"
        if source.exists():
            out = tmp_path / f"{name}.jsonl"
            out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                   for r in json.loads(source.read_text(encoding="utf-8"))),
                           encoding="utf-8")
            files.append(out)
    return files


def test_real_files_columnar_equals_per_line(shared_data, tmp_path):
    taken = set()
    for path in _real_jsonl(shared_data, tmp_path):
        src = Source(path=str(path))
        try:
            columnar_result = read_columnar(src, tmp_path, False)
        except Exception as err:  # a file the per-line path refuses as a whole: same error
            with pytest.raises(type(err)):
                read_source(src, tmp_path, limit=10 ** 9)
            continue
        if columnar_result is not None:
            taken.add(assert_paths_agree(src, tmp_path).format)
    assert {"sharegpt", "alpaca", "swift", "trl"} <= taken, taken
