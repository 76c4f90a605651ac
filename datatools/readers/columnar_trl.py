"""TRL standard records (string prompt with chosen + rejected, or completion [+ label], or a
prompt alone; optional scores and id; no other key) turned into frame rows with polars
expressions: the commonest file, so it skips even the `Parsed` record the other shapes
build (`columnar_shapes`). `plain(d)` says which of these shapes a record has (-1: none);
its rows are exactly what `trl.parse` + `rows_from_record` give for it.
"""
from __future__ import annotations

import numpy as np
import polars as pl
import xxhash

from datatools.formats.base import PAIRWISE, PROMPT, SFT, UNARY
from datatools.frame import FRAME_SCHEMA, MESSAGE

PLAIN = frozenset({"prompt", "chosen", "rejected", "completion", "label", "score_chosen",
                   "score_rejected", "id"})
KINDS = (PAIRWISE, SFT, UNARY, PROMPT)


def _blank(v) -> bool:
    return v is None or (type(v) is str and (v == "" or v.isspace()))


def plain(d) -> int:
    """Which plain shape a parsed line has: 0 pairwise, 1 sft, 2 unary, 3 prompt; -1 none."""
    if type(d) is dict and len(d) <= 3:  # the commonest lines first, as the general rule below
        prompt = d.get("prompt")
        if type(prompt) is str:
            chosen, rejected = d.get("chosen"), d.get("rejected")
            if len(d) == 3 and type(chosen) is str and type(rejected) is str:
                return -1 if _blank(prompt) and _blank(chosen) and _blank(rejected) else 0
            completion = d.get("completion")  # {prompt, completion} and {id, prompt, completion}
            if type(completion) is str and (len(d) == 2 or "id" in d):
                own = d.get("id")
                if own is None or type(own) is str or type(own) is int:
                    return -1 if _blank(prompt) and _blank(completion) and _blank(own) else 1
    return general_shape(d)


def general_shape(d) -> int:
    """`plain` without its fast paths (the rule they must agree with: tested)."""
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


def content_id(shape: int, prompt: str, a, b) -> str:
    """`rows.content_id` of a plain record (one user turn and its answers)."""
    answers = (f"{a}\x1e{b}" if shape == 0 else "" if shape == 3 else a)
    text = f"user\x1f{prompt}\x1d{answers}"
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))[:16]


def content_ids(shape: pl.Series, prompt: pl.Series, a: pl.Series, b: pl.Series) -> list[str]:
    """`content_id` of each record, by the compiled kernel (`datatools/native/trl_ids.c`:
    the text hashed where polars holds it, never joined or turned into Python strings)
    where built."""
    from datatools.native import library, string_views

    lib = library()
    if lib is None:
        return [content_id(*r) for r in zip(*(c.to_list() for c in (shape, prompt, a, b)))]
    out = np.empty(16 * len(shape), dtype=np.uint8)
    (p, p_at, _p), (x, x_at, _x), (y, y_at, _y) = (string_views(c) for c in (prompt, a, b))
    lib.trl_content_ids(p, p_at, x, x_at, y, y_at, shape.cast(pl.Int8).to_numpy(), len(shape),
                        out)
    return np.frombuffer(out, dtype="S16").astype("U16").tolist()


class Columns:
    def __init__(self) -> None:
        self.id, self.line, self.shape, self.prompt, self.a, self.b = [], [], [], [], [], []
        self.score_a, self.score_b, self.label = [], [], []

    def add(self, record_id: str, line: int, shape: int, d: dict) -> None:
        self.id.append(record_id)
        self.line.append(line)
        self.shape.append(shape)
        self.prompt.append(d["prompt"])
        if shape == 1:  # sft: no second answer, no scores, no label (`plain` checked)
            self.a.append(d["completion"])
            for column in (self.b, self.score_a, self.score_b, self.label):
                column.append(None)
            return
        self.a.append(d.get("chosen") if shape == 0 else d.get("completion"))
        self.b.append(d.get("rejected"))
        sa, sb = d.get("score_chosen"), d.get("score_rejected")
        self.score_a.append(None if sa is None else float(sa))
        self.score_b.append(None if sb is None else float(sb))
        self.label.append(d.get("label"))

    def frame(self, name: str) -> pl.DataFrame:
        return rows_of(pl.DataFrame({
            "id": self.id, "__line": self.line, "shape": self.shape, "p": self.prompt,
            "a": self.a, "b": self.b, "sa": self.score_a, "sb": self.score_b, "label": self.label,
        }, schema=RECORDS), name)


# One plain record per row: its id, line, shape, prompt text, answers a (chosen or completion)
# and b (rejected), their scores and the label.
RECORDS = {"id": pl.String, "__line": pl.Int64, "shape": pl.Int8, "p": pl.String,
           "a": pl.String, "b": pl.String, "sa": pl.Float64, "sb": pl.Float64,
           "label": pl.Boolean}


def rows_of(rec: pl.DataFrame, name: str) -> pl.DataFrame:
    """Frame rows (FRAME_SCHEMA + __line) of plain records (`RECORDS`) read from `name`.

    Each record's first row holds its first answer (chosen or completion; none for a prompt
    alone), a pair's second row its rejected answer: the two sets of rows are made whole and
    interleaved by one gather, not built as per-row lists and exploded (`concat_list` of two
    string columns took 14 of the 23 ms a 14.6k-record block took)."""
    pair = pl.col("shape") == 0
    first = rec.select(
        "id", "__line", "p", pl.col("a").alias("completion"),
        pl.when(pair).then(pl.col("sa").fill_null(1.0)).alias("score"),
        pl.when(pl.col("shape") == 3).then(pl.lit("p")).otherwise(pl.lit("0")).alias("__suffix"),
        "label")
    second = rec.filter(pair).select(
        "id", "__line", "p", pl.col("b").alias("completion"),
        pl.col("sb").fill_null(0.0).alias("score"), pl.lit("1").alias("__suffix"), "label")
    # polars' reader leaves ~130 chunks per column: one chunk makes the gather 16x cheaper
    rows = pl.concat([first, second]).rechunk()
    if second.height:  # record i's rows at start[i] (and start[i] + 1 for a pair)
        is_pair = (rec["shape"] == 0).to_numpy()
        counts = 1 + is_pair.astype(np.int64)
        start = np.cumsum(counts) - counts
        order = np.empty(len(rows), dtype=np.int64)
        order[start] = np.arange(rec.height)
        order[start[is_pair] + 1] = rec.height + np.arange(second.height)
        rows = rows[order]
    return rows.with_columns(
        pl.format("{}:{}", pl.lit(name), pl.col("__line")).alias("source"),
        pl.concat_list(pl.struct(pl.lit("user").alias("role"), pl.col("p").alias("content")))
        .cast(pl.List(MESSAGE)).alias("prompt"),
        (pl.col("id") + "-" + pl.col("__suffix")).alias("candidate_id"),
        pl.when(pl.col("completion").is_not_null()).then(pl.lit("dataset")).alias("model"),
        pl.lit("{}").alias("meta"),
    ).select([pl.col(k).cast(t) for k, t in FRAME_SCHEMA.items()] + ["__line"])
