"""The columnar TRL JSONL reader gives exactly what the per-line path gives — frame, ids,
ledger rows with file and line, kinds, counts — on a file mixing every shape, good and bad."""
import json
import random

import pytest

from datatools.readers.columnar_source import read_columnar
from datatools.readers import columnar
from datatools.schemas.recipe import Source
from tests.read_paths import assert_paths_agree

U = [{"role": "user", "content": "hi"}]
A = [{"role": "assistant", "content": "yo"}]
LINES = [
    {"prompt": "p1", "chosen": "c1", "rejected": "r1"},
    {"prompt": "p1", "chosen": "c1", "rejected": "r1"},            # exact copy: id ~2
    {"prompt": "p2", "chosen": "c", "rejected": "r", "score_chosen": 3, "score_rejected": 1.5},
    {"prompt": "p3", "chosen": "c", "rejected": "r", "score_chosen": None},
    {"id": "x", "prompt": "p4", "completion": "a"},
    {"id": "x", "prompt": "p5", "completion": "b"},                # own id repeated
    {"id": "x~2", "prompt": "p6", "completion": "b"},              # collides with a suffix
    {"id": 7, "prompt": "p7", "completion": "c", "label": True},
    {"id": "", "prompt": "p8", "completion": "d", "label": False},
    {"id": True, "prompt": "p9", "completion": "e"},
    {"id": 1.5, "prompt": "p10"},
    {"prompt": "only a prompt"},
    {"prompt": "", "completion": "empty prompt is validate's business"},
    {"prompt": "p11", "completion": "a", "label": "yes"},          # CSV-style label
    {"prompt": "p12", "completion": "a", "label": 1},
    {"prompt": U, "completion": A},                                  # conversational
    {"prompt": U, "chosen": A, "rejected": A},
    {"chosen": "Q: x A: good", "rejected": "Q: x A: bad"},         # implicit prompt
    {"chosen": U + A, "rejected": U + [{"role": "assistant", "content": "no"}]},
    {"prompt": "p13", "chosen": "c", "rejected": "r", "source_model": "m", "n": 3},  # meta
    {"prompt": "p14", "completion": "a", "extra": None},
    {"prompt": "p15", "chosen": "c"},                              # missing rejected
    {"prompt": "p16", "chosen": "c", "rejected": 5},
    {"prompt": "p17", "chosen": "c", "rejected": "r", "score_chosen": "2.5"},
    {"prompt": "p18", "chosen": "c", "rejected": "r", "score_chosen": True},
    {"prompt": "p19", "chosen": "c", "rejected": "r", "completion": "z", "label": True},
    {"prompt": "p20", "score_chosen": 1},
    {"prompt": None, "messages": U + A},
    {"text": "language modelling"},
    {"prompt": "  ", "completion": ""},                            # blank record
    {"prompt": "", "chosen": "", "rejected": ""},
    {"prompt": 3},
    {"prompt": "中文 提示", "chosen": "好的答案", "rejected": "é ü ß 😀"},
    {"prompt": "tabs\tand\nnewlines", "completion": "ok"},
]
RAW = [
    '{"prompt": oops',                                   # malformed
    '[1, 2]', 'null', '"a string"', '{}',
    '{"prompt": "dup", "prompt": "last wins", "completion": "a"}',
    '{"prompt": "\\ud800 lone surrogate", "completion": "a"}',
    '{"prompt": "nan", "chosen": "c", "rejected": "r", "score_chosen": NaN}',
    '   ',                                               # blank line: skipped
    '',
]


def _write(path, rng, n):
    lines = []
    for i in range(n):
        if rng.random() < 0.7:
            lines.append(json.dumps({"prompt": f"q{rng.randint(0, n // 3)}", "chosen": "c",
                                     "rejected": f"r{rng.randint(0, 3)}"}, ensure_ascii=False))
        elif rng.random() < 0.5:
            lines.append(json.dumps(rng.choice(LINES), ensure_ascii=rng.random() < 0.5))
        else:
            lines.append(rng.choice(RAW))
    lines += [json.dumps(r) for r in LINES] + RAW  # every shape at least once
    body = "\n".join(lines).encode()
    body = body.replace(b"\n", b"\r\n", 3)  # a few CRLF line ends
    path.write_bytes(body + b"\n\xff\xfe bad bytes\n" + b'{"prompt": "after", "completion": "x"}\n')


