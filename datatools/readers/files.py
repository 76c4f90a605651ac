"""Local files → RawPart: JSONL (plain or .gz), JSON (array or an object holding one), CSV,
Parquet. Bad lines become ledger rows here; a file unusable as a whole is a SourceError.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import itertools
import json
import sys
import zlib
from pathlib import Path
from typing import Any

from datatools.schemas.errors import Problem, SourceError

from datatools.formats.detect import detect
from datatools.readers.raw import RawPart, record_text

try:  # orjson parses 3-5x faster; the standard library is the fallback, not a requirement
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
            ".parquet": "parquet"}
LIST_KEYS = ("data", "train", "records", "examples", "rows", "instances")


def file_kind(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


# Byte order marks: Windows tools start UTF-8 files with one, and "Unicode" exports (Excel,
# Notepad) are UTF-16 with one. A BOM is not data: it is removed for every text format.
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def text_encoding(path: Path) -> str:
    """"utf-16" for a file starting with a UTF-16 BOM, else "utf-8-sig" (drops a UTF-8 BOM)."""
    with _open_bytes(path) as fh:
        head = fh.read(2)
    return "utf-16" if head in UTF16_BOMS else "utf-8-sig"


def _byte_lines(path: Path):
    """A text file's lines as UTF-8 bytes (a UTF-16 file is transcoded), BOM removed."""
    if text_encoding(path) == "utf-16":
        import io

        with io.TextIOWrapper(_open_bytes(path), encoding="utf-16", errors="surrogateescape",
                              newline="") as fh:
            for line in fh:
                yield line.encode("utf-8", "surrogateescape")
        return
    with _open_bytes(path) as fh:
        yield from fh


def read_file(path: Path, name: str, limit: int | None) -> RawPart:
    """A JSON, CSV or Parquet file whole (JSONL streams through `iter_file`)."""
    kind = file_kind(path)
    if kind is None:
        suffix = "".join(path.suffixes) or "(none)"
        raise SourceError(Problem(name, f"unsupported file type {suffix}; supported: .jsonl, "
                                  f".json, .csv (optionally .gz), .parquet"))
    part = RawPart(name, limit)
    try:
        {"json": read_json, "csv": read_csv, "parquet": read_parquet}[kind](
            path, part)
    except (OSError, EOFError, zlib.error) as err:  # unreadable, not gzip, truncated/corrupt gzip
        raise SourceError(Problem(name, f"cannot read file: {err}")) from err
    return part


def iter_file(path: Path, name: str, limit: int | None, batch: int):
    """`read_file` in parts of up to `batch` records: JSONL streams (so a million-record file
    never sits in memory as Python objects all at once); other kinds load whole."""
    if file_kind(path) != "jsonl":
        yield read_file(path, name, limit)
        return
    part, before, lineno = RawPart(name, limit), 0, 0
    try:
        for lineno, line in enumerate(_byte_lines(path), 1):
            if part.full:
                break
            if not line.strip():
                continue
            add_json_line(part, line, f"{name}:{lineno}")
            if len(part.records) >= batch:
                yield part
                before += part.seen
                part = RawPart(name, None if limit is None else limit - before)
    except (OSError, EOFError, zlib.error) as err:  # unreadable, not gzip, truncated/corrupt gzip
        raise SourceError(Problem(name, f"cannot read file after line {lineno}: {err}")) from err
    yield part


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
    with _open_bytes(path) as fh:
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
                        _show_bad_bytes(text[pos:next_pos]))
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
                        source, _show_bad_bytes(raw))
            return
    part.add(record, source)


def _show_bad_bytes(text: str) -> str:
    """Text decoded with surrogateescape → printable, the bad bytes shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_csv(path: Path, part: RawPart) -> None:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long answers exceed the 128 KiB default
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    # surrogateescape keeps reading past bad bytes; rows holding them go to the ledger below.
    with opener(path, "rt", encoding=text_encoding(path), errors="surrogateescape",
                newline="") as fh:
        lines = fh.readlines()
    rows = csv_rows(lines)
    header = None
    for lineno, row, error in rows:
        if error:
            raise SourceError(Problem(f"{part.name}:{lineno}", f"malformed CSV header: {error}"))
        if row:
            header = row
            break
    if header is None:
        return
    _check_header(header, part.name)
    for lineno, row, error in rows:
        if part.full:
            break
        source = f"{part.name}:{lineno}"
        if error:
            part.reject("read.csv_unclosed_quote", error, source, _show_bad_bytes(
                lines[lineno - 1].rstrip("\r\n")))
            continue
        if not row:
            continue
        raw = ",".join(row)
        if not raw.isascii():
            try:
                raw.encode("utf-8")
            except UnicodeEncodeError:
                part.reject("read.invalid_utf8", "the row contains bytes that are not valid "
                            "UTF-8", source, _show_bad_bytes(raw))
                continue
        if len(row) != len(header):
            part.reject("read.malformed_csv", f"expected {len(header)} fields "
                        f"({', '.join(header)}), got {len(row)}", source, raw)
            continue
        # Empty cells are missing values: CSV cannot tell "" from absent.
        part.add({k: (v if v != "" else None) for k, v in zip(header, row)}, source, raw)


def csv_rows(lines: list[str]):
    """(line number, row, None) per CSV row, or (line, None, error) for a row whose quoting is
    broken. A quote that never closes properly would swallow every following line into one
    field (rows silently merged); strict parsing stops there, the row is reported on the line
    where it began, and parsing resumes on the next line, so the rows it swallowed are read."""
    begin = 0
    while begin < len(lines):
        reader = csv.reader(itertools.islice(lines, begin, None), strict=True)
        start = begin
        try:
            for row in reader:
                yield start + 1, row, None
                start = begin + reader.line_num
            return
        except csv.Error as err:
            yield start + 1, None, (f"a quoted field opened on this line is not closed where "
                                    f"expected ({err} at line {begin + reader.line_num}); "
                                    "this line is skipped and the next lines are read as rows")
            begin = start + 1


def _check_header(header: list[str], name: str) -> None:
    for column, field in enumerate(header, 1):
        try:
            field.encode("utf-8")
        except UnicodeEncodeError:
            raise SourceError(Problem(f"{name}:1", f"header column {column} "
                                      f"({_show_bad_bytes(field)!r}) is not valid UTF-8; save "
                                      "the file as UTF-8")) from None


def read_parquet(path: Path, part: RawPart) -> None:
    import polars as pl

    try:
        frame = pl.read_parquet(path, n_rows=part.limit)
    except pl.exceptions.PolarsError as err:
        raise SourceError(Problem(part.name, f"cannot read parquet: {err}")) from err
    for index, row in enumerate(frame.iter_rows(named=True)):
        part.add(row, f"{part.name}:{index}")
