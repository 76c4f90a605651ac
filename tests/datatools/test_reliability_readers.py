"""Hostile input files: nothing is merged, dropped or crashes silently. Each case was once a
silent wrong result or a traceback; each now reads every record or ledgers it (file, line)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from datatools.schemas.errors import SourceError
from datatools.schemas.recipe import Source

from datatools.readers import read_source


def read(path: Path):
    return read_source(Source(path=path.name), path.parent)


def reasons(result) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for reason, source in result.rejects.select("reason", "source").iter_rows():
        out.setdefault(reason, []).append(source)
    return out


CSV_HEAD = "prompt,completion\n"


def test_csv_unclosed_quote_does_not_swallow_the_rest_of_the_file(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text(CSV_HEAD + 'q1,a1\nq2,"a2 never closed\nq3,a3\nq4,a4\nq5,a5\n')
    result = read(path)
    # before: 2 records (q1, and q2 whose answer held lines 3-6), exit 0, empty ledger
    assert result.frame["completion"].to_list() == ["a1", "a3", "a4", "a5"]
    assert reasons(result) == {"read.csv_unclosed_quote": ["u.csv:3"]}
    assert "not closed" in result.rejects["detail"][0]
    assert result.rejects["record"][0] == 'q2,"a2 never closed'


def test_csv_quote_closed_lines_later_does_not_merge_rows(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text(CSV_HEAD + 'q1,a1\nq2,"a2 oops\nq3,a3\nq4,"a4"\nq5,a5\n')
    result = read(path)
    assert result.frame["completion"].to_list() == ["a1", "a3", "a4", "a5"]
    assert reasons(result) == {"read.csv_unclosed_quote": ["u.csv:3"]}


def test_csv_legit_multiline_and_inner_quotes_still_read(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(CSV_HEAD + 'q1,"line one\nline two, with a comma"\nq2,he said "hi" ok\n'
                    'q3,"a ""quoted"" word"\n')
    result = read(path)
    assert result.frame["completion"].to_list() == ["line one\nline two, with a comma",
                                                    'he said "hi" ok', 'a "quoted" word']
    assert result.rejects.height == 0
    assert result.frame["source"].to_list() == ["ok.csv:2", "ok.csv:4", "ok.csv:5"]


def test_csv_header_with_a_non_utf8_byte_is_one_clear_error(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"prompt,compl\xffetion\nq,a\n")
    with pytest.raises(SourceError, match=r"h.csv:1: header column 2 .* not valid UTF-8"):
        read(path)  # before: UnicodeEncodeError in stable_id


def test_two_json_arrays_back_to_back_are_both_read(tmp_path):
    path = tmp_path / "two.json"
    first = [{"prompt": f"p{i}", "completion": "c"} for i in range(3)]
    second = [{"prompt": f"q{i}", "completion": "c"} for i in range(2)]
    path.write_text(json.dumps(first) + json.dumps(second))
    result = read(path)  # before: the second array was lost silently
    assert result.frame["completion"].len() == 5
    assert sorted(result.frame["source"].to_list()) == [f"two.json:[{i}]" for i in range(5)]


def test_trailing_garbage_after_a_json_array_is_refused(tmp_path):
    path = tmp_path / "junk.json"
    path.write_text(json.dumps([{"prompt": "p", "completion": "c"}]) + " garbage")
    with pytest.raises(SourceError, match="junk.json: malformed JSON at line 1 .* after the "
                                          "closing"):
        read(path)  # before: accepted, garbage ignored


def test_one_line_json_array_sources_name_the_record_index(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps([{"prompt": f"p{i}", "completion": "c"} if i != 17 else 5
                                for i in range(20)]))
    result = read(path)
    assert result.frame["source"][3] == "one.json:[3]"  # before: every record "one.json:1"
    assert result.rejects["source"].to_list() == ["one.json:[17]"]


def test_pretty_printed_json_array_keeps_line_numbers(tmp_path):
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps([{"prompt": "p", "completion": "c"}] * 2, indent=2))
    assert read(path).frame["source"].to_list() == ["pretty.json:2", "pretty.json:6"]


def deep(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def test_deeply_nested_json_is_ledgered_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    good = json.dumps({"prompt": "p", "completion": "c"})
    path.write_text("\n".join([good, deep(1100), deep(950), good]) + "\n")
    result = read(path)  # before: RecursionError
    assert result.frame.height == 2
    assert reasons(result) == {"read.malformed_json": ["deep.jsonl:2"],
                               "read.too_deep": ["deep.jsonl:3"]}
    arr = tmp_path / "deep.json"
    arr.write_text("[" + good + ",\n" + deep(950) + "]")
    assert reasons(read(arr)) == {"read.too_deep": ["deep.json:2"]}
    whole = tmp_path / "deeper.json"
    whole.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(SourceError, match="deeper.json: .*nests deeper"):
        read(whole)


def test_corrupt_deflate_in_jsonl_gz_is_one_clear_error(tmp_path):
    lines = b"".join(b'{"prompt": "p%d", "completion": "c"}\n' % i for i in range(5000))
    data = bytearray(gzip.compress(lines))
    data[len(data) // 3: len(data) // 3 + 8] = b"\xff" * 8
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match=r"bad.jsonl.gz: cannot read file"):
        read(path)  # before: uncaught zlib.error
