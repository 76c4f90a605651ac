"""Opening text files as users export them: gzip or plain, UTF-8 with or without a BOM, or
UTF-16 with one (Excel / Notepad "Unicode"). A BOM is not data: it is removed for every format."""
from __future__ import annotations

import codecs
import gzip
from pathlib import Path


def open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


# Byte order marks: Windows tools start UTF-8 files with one, and "Unicode" exports (Excel,
# Notepad) are UTF-16 with one. A BOM is not data: it is removed for every text format.
UTF8_BOM = codecs.BOM_UTF8


UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def text_encoding(path: Path) -> str:
    """"utf-16" for a file starting with a UTF-16 BOM, else "utf-8-sig" (drops a UTF-8 BOM)."""
    with open_bytes(path) as fh:
        head = fh.read(2)
    return "utf-16" if head in UTF16_BOMS else "utf-8-sig"


def byte_lines(path: Path):
    """A text file's lines as UTF-8 bytes (a UTF-16 file is transcoded), BOM removed."""
    if text_encoding(path) == "utf-16":
        import io

        with io.TextIOWrapper(open_bytes(path), encoding="utf-16", errors="surrogateescape",
                              newline="") as fh:
            for line in fh:
                yield line.encode("utf-8", "surrogateescape")
        return
    with open_bytes(path) as fh:
        yield from fh


def show_bad_bytes(text: str) -> str:
    """Text decoded with surrogateescape → printable, the bad bytes shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