@pytest.mark.parametrize("chunk", [7, 50_000])
@pytest.mark.parametrize("fmt", ["auto", "trl"])
def test_columnar_equals_per_line(tmp_path, monkeypatch, chunk, fmt):
    monkeypatch.setattr(columnar, "CHUNK", chunk)
    rng = random.Random(chunk)
    path = tmp_path / "mixed.jsonl"
    _write(path, rng, 400)
    src = Source(path=str(path), format=fmt)
    assert read_columnar(src, tmp_path, False) is not None  # the columnar path was taken
    slow = assert_paths_agree(src, tmp_path)
    reasons = set(slow.rejects["reason"])
    assert {"read.malformed_json", "read.invalid_utf8", "read.wrong_type",
            "read.empty_record", "read.missing_field"} <= reasons
    assert slow.frame["id"].str.contains("~").any()  # duplicate ids were suffixed


def test_columnar_not_used_where_the_line_path_decides(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "p", "completion": "a"}\n')
    assert read_columnar(Source(path=str(path)), tmp_path, False) is None  # BOM
    path.write_text('{"output_1": "a", "output_2": "b", "preference": 1, "instruction": "q"}\n')
    assert read_columnar(Source(path=str(path)), tmp_path, False) is None  # not columnar
    path.write_text('{"q": "p", "a": "x"}\n')
    src = Source(path=str(path), columns={"q": "prompt", "a": "completion"})
    assert read_columnar(src, tmp_path, False) is None  # column mapping
    assert read_columnar(Source(path=str(path)), tmp_path, True) is None  # a limit


def test_braces_in_text_and_nesting_near_the_limit_read_as_the_line_path(tmp_path):
    """A plain record's text full of brackets is read columnar (its values are strings: depth
    1); a record nested past MAX_DEPTH but within the parser's own limit, and one past both,
    are ledgered as the line path ledgers them."""
    from datatools.readers.json_file import MAX_DEPTH

    code = "def f(): return {'a': [" + "{[" * 150 + "]}" * 150 + "]}"
    deep = {"prompt": "p", "chosen": "c", "rejected": "r", "extra": []}
    node = deep["extra"]
    for _ in range(MAX_DEPTH + 5):
        node.append([])
        node = node[0]
    lines = [json.dumps({"prompt": code, "chosen": "ok", "rejected": code}),
             json.dumps(deep), "[" * 5000 + "]" * 5000,
             json.dumps({"prompt": "x", "chosen": "a", "rejected": "b"})]
    path = tmp_path / "brackets.jsonl"
    path.write_text("\n".join(lines) + "\n")
    src = Source(path=str(path), format="trl")
    assert read_columnar(src, tmp_path, False) is not None
    slow = assert_paths_agree(src, tmp_path)
    assert slow.frame["prompt"].list.first().struct.field("content").to_list()[0] == code
    assert dict(zip(slow.rejects["source"], slow.rejects["reason"])) == {
        f"{path}:2": "read.too_deep", f"{path}:3": "read.malformed_json"}


def test_three_key_pairwise_lines_get_the_general_rules_shape():
    """`plain`'s fast path for {prompt, chosen, rejected} agrees with its general checks."""
    from datatools.readers import columnar_trl

    cases = {
        0: [{"prompt": "q", "chosen": "a", "rejected": "b"},
            {"prompt": " ", "chosen": "", "rejected": "b"},   # one answer set: still a pair
            {"rejected": "b", "chosen": "a", "prompt": "q"}],  # any key order
        -1: [{"prompt": " ", "chosen": "", "rejected": "\n"},  # all blank: the line path
             {"prompt": "q", "chosen": 1, "rejected": "b"},    # not text
             {"prompt": "q", "chosen": "a", "rejected": None},
             {"prompt": ["q"], "chosen": "a", "rejected": "b"}],
        1: [{"prompt": "q", "completion": "a", "id": "x"}],    # three keys, another shape
    }
    for shape, records in cases.items():
        for record in records:
            assert columnar_trl.plain(record) == shape, record


def test_plain_fast_paths_agree_with_the_general_rule_on_every_small_record():
    """Every record of up to three of these keys, each with each of these values: `plain`
    (with its fast paths for the commonest lines) says what `general_shape` says."""
    import itertools

    from datatools.readers import columnar_trl

    values = [None, "", " \n", "x", 0, 3, True, 1.5, [], {}]
    keys = ["prompt", "completion", "id", "chosen", "rejected", "label", "extra"]
    shapes = set()
    for k in range(4):
        for chosen_keys in itertools.combinations(keys, k):
            for vals in itertools.product(values, repeat=k):
                record = dict(zip(chosen_keys, vals))
                shape = columnar_trl.plain(record)
                assert shape == columnar_trl.general_shape(record), record
                shapes.add(shape)
    assert shapes == {-1, 0, 1, 2, 3}  # every shape was met
