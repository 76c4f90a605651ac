"""TRL JSONL through polars' reader where the compiled screen vouches for a block: the same
frame, ids, ledger rows and notes as the per-line path, on plain lines with every value kind
the screen accepts and on mixed files whose bad lines send their blocks to the line loop; the
screen's shapes agree with `general_shape` wherever it vouches, and it vouches for the
commonest lines."""
import json
import random

import orjson
import pytest

from datatools.readers import columnar, columnar_trl, native_trl
from datatools.readers.columnar_source import read_columnar
from datatools.schemas.recipe import Source
from tests.datatools.test_readers_columnar import _write
from tests.read_paths import assert_paths_agree

pytestmark = pytest.mark.skipif(not native_trl.available(), reason="kernels not built")

PLAIN_LINES = [
    '{"prompt": "p", "chosen": "c", "rejected": "r"}',
    '{"prompt":"p","chosen":"c","rejected":"r","score_chosen":2,"score_rejected":-1.5e-2}',
    '{"id": 7, "prompt": "q", "completion": "a"}',
    '{"id": -12, "prompt": "q", "completion": "a", "label": false}',
    '{"id": "x", "prompt": "q", "completion": "a", "label": true}',
    '{"id": "x", "prompt": "q2", "completion": "b"}',           # a repeated id: x~2
    '{"id": "x~2", "prompt": "q3", "completion": "b"}',
    '{"id": "", "prompt": "q4", "completion": "b"}',             # empty id: content id
    '{"id": null, "prompt": "q5"}',                              # a prompt alone
    '{"prompt": "q6", "chosen": "c", "rejected": "r", "score_chosen": null}',
    '{"prompt": "esc \\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u4e2d \\u0000", "completion": "a"}',
    '{"prompt": "中文 é 😀", "completion": "\\u00a0"}',
    '{"prompt": "\\ud83d\\ude00 pair", "completion": "\\uD83D\\uDE00"}',
    '{"prompt": "\\u00a0", "completion": "x"}',
    '{"completion": "a", "prompt": "key order"}',
    '\t{ "prompt" : "spaces" , "completion" : "a" }  ',
    '{"prompt": "p", "chosen": "c", "rejected": "r", "score_chosen": 123456789012345678}',
    '{"prompt": "p", "chosen": "c", "rejected": "r", "score_chosen": 0.1, "score_rejected": 1E5}',
]
NOT_VOUCHED = [  # lines the screen must leave to the line loop
    '{"prompt": "dup", "prompt": "last wins", "completion": "a"}',
    '{"prompt": "\\ud800", "completion": "a"}', '{"prompt": "\\uDFFF", "completion": "a"}',
    '{"prompt": "\\ud800x", "completion": "a"}', '{"prompt": "\\ud800\\u0041"}',
    '{"prompt": ["q"], "completion": "a"}', '{"prompt": "q", "completion": {"a": 1}}',
    '{"prompt": "q", "completion": "a", "extra": 1}', '{"prompt": "q", "completion": 5}',
    '{"id": 1.5, "prompt": "q", "completion": "a"}', '{"id": true, "prompt": "q"}',
    '{"id": -0, "prompt": "q", "completion": "a"}', '{"id": 01, "prompt": "q"}',
    '{"id": 1234567890123456789, "prompt": "q"}', '{"prompt": "q", "score_chosen": 1}',
    '{"prompt": "q", "chosen": "c", "rejected": "r", "score_chosen": NaN}',
    '{"prompt": "q", "chosen": "c", "rejected": "r", "score_chosen": 1e400}',
    '{"prompt": "q", "completion": "a", "label": "yes"}', '{"prompt": " ", "completion": ""}',
    '{"prompt": "raw\ttab", "completion": "a"}', '{"prompt": "q", "completion": "a"} x',
    '{"prompt": "q", "completion": "a",}', '{"prompt": "q" "completion": "a"}', '{}', '[]',
    '{"prompt": "q", "completion": "a"}\r', '{"pro\\u006dpt": "q", "completion": "a"}',
]


def test_screen_vouches_only_for_lines_read_alike():
    for line in PLAIN_LINES:
        shape = native_trl.screen(line.encode())
        assert len(shape) == 1 and shape[0] >= 0, line  # the commonest lines are vouched for
        assert shape[0] == columnar_trl.general_shape(orjson.loads(line)), line
    for line in NOT_VOUCHED:
        assert native_trl.screen(line.encode())[0] == -1, line
    bad_utf8 = [b'{"prompt": "\xff", "completion": "a"}', b'{"prompt": "\xed\xa0\x80"}',
                b'{"prompt": "\xc0\xaf"}', b'{"prompt": "\xe2\x82", "completion": "a"}']
    assert [native_trl.screen(b)[0] for b in bad_utf8] == [-1] * 4
    assert list(native_trl.screen(b'  \n\n{"prompt": "q"}')) == [-2, -2, 3]


