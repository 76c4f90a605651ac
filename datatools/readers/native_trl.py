"""TRL standard JSONL read by polars' multi-threaded JSON reader, line for line what the
columnar reader (`readers.columnar`) gives, where the compiled screen vouches for it.

polars' reader differs from the per-line one in ways that would change data silently (a list
read as its JSON text, a lone surrogate escape as "\\x00", the first of two repeated keys
kept). So each block of lines is first screened (`screen`, one pass in C): a line
is vouched for only when it is a strict JSON object of distinct TRL keys with scalar values
(no surrogate, raw control byte, invalid UTF-8, CR, or integer polars could read otherwise),
and the screen gives its shape by the same rule as `columnar_trl.general_shape`. A block whose
every line is vouched for is parsed by polars; any other block (a malformed line, another
shape, a blank line, ...) is read by the columnar reader's own loop, so its rows, ledger rows
and line numbers are what they always were. Ids are taken in line order across blocks with
the same rule (`rows.take_id`, through `rows.take_ids`)."""
from __future__ import annotations

import io
import mmap
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from datatools.native import library
from datatools.readers import columnar_trl
from datatools.readers.rows import take_ids
from datatools.threads import ordered_map

BLOCK_BYTES = 32 << 20  # lines screened and parsed at a time (a block is one frame piece)

_SCHEMA = {"id": pl.String, "prompt": pl.String, "chosen": pl.String, "rejected": pl.String,
           "completion": pl.String, "score_chosen": pl.Float64, "score_rejected": pl.Float64,
           "label": pl.Boolean}


def available() -> bool:
    return library() is not None


def screen(block) -> np.ndarray:
    """Per line of `block` (split at b"\\n"): the plain TRL shape polars' JSON reader reads
    exactly as the per-line reader does (0-3, as `columnar_trl.general_shape`), -1 for a line
    the screen does not vouch for, -2 for a blank line (`datatools/native/trl_screen.c`)."""
    data = np.frombuffer(block, dtype=np.uint8)
    shapes = np.empty(len(data) + 1, dtype=np.int8)  # at most a line per byte (untouched)
    return shapes[:library().trl_screen(data, len(data), shapes, len(shapes))]


def read_jsonl(path: Path, name: str, ids: Counter, notes: Counter, frames: list,
               read_lines) -> tuple[list, list, int, set]:
    """(frames, rejects, seen, kinds) of a whole TRL JSONL file, as `columnar.read_jsonl`;
    `read_lines(frames, lines)` reads (line number, bytes) pairs the columnar way. The next
    block is read, screened and parsed on another thread while this one becomes rows (all
    three release the GIL); ids are taken here, in line order."""
    rejects, kinds, seen, first = [], set(), 0, 1
    for block, shapes, parsed in ordered_map(_screened, _blocks(path), threads=2, ahead=2):
        piece = None if parsed is None else _rows(parsed, shapes, first, name, ids, notes)
        if piece is not None:
            frames.append(piece)
            seen += len(shapes)
            kinds |= {columnar_trl.KINDS[s] for s in np.unique(shapes)}
        else:
            _, block_rejects, block_seen, block_kinds = read_lines(
                frames, zip(range(first, first + len(shapes)), _lines(bytes(block))))
            rejects += block_rejects
            seen += block_seen
            kinds |= block_kinds
        first += len(shapes)
    return frames, rejects, seen, kinds


def _screened(block: memoryview) -> tuple[memoryview, np.ndarray, pl.DataFrame | None]:
    """The block, its lines' shapes (`screen`) and, when every line is vouched for, polars'
    parse of it (None otherwise, or when polars reads another number of rows)."""
    shapes = screen(block)
    if not (shapes >= 0).all():
        return block, shapes, None
    parsed = pl.read_ndjson(io.BytesIO(block), schema=_SCHEMA)
    return block, shapes, parsed if parsed.height == len(shapes) else None


def _blocks(path: Path):
    """The file in blocks of about BLOCK_BYTES that end at a line end (or the file's end), each
    its own anonymous memory map, so a block may be parsed while the next is read, and each
    goes back to the system when dropped (with bytearrays from malloc the peak while reading
    1M records was 50-80 MiB higher). The partial line after the cut starts the next block."""
    buf, start = mmap.mmap(-1, BLOCK_BYTES), 0
    with open(path, "rb") as fh:
        while True:
            with memoryview(buf) as view:
                got = fh.readinto(view[start:])
            end = start + got
            if end == 0:
                return
            cut = end if got == 0 else buf.rfind(b"\n", 0, end) + 1  # got 0: the file's end
            if cut == 0:  # a line longer than the buffer: read on into a larger one
                buf = _moved(buf, end, 2 * len(buf))
                start = end
                continue
            rest = _moved(buf, end, max(BLOCK_BYTES, 2 * (end - cut)), cut)  # room to read on
            yield memoryview(buf)[:cut]
            buf, start = rest, end - cut


def _moved(buf, end: int, size: int, cut: int = 0):
    """A new map of `size` bytes starting with buf[cut:end]."""
    new = mmap.mmap(-1, size)
    new[:end - cut] = buf[cut:end]
    return new


def _lines(block: bytes):
    """The block's lines as a file gives them: each with its b"\\n" (the last maybe without)."""
    lines = block.split(b"\n")
    last = lines.pop()
    yield from (line + b"\n" for line in lines)
    if last:
        yield last


def _rows(d: pl.DataFrame, shapes: np.ndarray, first: int, name: str, ids: Counter,
          notes: Counter) -> pl.DataFrame:
    """The frame rows of a block polars parsed (`d`), lines numbered from `first`."""
    shape = pl.Series("shape", shapes, dtype=pl.Int8)
    pair = shape == 0
    a = pl.select(pl.when(pair).then(d["chosen"]).otherwise(d["completion"]))[:, 0]
    own = d["id"].to_list()
    lacking = [i for i, v in enumerate(own) if v is None or v == ""]
    if lacking:  # the content id, as `columnar._add_standard`
        columns = (shape, d["prompt"], a, d["rejected"])
        if len(lacking) < len(own):
            at = pl.Series(lacking)
            columns = tuple(c.gather(at) for c in columns)
        for i, made in zip(lacking, columnar_trl.content_ids(*columns)):
            own[i] = made
    rec = pl.DataFrame({
        "id": take_ids(ids, own),
        "__line": np.arange(first, first + len(shapes)), "shape": shape, "p": d["prompt"],
        "a": a, "b": d["rejected"], "sa": d["score_chosen"], "sb": d["score_rejected"],
        "label": d["label"]}, schema=columnar_trl.RECORDS)
    synthesised = int((pair & d["score_chosen"].is_null() & d["score_rejected"].is_null()).sum())
    prompts_only = int((shape == 3).sum())
    if synthesised:  # 1.0 / 0.0 stand in, as on the line path
        notes["scores_synthesised"] += synthesised
    if prompts_only:
        notes["no_completion"] += prompts_only
    return columnar_trl.rows_of(rec, name).drop("__line")  # in line order already
