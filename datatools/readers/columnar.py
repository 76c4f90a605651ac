"""A columnar reader for the commonest file: TRL standard JSONL (string prompt with chosen +
rejected, or completion [+ label], or a prompt alone; optional scores and id).

Each line is parsed with the same JSON parser as the per-line path (orjson), and a record of
exactly that plain shape goes straight into column lists, a chunk of records at a time, which
polars turns into the canonical frame column-wise; every other line (malformed JSON, invalid
UTF-8, another shape, extra keys, nulls, odd types, blank records) goes through the per-line
path in place, so its rows and ledger rows — file and line included — are exactly what that
path gives. Ids are assigned in line order with the per-line path's rule (`rows.take_id`).

Why not `polars.read_ndjson` (3x faster to parse): it silently turns a list into its JSON text
in a string column, reads a lone surrogate escape as "\\x00" and keeps the first of duplicate
keys where the per-line path keeps the last — the frame would differ, without an error, from
what the same line gives one line at a time.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import polars as pl
import xxhash

from datatools.formats.base import PAIRWISE, PROMPT, SFT, UNARY
from datatools.frame import FRAME_SCHEMA, MESSAGE
from datatools.readers.json_file import add_json_line
from datatools.readers.raw import RawPart
from datatools.readers.rows import add_parsed, frame_from_candidate_rows, parse_one, take_id

PLAIN = frozenset({"prompt", "chosen", "rejected", "completion", "label", "score_chosen",
                   "score_rejected", "id"})
CHUNK = 50_000  # records turned into frame rows at a time (bounded memory, as the line path)
_KINDS = (PAIRWISE, SFT, UNARY, PROMPT)


def _blank(v) -> bool:
    return v is None or (type(v) is str and (v == "" or v.isspace()))


def _plain(d) -> int:
    """Which plain shape a parsed line has: 0 pairwise, 1 sft, 2 unary, 3 prompt; -1 none."""
    if type(d) is not dict or not d.keys() <= PLAIN or type(d.get("prompt")) is not str:
        return -1
    if all(_blank(v) for v in d.values()):
        return -1  # an empty record: the line path ledgers it
    own = d.get("id")
    if own is not None and type(own) not in (str, int):
        return -1
    chosen, rejected = d.get("chosen"), d.get("rejected")
    if chosen is not None or rejected is not None:
        if type(chosen) is not str or type(rejected) is not str or d.get("completion") is not None \
                or d.get("label") is not None:
            return -1
        for key in ("score_chosen", "score_rejected"):
            if d.get(key) is not None and type(d[key]) not in (int, float):
                return -1
        return 0
    if d.get("score_chosen") is not None or d.get("score_rejected") is not None:
        return -1
    completion, label = d.get("completion"), d.get("label")
    if completion is None:
        return 3 if label is None else -1
    if type(completion) is not str or (label is not None and type(label) is not bool):
        return -1
    return 1 if label is None else 2


def _content_id(shape: int, prompt: str, a, b) -> str:
    """`rows.content_id` of a plain record (one user turn and its answers)."""
    answers = (f"{a}\x1e{b}" if shape == 0 else "" if shape == 3 else a)
    text = f"user\x1f{prompt}\x1d{answers}"
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))[:16]


class _Columns:
    def __init__(self) -> None:
        self.id, self.line, self.shape, self.prompt, self.a, self.b = [], [], [], [], [], []
        self.score_a, self.score_b, self.label = [], [], []

    def add(self, record_id: str, line: int, shape: int, d: dict) -> None:
        self.id.append(record_id)
        self.line.append(line)
        self.shape.append(shape)
        self.prompt.append(d["prompt"])
        self.a.append(d.get("chosen") if shape == 0 else d.get("completion"))
        self.b.append(d.get("rejected"))
        sa, sb = d.get("score_chosen"), d.get("score_rejected")
        self.score_a.append(None if sa is None else float(sa))
        self.score_b.append(None if sb is None else float(sb))
        self.label.append(d.get("label"))

    def frame(self, name: str) -> pl.DataFrame:
        rec = pl.DataFrame({
            "id": self.id, "__line": self.line, "shape": self.shape, "p": self.prompt,
            "a": self.a, "b": self.b, "sa": self.score_a, "sb": self.score_b, "label": self.label,
        }, schema={"id": pl.String, "__line": pl.Int64, "shape": pl.Int8, "p": pl.String,
                   "a": pl.String, "b": pl.String, "sa": pl.Float64, "sb": pl.Float64,
                   "label": pl.Boolean})
        pair = pl.col("shape") == 0
        rows = rec.select(
            "id", "__line",
            pl.format("{}:{}", pl.lit(name), pl.col("__line")).alias("source"),
            pl.concat_list(pl.struct(pl.lit("user").alias("role"), pl.col("p").alias("content")))
            .cast(pl.List(MESSAGE)).alias("prompt"),
            pl.when(pair).then(pl.concat_list("a", "b")).otherwise(pl.concat_list("a"))
            .alias("completion"),
            pl.when(pair).then(pl.concat_list(pl.col("sa").fill_null(1.0),
                                              pl.col("sb").fill_null(0.0)))
            .otherwise(pl.concat_list(pl.lit(None, pl.Float64))).alias("score"),
            pl.when(pair).then(pl.lit(["0", "1"])).when(pl.col("shape") == 3).then(pl.lit(["p"]))
            .otherwise(pl.lit(["0"])).alias("__suffix"),
            "label",
        ).explode(["completion", "score", "__suffix"])
        return rows.with_columns(
            (pl.col("id") + "-" + pl.col("__suffix")).alias("candidate_id"),
            pl.when(pl.col("completion").is_not_null()).then(pl.lit("dataset")).alias("model"),
            pl.lit("{}").alias("meta"),
        ).select([pl.col(k).cast(t) for k, t in FRAME_SCHEMA.items()] + ["__line"])


def _piece(cols: _Columns, fallback_rows: list, name: str) -> pl.DataFrame | None:
    """One chunk's frame: the columnar rows and the per-line rows, in line order."""
    parts = []
    if cols.id:
        parts.append(cols.frame(name))
    if fallback_rows:
        f = frame_from_candidate_rows(fallback_rows)
        parts.append(f.with_columns(
            pl.col("source").str.extract(r":(\d+)$", 1).cast(pl.Int64).alias("__line")))
    if not parts:
        return None
    f = parts[0] if len(parts) == 1 else pl.concat(parts).sort("__line", maintain_order=True)
    return f.drop("__line")


