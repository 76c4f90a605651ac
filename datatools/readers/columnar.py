"""A columnar reader for local JSONL files in the common formats (TRL standard and
conversational, ShareGPT, Alpaca, ms-swift, UltraFeedback).

Each line is parsed with the same JSON parser as the per-line path (orjson); a record of its
format's plain shape (`columnar_shapes.PLAIN`: the same `Parsed` the adapter gives, without
the adapter's generality) goes straight into column lists, a chunk of records at a time,
which become the canonical frame column-wise (the prompt column assembled in Arrow); every
other line (malformed JSON, invalid UTF-8, a byte-order mark, another shape, odd types, blank
records, deep nesting) goes through the per-line path in place, so its rows and ledger rows —
file and line included — are exactly what that path gives. Ids are assigned in line order
with the per-line path's rules (`rows.take_id`), unused keys go to `meta` as there.

Why not `polars.read_ndjson` for every line (3x faster to parse): it silently turns a list into
its JSON text in a string column, reads a lone surrogate escape as "\\x00" and keeps the first of
duplicate keys where the per-line path keeps the last — the frame would differ, without an
error, from what the same line gives one line at a time. It reads TRL standard files only where
a compiled screen vouches for every line of a block (`native_trl`). Why one thread: orjson holds the GIL while it
builds Python objects, so a thread pool parsing chunks of lines measured no faster.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson
import polars as pl
import xxhash

from datatools.formats import ADAPTERS, ID_KEY
from datatools.formats.base import RecordError
from datatools.frame import FRAME_SCHEMA
from datatools.readers import columnar_trl
from datatools.readers.columnar_shapes import PLAIN
from datatools.readers.json_file import MAX_DEPTH, add_json_line
from datatools.readers.raw import RawPart
from datatools.readers.rows import add_parsed, frame_from_candidate_rows, parse_one, take_id

CHUNK = 50_000  # records turned into frame rows at a time (bounded memory, as the line path)
FORMATS = frozenset(PLAIN)


def _blank(v) -> bool:
    return v is None or (type(v) is str and (v == "" or v.isspace()))


def _content_id(prompt: list, completions: list) -> str:
    """`rows.content_id`, inlined (it runs once per record)."""
    text = "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in prompt) + "\x1d" + "\x1e".join(
        c["content"] for c in completions)
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))[:16]


class _Columns:
    """Record-level columns (id, source, meta, prompt as flat roles/contents + offsets) and
    row-level ones (one per candidate row, pointing at its record)."""

    def __init__(self) -> None:
        self.id, self.source, self.meta, self.line = [], [], [], []
        self.roles, self.contents, self.offsets = [], [], [0]
        self.rec, self.cand, self.completion, self.score, self.label, self.model = \
            [], [], [], [], [], []

    def add(self, record_id: str, source: str, line: int, parsed, meta: str) -> None:
        rec = len(self.id)
        self.id.append(record_id)
        self.source.append(source)
        self.meta.append(meta)
        self.line.append(line)
        for m in parsed.prompt:
            self.roles.append(m["role"])
            self.contents.append(m["content"])
        self.offsets.append(len(self.roles))
        completions = parsed.completions or (None,)  # no answer: one row, as rows_from_record
        for i, c in enumerate(completions):
            self.rec.append(rec)
            if c is None:
                self.cand.append(f"{record_id}-p")
                c, model = {"content": None}, None
            else:
                self.cand.append(f"{record_id}-{i}")
                model = c.get("model", "dataset")
            self.completion.append(c["content"])
            self.score.append(c.get("score"))
            self.label.append(c.get("label"))
            self.model.append(model)

    def frame(self) -> pl.DataFrame:
        import pyarrow as pa

        messages = pa.StructArray.from_arrays(
            [pa.array(self.roles, pa.large_string()), pa.array(self.contents, pa.large_string())],
            names=["role", "content"])
        prompt = pl.from_arrow(pa.LargeListArray.from_arrays(
            pa.array(self.offsets, pa.int64()), messages))
        records = pl.DataFrame({
            "id": pl.Series(self.id, dtype=pl.String),
            "source": pl.Series(self.source, dtype=pl.String),
            "prompt": prompt, "meta": pl.Series(self.meta, dtype=pl.String),
            "__line": pl.Series(self.line, dtype=pl.Int64)})
        rows = pl.DataFrame({
            "candidate_id": pl.Series(self.cand, dtype=pl.String),
            "completion": pl.Series(self.completion, dtype=pl.String),
            "score": pl.Series(self.score, dtype=pl.Float64),
            "label": pl.Series(self.label, dtype=pl.Boolean),
            "model": pl.Series(self.model, dtype=pl.String)})
        which = pl.Series(self.rec, dtype=pl.UInt32)
        records = records if len(self.rec) == len(self.id) else records.select(pl.all().gather(which))
        frame = pl.concat([records, rows], how="horizontal")
        return frame.select([pl.col(k).cast(t) for k, t in FRAME_SCHEMA.items()] + ["__line"])


def _piece(cols: _Columns, std, fallback_rows: list, name: str) -> pl.DataFrame | None:
    """One chunk's frame: the columnar rows (TRL standard ones, `std`, apart) and the per-line
    rows, in line order."""
    parts = []
    if cols.id:
        parts.append(cols.frame())
    if std is not None and std.id:
        parts.append(std.frame(name))
    if fallback_rows:
        f = frame_from_candidate_rows(fallback_rows)
        parts.append(f.with_columns(
            pl.col("source").str.extract(r":(\d+)$", 1).cast(pl.Int64).alias("__line")))
    if not parts:
        return None
    f = parts[0] if len(parts) == 1 else pl.concat(parts).sort("__line", maintain_order=True)
    return f.drop("__line")


def read_jsonl(path: Path, name: str, fmt: str, ids: Counter, notes: Counter | None = None,
               frames: list | None = None, lines=None):
    """(frames, rejects, seen, kinds) of a JSONL file in format `fmt` (one of FORMATS) read
    columnar, per-line where needed; `notes` counts what the line path counts (synthesised
    scores, records without an answer and their unused keys). `frames`: where each piece of
    the frame is appended as it is made (a new list if None). `lines`: (line number, bytes)
    pairs to read instead of the whole file (a byte range of it: `readers.parallel`)."""
    if lines is None:
        from datatools.readers import native_trl

        if fmt == "trl" and native_trl.available():  # polars' reader where the screen vouches
            notes = notes if notes is not None else Counter()
            return native_trl.read_jsonl(
                path, name, ids, notes, frames if frames is not None else [],
                lambda into, block: _read(name, fmt, ids, notes, into, block, _JsonLines))
        with open(path, "rb") as fh:
            return read_jsonl(path, name, fmt, ids, notes, frames, enumerate(fh, 1))
    return _read(name, fmt, ids, notes, frames, lines, _JsonLines)


def read_records(name: str, fmt: str, ids: Counter, notes: Counter | None = None,
                 frames: list | None = None, records=()):
    """`read_jsonl` for records already decoded: (index, dict) pairs, e.g. a parquet file's
    rows (`iter_rows(named=True)`, as the per-row path reads them), located `name:index`."""
    return _read(name, fmt, ids, notes, frames, records, _Decoded)


class _JsonLines:
    """A JSONL line: decoded by orjson (nesting past its limit raises: the line path then);
    a deep line goes to the line path's depth check; the line path is `add_json_line`."""
    decode = staticmethod(orjson.loads)
    errors = (orjson.JSONDecodeError, RecordError)

    @staticmethod
    def shallow(line: bytes) -> bool:
        return line.count(b"{") + line.count(b"[") <= MAX_DEPTH

    fallback = staticmethod(add_json_line)