def test_screen_agrees_with_general_shape_on_random_records():
    rng = random.Random(3)
    values = [None, "", " ", "x", "é", 0, 7, -3, 2.5, True, False]
    keys = ["prompt", "chosen", "rejected", "completion", "label", "score_chosen",
            "score_rejected", "id"]
    plain = 0
    for _ in range(20000):
        record = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(1, 5))}
        line = json.dumps(record, ensure_ascii=rng.random() < 0.5)
        # these values are all ones the screen can vouch for: it gives the very same shape
        assert native_trl.screen(line.encode())[0] == columnar_trl.general_shape(record), line
        plain += columnar_trl.general_shape(record) >= 0
    assert plain > 100


def _native_blocks(monkeypatch):
    """Counts the blocks polars parsed."""
    calls = []
    screened = native_trl._screened

    def spy(block):
        result = screened(block)
        calls.append(result[2] is not None)
        return result
    monkeypatch.setattr(native_trl, "_screened", spy)
    return calls


@pytest.mark.parametrize("block", [40, 1 << 20])
def test_plain_files_read_by_polars_equal_the_line_path(tmp_path, monkeypatch, block):
    monkeypatch.setattr(native_trl, "BLOCK_BYTES", block)
    calls = _native_blocks(monkeypatch)
    rng = random.Random(block)
    lines = [rng.choice(PLAIN_LINES) for _ in range(300)] + PLAIN_LINES
    (tmp_path / "p.jsonl").write_text("\n".join(lines))  # no line end after the last line
    src = Source(path=str(tmp_path / "p.jsonl"), format="trl")
    slow = assert_paths_agree(src, tmp_path)
    assert calls and all(calls)  # every block went through polars
    assert slow.frame["id"].str.contains("~").any() and slow.frame.height > 300


@pytest.mark.parametrize("block", [64, 300, 1 << 20])
def test_mixed_files_equal_the_line_path_block_by_block(tmp_path, monkeypatch, block):
    monkeypatch.setattr(native_trl, "BLOCK_BYTES", block)
    monkeypatch.setattr(columnar, "CHUNK", 7)
    calls = _native_blocks(monkeypatch)
    path = tmp_path / "mixed.jsonl"
    _write(path, random.Random(block), 400)
    src = Source(path=str(path), format="trl")
    assert read_columnar(src, tmp_path, False) is not None
    calls.clear()
    slow = assert_paths_agree(src, tmp_path)
    if block < 1 << 20:
        assert any(calls)  # some blocks through polars, the rest through the line loop
    assert {"read.malformed_json", "read.invalid_utf8"} <= set(slow.rejects["reason"])


def test_screen_knows_blank_text_as_python_does_for_every_code_point():
    """A line whose only value is one character: blank (all whitespace, left to the line
    loop) exactly when Python's str.isspace says so, raw in UTF-8 and as a \\u escape."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for ensure_ascii in (False, True):
        block = "\n".join(json.dumps({"prompt": ch}, ensure_ascii=ensure_ascii)
                          for ch in chars).encode("utf-8")
        shapes = native_trl.screen(block)
        expected = [-1 if ch.isspace() else 3 for ch in chars]
        assert shapes.tolist() == expected


@pytest.mark.parametrize("kernels", ["on", "off"])
def test_content_ids_are_content_id_of_each_record(monkeypatch, kernels):
    """The compiled ids (hashed in pieces where the text lies) and the fallback give
    `content_id`'s value for every shape, empty and non-ASCII text, texts of every length
    around xxHash's internal block sizes."""
    import polars as pl

    from datatools.native import library

    if kernels == "off":
        monkeypatch.setenv("DATATOOLS_KERNELS", "numpy")
    library.cache_clear()
    try:
        if kernels == "on" and library() is None:
            pytest.skip("the kernels are not built (no C compiler at install)")
        rng = random.Random(3)
        alphabet = "ab \n\x1d\x1e\x1fé国😀"
        text = lambda: "".join(rng.choices(alphabet, k=rng.choice([0, 1, 3, 16, 17, 128, 129,
                                                                   240, 241, 1000, 5000])))
        rows = []
        for _ in range(3000):
            shape = rng.randint(0, 3)
            rows.append((shape, text(), None if shape == 3 else text(),
                         text() if shape == 0 else None))
        shape, prompt, a, b = (list(c) for c in zip(*rows))
        got = columnar_trl.content_ids(pl.Series(shape, dtype=pl.Int8), pl.Series(prompt),
                                       pl.Series(a, dtype=pl.String), pl.Series(b, dtype=pl.String))
        assert got == [columnar_trl.content_id(*r) for r in rows]
    finally:
        library.cache_clear()
