"""Fuzz the readers: a few hundred malformed files per format, made by mutating a valid file.

For every file: reading either refuses the whole file with a SourceError (one clear line), or
every record the mutations did not touch is read exactly as written or is in the ledger, and
(JSON Lines) every non-blank line is one record or one ledger row. Nothing else may be raised.
Seeded, so a failure reproduces; the failing file is kept under the test's tmp_path.
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from datatools.schemas.errors import SourceError
from datatools.schemas.recipe import Source

from datatools.readers import read_source

FILES_PER_FORMAT = 200
ROWS = 12
JUNK = ['"', "{", "}", "[", "]", ",", "\\", "\x00", "\t", "'", ":", " "]
REFUSALS: list[str] = []
BAD_BYTES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xef\xbb\xbf"]


def row(i: int) -> tuple[str, str]:
    return f"question {i}?", f"answer {i} zz"


def base_lines(fmt: str) -> list[bytes]:
    if fmt == "csv":
        return [b"prompt,completion"] + [",".join(row(i)).encode() for i in range(ROWS)]
    return [json.dumps({"prompt": p, "completion": c}).encode()
            for p, c in (row(i) for i in range(ROWS))]


def mutate(rng: random.Random, lines: list[bytes], fmt: str) -> tuple[list[bytes], set[int]]:
    """1-3 mutations, each confined to one line (or appended lines); returns the touched rows.
    CSV gets at most one stray quote per file: two quotes can legally enclose the lines
    between them (a multi-line field), which no reader can tell from data."""
    lines = list(lines)
    first = 1 if fmt == "csv" else 0  # the header is not mutated (a bad header is SourceError)
    tags = [i - first for i in range(len(lines))]  # the row each line holds; -1: inserted
    touched: set[int] = set()
    quotes = 0
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(first, len(lines))
        line = lines[at]
        kind = rng.choice(["flip", "insert", "delete", "truncate_line", "junk_line",
                           "bad_bytes", "deep", "blank", "duplicate", "cut_file"])
        if kind == "cut_file" and rng.random() < 0.3:
            touched |= {t for t in tags[at:] if t >= 0}
            lines, tags = lines[:at] + [line[:rng.randrange(len(line) + 1)]], tags[:at] + [-1]
            continue
        if kind in ("flip", "insert", "delete", "truncate_line", "bad_bytes"):
            pos = rng.randrange(len(line) + 1)
            if kind == "flip" and line:
                pos = min(pos, len(line) - 1)
                new = bytes([rng.randrange(256)])
                if fmt == "csv" and new in (b'"', b"\n", b"\r"):
                    new = b"x"
                line = line[:pos] + new + line[pos + 1:]
            elif kind == "insert":
                ch = rng.choice(JUNK)
                if fmt == "csv" and ch == '"':
                    if quotes:
                        ch = "x"
                    quotes += 1
                line = line[:pos] + ch.encode() + line[pos:]
            elif kind == "delete":
                line = line[:pos] + line[pos + rng.randint(1, 8):]
            elif kind == "truncate_line":
                line = line[:pos]
            else:
                line = line[:pos] + rng.choice(BAD_BYTES) + line[pos:]
            lines[at] = line
            if tags[at] >= 0:
                touched.add(tags[at])
        elif kind == "junk_line":
            junk = "".join(rng.choice(JUNK + ["a", "b"]) for _ in range(rng.randint(1, 20)))
            if fmt == "csv":
                junk = junk.replace('"', "'")
            lines.insert(at, junk.encode())
            tags.insert(at, -1)
        elif kind == "deep":
            depth = rng.choice([150, 1100, 3000])
            lines.insert(at, ('{"a": ' * depth + "1" + "}" * depth).encode()
                         if fmt != "csv" else b"x," + b"[" * depth)
            tags.insert(at, -1)
        elif kind == "blank":
            lines.insert(at, b"   ")
            tags.insert(at, -1)
        else:  # duplicate: the copy is a second, identical record (dedup is a step's job)
            lines.insert(at, line)
            tags.insert(at, -1)
            if tags[at + 1] >= 0:
                touched.add(tags[at + 1])
    return lines, touched


def as_file(fmt: str, lines: list[bytes], rng: random.Random) -> bytes:
    if fmt == "json":  # one record per line inside an array, sometimes all on one line
        sep = b",\n" if rng.random() < 0.7 else b", "
        return b"[" + sep.join(lines) + b"]" + rng.choice([b"\n", b"", b"\n\n"])
    data = b"\n".join(lines) + b"\n"
    return gzip.compress(data, mtime=0) if fmt == "jsonl.gz" else data


def check(path: Path, fmt: str, lines: list[bytes], touched: set[int]) -> str:
    try:
        result = read_source(Source(path=path.name), path.parent)
    except SourceError as err:
        text = str(err)
        assert "\n" not in text.strip() and "Traceback" not in text, text
        REFUSALS.append(text)
        return "refused"
    ledger = "\n".join(r or "" for r in result.rejects["record"].to_list())
    completions = set(result.frame["completion"].drop_nulls().to_list())
    for i in range(ROWS):
        if i in touched:
            continue
        prompt, answer = row(i)
        assert answer in completions or answer in ledger, f"row {i} ({answer!r}) was lost"
    if fmt.startswith("jsonl"):
        nonblank = sum(1 for ln in lines if ln.strip())
        records = result.frame["source"].n_unique()
        assert records + result.rejects.height == nonblank, (records, result.rejects.height)
    return "read"


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "json", "csv"])
def test_malformed_files_are_read_or_ledgered_never_crash(tmp_path, fmt):
    rng = random.Random(f"fuzz-{fmt}")
    outcomes = {"read": 0, "refused": 0}
    for n in range(FILES_PER_FORMAT):
        lines, touched = mutate(rng, base_lines(fmt), fmt)
        path = tmp_path / f"case{n:03d}.{fmt}"
        path.write_bytes(as_file(fmt, lines, rng))
        try:
            outcomes[check(path, fmt, lines, touched)] += 1
        except Exception as err:
            raise AssertionError(f"{path} (kept for reproduction): {type(err).__name__}: "
                                 f"{err}") from err
        path.unlink()
    # the fuzzer exercises both paths: files still read, and (JSON arrays, whose records
    # cannot be told apart once one is broken) files refused as a whole
    least = FILES_PER_FORMAT // (10 if fmt == "json" else 2)
    assert outcomes["read"] > least, (outcomes, REFUSALS[:5])


def test_corrupted_gzip_streams_never_crash(tmp_path):
    rng = random.Random("fuzz-gzip-bytes")
    good = gzip.compress(b"\n".join(base_lines("jsonl")) * 30 + b"\n", mtime=0)
    for n in range(FILES_PER_FORMAT):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[:rng.randrange(len(data))]
        path = tmp_path / f"bytes{n:03d}.jsonl.gz"
        path.write_bytes(bytes(data))
        try:
            read_source(Source(path=path.name), path.parent)
        except SourceError:
            pass
        path.unlink()