class _Decoded:
    """A record already decoded (a parquet row): the per-row path is `RawPart.add`, which has
    no depth limit."""
    errors = (RecordError,)

    @staticmethod
    def decode(d):
        return d

    @staticmethod
    def shallow(d) -> bool:
        return True

    @staticmethod
    def fallback(part: RawPart, d, where: str) -> None:
        part.add(d, where)


def _read(name: str, fmt: str, ids: Counter, notes: Counter | None, frames: list | None,
          items, how) -> tuple[list, list, int, set]:
    notes = notes if notes is not None else Counter()
    frames = frames if frames is not None else []
    plain, keys = PLAIN[fmt], ADAPTERS[fmt].KEYS
    decode, errors, shallow, fallback = how.decode, how.errors, how.shallow, how.fallback
    rejects, kinds, seen = [], set(), 0
    trl_standard = fmt == "trl"
    cols, fallback_rows, count = _Columns(), [], 0
    std = columnar_trl.Columns() if trl_standard else None
    for lineno, line in items:
        if type(line) is bytes and (not line or line.isspace()):  # a blank line (isspace
            continue  # stops at the first other byte; strip copies)
        seen += 1
        parsed = None
        try:
            d = decode(line)
            shape = columnar_trl.plain(d) if trl_standard else -1
            if shape >= 0:  # scalars only: depth 1, so no depth check
                _add_standard(std, d, shape, lineno, ids, notes)
                kinds.add(columnar_trl.KINDS[shape])
                count += 1
                if count >= CHUNK:
                    frames, cols, std, fallback_rows, count = _flush(
                        frames, cols, std, fallback_rows, name)
                continue
            # a deep line goes to the line path's depth check
            if (type(d) is dict and shallow(line)
                    and not all(_blank(v) for v in d.values())):
                parsed = plain(d)
        except errors:
            parsed = None
        where = f"{name}:{lineno}"
        if parsed is not None:
            extras = {} if d.keys() <= keys else {
                k: v for k, v in d.items() if k not in keys and k != ID_KEY and v is not None}
            if extras:  # as parse_records + rows_from_record: unused keys are the meta
                parsed.meta = extras
            own = d.get(ID_KEY)
            base = (str(own) if type(own) in (str, int) and own != ""
                    else _content_id(parsed.prompt, parsed.completions))
            cols.add(take_id(ids, base), where, lineno, parsed,
                     json.dumps(extras, ensure_ascii=False, default=str) if extras else "{}")
            kinds.add(parsed.kind)
            notes["scores_synthesised"] += parsed.scores_synthesised
            if not parsed.completions:
                notes["no_completion"] += 1
                notes.update(f"unused:{key}" for key in d if key in parsed.meta)
        else:  # the per-line path, in place: same rows, same ledger rows
            part = RawPart(name)
            fallback(part, line, where)
            rejects.extend(part.rejects)
            if part.records:
                record = part.records[0]
                expanded = parse_one(record, fmt, where, rejects)
                if expanded is not None:
                    kinds |= add_parsed(record, expanded, where, fallback_rows, ids, notes)
        count += 1
        if count >= CHUNK:
            frames, cols, std, fallback_rows, count = _flush(
                frames, cols, std, fallback_rows, name)
    frames = _flush(frames, cols, std, fallback_rows, name)[0]
    return frames, rejects, seen, kinds


def _flush(frames: list, cols: _Columns, std, fallback_rows: list, name: str):
    """The chunk's frame appended; fresh columns for the next chunk."""
    piece = _piece(cols, std, fallback_rows, name)
    if piece is not None:
        frames.append(piece)
    return frames, _Columns(), None if std is None else columnar_trl.Columns(), [], 0


def _add_standard(std, d: dict, shape: int, lineno: int, ids: Counter, notes: Counter) -> None:
    """A TRL standard record (`columnar_trl`) into its columns; notes as the line path."""
    own = d.get("id")
    base = (str(own) if own is not None and own != ""
            else columnar_trl.content_id(shape, d["prompt"], d.get("chosen") if shape == 0
                                         else d.get("completion"), d.get("rejected")))
    std.add(take_id(ids, base), lineno, shape, d)
    if shape == 0 and d.get("score_chosen") is None and d.get("score_rejected") is None:
        notes["scores_synthesised"] += 1  # 1.0 / 0.0 stand in, as on the line path
    elif shape == 3:
        notes["no_completion"] += 1
