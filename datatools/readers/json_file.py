"""JSON Lines and JSON documents → RawPart records; a bad line or a bad record in an array is
a ledger row (file and line, or file and [index]), trailing data is refused with its position."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datatools.formats.detect import detect
from datatools.readers.raw import RawPart, record_text
from datatools.readers.text import UTF8_BOM, UTF16_BOMS, open_bytes, show_bad_bytes
from datatools.schemas.errors import Problem, SourceError

try:  # orjson parses 3-5x faster; the standard library is the fallback, not a requirement
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads


LIST_KEYS = ("data", "train", "records", "examples", "rows", "instances")


def add_json_line(part: RawPart, line: bytes, source: str) -> None:
    if line.startswith(UTF8_BOM):  # the file's first line, or files concatenated with `cat`
        line = line[len(UTF8_BOM):]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        part.reject("read.invalid_utf8", f"byte 0x{line[err.start]:02x} at column "
                    f"{err.start + 1} is not valid UTF-8", source,
                    line.decode("utf-8", "backslashreplace").rstrip())
        return
    try:
        value = _loads(text)
    except (ValueError, RecursionError) as err:
        part.reject("read.malformed_json", f"not valid JSON: {err}", source, text.rstrip("\r\n"))
        return
    if _brackets(text, 0, len(text)) > MAX_DEPTH and too_deep(value):
        part.reject("read.too_deep", f"nested more than {MAX_DEPTH} levels deep", source,
                    text.rstrip("\r\n"))
        return
    part.add(value, source, text.rstrip("\r\n"))


# Deeper records cannot be a conversation; past ~1000 levels Python's json (used to write the
# ledger and the meta column) raises RecursionError, so such records are ledgered on reading.
MAX_DEPTH = 100


def _brackets(text: str, start: int, end: int) -> int:
    """An upper bound on nesting depth, counted in C: most records skip the real check."""
    return text.count("{", start, end) + text.count("[", start, end)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists/dicts nest more than `limit` levels (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def read_json(path: Path, part: RawPart) -> None:
    with open_bytes(path) as fh:
        data = fh.read()
    encoding = "utf-16" if data[:2] in UTF16_BOMS else "utf-8-sig"
    try:
        text, bad_bytes = data.decode(encoding), False
    except UnicodeDecodeError:
        # Decode anyway so the good records survive; records holding the bad bytes are
        # found below and sent to the ledger.
        text, bad_bytes = data.decode(encoding, "surrogateescape"), True
    if encoding == "utf-16":
        data = text.encode("utf-8", "surrogateescape")
    if text.lstrip().startswith("["):
        _read_json_array(text, part, bad_bytes)
        return
    try:
        value = json.loads(text)
    except RecursionError:
        raise SourceError(Problem(part.name, "the JSON nests deeper than can be parsed")) from None
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":  # many .json files are JSON Lines
            for lineno, line in enumerate(data.splitlines(), 1):
                if part.full:
                    break
                if line.strip():
                    add_json_line(part, line, f"{part.name}:{lineno}")
            return
        raise SourceError(Problem(part.name, f"malformed JSON at line {err.lineno} column "
                                  f"{err.colno}: {err.msg}")) from err
    records = _records_in_object(value, part.name)
    for index, record in enumerate(records):
        if part.full:
            break
        if too_deep(record):
            part.reject("read.too_deep", f"nested more than {MAX_DEPTH} levels deep",
                        f"{part.name}:{index}", "(not shown: nested too deep)")
            continue
        _add_checked(part, record, f"{part.name}:{index}", bad_bytes)


def _records_in_object(value: Any, name: str) -> list:
    """{"data": [...]}-style files: the one list of records inside the top-level object."""
    if not isinstance(value, dict):
        raise SourceError(Problem(name, f"expected a JSON array of records or an object holding "
                                  f"one, got {type(value).__name__}"))
    if detect([value]) is not None:  # a file holding a single record
        return [value]
    lists = {k: v for k, v in value.items() if isinstance(v, list)}
    for key in LIST_KEYS:
        if key in lists:
            return lists[key]
    if len(lists) == 1:
        return next(iter(lists.values()))
    keys = ", ".join(list(value)[:10]) + (", ..." if len(value) > 10 else "")
    hint = ""
    registry_keys = {"file_name", "hf_hub_url", "ms_hub_url", "script_url", "cloud_file_name"}
    if value and all(isinstance(v, dict) and registry_keys & set(v) for v in value.values()):
        hint = " (this looks like LLaMA-Factory's dataset_info.json, a registry of datasets: " \
               "read the data files it names instead)"
    found = f"{len(lists)} lists ({', '.join(lists)})" if lists else "no list"
    raise SourceError(Problem(name, f"a JSON object with {found} of records; keys: {keys}{hint}"))


def _read_json_array(text: str, part: RawPart, bad_bytes: bool) -> None:
    """Decode element by element so each record keeps the line it starts on (its index,
    `name:[17]`, when the whole array is one line). Arrays back to back (`[...][...]`) are all
    read; anything else after the closing `]` is an error, never silently ignored."""
    decoder = json.JSONDecoder()
    pos, end = text.index("[") + 1, len(text)
    one_line = "\n" not in text.strip()
    index = first = 0  # records so far; index of the current array's first record
    line, counted_to = 1, 0  # newlines are counted incrementally, in C, between records
    while True:
        pos = _skip_space(text, pos)
        if pos < end and text[pos] == "]":
            pos = _skip_space(text, pos + 1)
            if pos == end:
                break
            if text[pos] != "[":
                _malformed(text, pos, part.name, "unexpected data after the closing ']'")
            pos, first = pos + 1, index  # another array follows: read it too
            continue
        if index > first and pos < end and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
        elif index > first:
            _malformed(text, pos, part.name, "expected ',' or ']' between records")
        if part.full:
            return
        try:
            value, next_pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            _malformed(text, err.pos, part.name, err.msg)
        except RecursionError:
            _malformed(text, pos, part.name, "the record nests deeper than can be parsed")
        line, counted_to = line + text.count("\n", counted_to, pos), pos
        source = f"{part.name}:[{index}]" if one_line else f"{part.name}:{line}"
        if _brackets(text, pos, next_pos) > MAX_DEPTH and too_deep(value):
            part.reject("read.too_deep", f"nested more than {MAX_DEPTH} levels deep", source,
                        show_bad_bytes(text[pos:next_pos]))
        else:
            _add_checked(part, value, source, bad_bytes)
        pos, index = next_pos, index + 1


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _malformed(text: str, pos: int, name: str, msg: str):
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    raise SourceError(Problem(name, f"malformed JSON at line {line} column {column}: {msg}"))


def _add_checked(part: RawPart, record: Any, source: str, bad_bytes: bool) -> None:
    if bad_bytes:
        raw = record_text(record)
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            part.reject("read.invalid_utf8", "the record contains bytes that are not valid UTF-8",
                        source, show_bad_bytes(raw))
            return
    part.add(record, source)