def read_trl_jsonl(path: Path, name: str, ids: Counter, notes: Counter | None = None,
                   frames: list | None = None):
    """(frames, rejects, seen, kinds) of a TRL JSONL file read columnar, per-line where needed;
    `notes` counts what the line path counts (synthesised scores, records without an answer).
    `frames`: where each piece of the frame is appended as it is made (a new list if None)."""
    notes = notes if notes is not None else Counter()
    frames = frames if frames is not None else []
    rejects, kinds, seen = [], set(), 0
    cols, fallback_rows, count = _Columns(), [], 0
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            seen += 1
            try:
                d = orjson.loads(line)
                shape = _plain(d)
            except orjson.JSONDecodeError:
                shape = -1
            if shape >= 0:
                own = d.get("id")
                base = (str(own) if own is not None and own != ""
                        else _content_id(shape, d["prompt"], d.get("chosen") if shape == 0
                                         else d.get("completion"), d.get("rejected")))
                cols.add(take_id(ids, base), lineno, shape, d)
                kinds.add(_KINDS[shape])
                if shape == 0 and d.get("score_chosen") is None and d.get("score_rejected") is None:
                    notes["scores_synthesised"] += 1  # 1.0 / 0.0 stand in, as on the line path
                elif shape == 3:
                    notes["no_completion"] += 1
            else:  # the per-line path, in place: same rows, same ledger rows
                where = f"{name}:{lineno}"
                part = RawPart(name)
                add_json_line(part, line, where)
                rejects.extend(part.rejects)
                if part.records:
                    record = part.records[0]
                    expanded = parse_one(record, "trl", where, rejects)
                    if expanded is not None:
                        kinds |= add_parsed(record, expanded, where, fallback_rows, ids, notes)
            count += 1
            if count >= CHUNK:
                piece = _piece(cols, fallback_rows, name)
                if piece is not None:
                    frames.append(piece)
                cols, fallback_rows, count = _Columns(), [], 0
    piece = _piece(cols, fallback_rows, name)
    if piece is not None:
        frames.append(piece)
    return frames, rejects, seen, kinds
