"""A byte order mark is not data: UTF-8 BOM files (Windows exports) and UTF-16 "Unicode"
exports read every record, in every text format."""
import codecs
import gzip
import json

import pytest

from datatools.readers import read_source
from datatools.schemas.recipe import Source

RECORDS = [{"instruction": "Translate to French: cat", "input": "", "output": "chat"},
           {"instruction": "Translate to French: dog", "input": "", "output": "chien"},
           {"instruction": "Translate to French: bird", "input": "", "output": "oiseau"}]


def _jsonl():
    return "\r\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\r\n"


def _csv():
    rows = ["instruction,input,output"] + [f'"{r["instruction"]}",,{r["output"]}' for r in RECORDS]
    return "\r\n".join(rows) + "\r\n"


TEXTS = {
    "data.jsonl": _jsonl,
    "data.json": lambda: json.dumps(RECORDS, indent=2),
    "lines.json": _jsonl,  # JSON Lines saved as .json
    "data.csv": _csv,
}


@pytest.mark.parametrize("bom,encoding", [(codecs.BOM_UTF8, "utf-8"),
                                          (codecs.BOM_UTF16_LE, "utf-16-le"),
                                          (codecs.BOM_UTF16_BE, "utf-16-be")])
@pytest.mark.parametrize("name", [*TEXTS, "data.jsonl.gz"])
def test_every_record_is_read_after_a_byte_order_mark(tmp_path, name, bom, encoding):
    text = TEXTS[name.removesuffix(".gz")]()
    data = bom + text.encode(encoding)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    result = read_source(Source(path=str(path)), tmp_path)
    assert result.rejects.height == 0, result.rejects["detail"].to_list()
    assert result.format == "alpaca" and result.records == 3
    assert result.frame["completion"].to_list() == ["chat", "chien", "oiseau"]
    assert not result.frame["prompt"].list.first().struct.field("content").str.contains(
        "\ufeff").any()


def test_files_concatenated_with_their_boms_lose_nothing(tmp_path):
    one = codecs.BOM_UTF8 + (json.dumps(RECORDS[0]) + "\n").encode()
    two = codecs.BOM_UTF8 + (json.dumps(RECORDS[1]) + "\n").encode()
    path = tmp_path / "cat.jsonl"
    path.write_bytes(one + two)
    result = read_source(Source(path=str(path)), tmp_path)
    assert result.rejects.height == 0 and result.frame.height == 2
