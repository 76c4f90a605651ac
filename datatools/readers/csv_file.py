"""CSV → RawPart records: the header names the fields, empty cells are missing values, a row
whose quoting is broken is ledgered on the line where it began and reading resumes after it."""
from __future__ import annotations

import csv
import gzip
import itertools
import sys
from pathlib import Path

from datatools.readers.raw import RawPart
from datatools.readers.text import show_bad_bytes, text_encoding
from datatools.schemas.errors import Problem, SourceError


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
            part.reject("read.csv_unclosed_quote", error, source, show_bad_bytes(
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
                            "UTF-8", source, show_bad_bytes(raw))
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
                                      f"({show_bad_bytes(field)!r}) is not valid UTF-8; save "
                                      "the file as UTF-8")) from None
