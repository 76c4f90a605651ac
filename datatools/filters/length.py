"""`length`: bounds on prompt / completion length in characters, words and tokens, and on the
chosen/rejected length ratio (DPO learns a length preference from pairs whose chosen answer is
systematically longer: Singhal et al. 2023, "A Long Way to Go"; Park et al. 2024, R-DPO)."""
from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datatools.schemas.errors import ConfigError, Problem

from datatools.builders.ranking import candidate_role
from datatools.frame import RECORD_LEVEL_FIELDS, field_text
from datatools.loading import loading
from datatools.step import Step, missing_file, partition, select_in_slices, select_per_record

UNITS = ("chars", "words", "tokens")


class Bounds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_chars: int | None = Field(None, ge=0, description="minimum characters")
    max_chars: int | None = Field(None, ge=1, description="maximum characters")
    min_words: int | None = Field(None, ge=0, description="minimum whitespace-separated words")
    max_words: int | None = Field(None, ge=1, description="maximum words")
    min_tokens: int | None = Field(None, ge=0, description="minimum tokens of `tokenizer`")
    max_tokens: int | None = Field(None, ge=1, description="maximum tokens of `tokenizer`")

    def checks(self):
        for unit in UNITS:
            yield unit, getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")


class LengthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: Bounds = Field(default_factory=Bounds,
                           description="bounds on the prompt (all turns); violations drop the record")
    completion: Bounds = Field(default_factory=Bounds,
                               description="bounds on each completion; violations drop the row")
    tokenizer: str | None = Field(
        None, description="tokenizer (Hub id or local folder) for *_tokens bounds and ratio_unit=tokens")
    min_ratio: float | None = Field(None, gt=0, description="minimum chosen/rejected length ratio")
    max_ratio: float | None = Field(None, gt=0, description="maximum chosen/rejected length ratio")
    ratio_unit: Literal["chars", "words", "tokens"] = Field("chars", description="unit of the ratio")

    @model_validator(mode="after")
    def _need_tokenizer(self):
        uses = (self.prompt.min_tokens, self.prompt.max_tokens, self.completion.min_tokens,
                self.completion.max_tokens)
        ratio_tokens = self.ratio_unit == "tokens" and (self.min_ratio or self.max_ratio)
        if (any(u is not None for u in uses) or ratio_tokens) and not self.tokenizer:
            raise ValueError("token bounds need `tokenizer`")
        return self


def word_counts(text: pl.Series) -> pl.Series:
    r"""`text.str.count_matches(r"\S+")` (words: runs of Unicode non-whitespace), by the
    compiled kernel (`datatools/native/words.c`, one pass of 64-byte masks) where it is
    built, else by `polars_word_counts`."""
    import numpy as np

    from datatools.native import library, string_views

    lib = library()
    if lib is None:
        return polars_word_counts(text)
    views, buffers, _arrow = string_views(text)
    counts = np.empty(len(text), dtype=np.uint32)
    lib.word_counts(views, buffers, len(text), counts)
    counts = pl.Series(text.name, counts)
    return counts.scatter(text.is_null().arg_true(), None) if text.null_count() else counts


def polars_word_counts(text: pl.Series) -> pl.Series:
    r"""`text.str.count_matches(r"\S+")` with polars alone, faster than the regex.

    Counting regex matches costs ~50 ns a word. Most text is "plain": words separated by
    single ASCII spaces, none leading or trailing; its words are its spaces + 1, and that
    count and the tests for plain run at memchr speed (2.5x less CPU on ASCII text).
    Non-ASCII text may hold Unicode spaces (U+00A0, U+3000, ...), so it also needs a class
    search (no per-word cost: 1.7x); only text that is not plain (tabs, newlines: a prompt's
    joined turns, runs of spaces, empty) is counted by the regex (~10% slower than before).
    The ASCII whitespace of `\s` is [\t-\r ]; the tests pin that."""
    plain = ~(text.str.contains(r"[\t-\r]") | text.str.contains("  ", literal=True)
              | text.str.starts_with(" ") | text.str.ends_with(" ")) & (text.str.len_bytes() > 0)
    unicode = (plain & (text.str.len_chars() != text.str.len_bytes())).arg_true()
    if len(unicode):
        plain = plain.scatter(unicode, ~text.gather(unicode).str.contains(r"[^\S ]"))
    counts = pl.repeat(None, len(text), dtype=pl.UInt32, eager=True)  # null text: null
    # " " as a regex, not literal=True: polars' literal count took 1.5x the CPU (README)
    for rows, count in ((plain.arg_true(), lambda t: t.str.count_matches(" ") + 1),
                        ((~plain).arg_true(), lambda t: t.str.count_matches(r"\S+"))):
        if len(rows):
            counts.scatter(rows, count(text.gather(rows)).cast(pl.UInt32))
    return counts.alias(text.name)


def token_counts(tokenizer, texts: list[str], batch: int = 1024) -> list[int]:
    out: list[int] = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i:i + batch], add_special_tokens=False)["input_ids"]
        out.extend(len(e) for e in enc)
    return out


class Length(Step):
    """Drop records whose prompt, and rows whose completion, fall outside length bounds; drop
    records whose chosen/rejected length ratio is outside [min_ratio, max_ratio]. Reasons:
    length.<prompt|completion>_<chars|words|tokens>, length.ratio."""

    name = "length"
    scope = "record"  # chosen/rejected length ratio
    filters_rows = True
    Params = LengthParams
    requires = ("prompt", "completion", "score", "label")

    def check(self, ctx) -> list:
        """A tokenizer named for token bounds must load (offline it must be local or cached)."""
        src = self.params.tokenizer
        if not src:
            return []
        missing = missing_file(ctx, src, "tokenizer", "tokenizer", hub_ok=True)
        if missing:
            return missing
        try:
            self._tokenizer()
        except ConfigError as err:
            return [Problem("tokenizer", p.message) for p in err.problems]
        return []

    def model_keys(self) -> list:
        from datatools.models.registry import ModelKey

        src = self.params.tokenizer
        if not src or f"tokenizer:{src}" in self.ctx.backends:  # none, or one provided
            return []
        path = self.ctx.resolve(src)
        return [ModelKey("tokenizer", str(path) if path.exists() else src, label=src)]

    def _tokenizer(self):
        tok = self.ctx.backends.get(f"tokenizer:{self.params.tokenizer}")
        if tok is None:
            key = self.model_keys()[0]
            tok = self.ctx.models.acquire(key, lambda: self._load_tokenizer(key.name))
        return tok

    def _load_tokenizer(self, where: str):
        from transformers import AutoTokenizer

        with loading("tokenizer", self.params.tokenizer, "length.tokenizer"):
            return AutoTokenizer.from_pretrained(where)

    def _measure(self, f: pl.DataFrame, field: str, units: set[str]) -> pl.DataFrame:
        text = field_text(field)
        cols = {"chars": text.str.len_chars(), "words": text.map_batches(word_counts, pl.UInt32)}
        counted = [cols[u].alias(f"__{field}_{u}") for u in units if u != "tokens"]
        if counted:  # slice by slice: the prompt text is joined from its turns to count it
            per = select_per_record if field in RECORD_LEVEL_FIELDS else select_in_slices
            f = f.hstack(per(f, *counted))
        if "tokens" in units:
            uniq = f.select(text.alias("__t")).unique()
            with self.ctx.progress(uniq.height, f"length: tokenising {field}s"):
                counts = token_counts(self._tokenizer(), uniq["__t"].to_list())
            uniq = uniq.with_columns(pl.Series(f"__{field}_tokens", counts, dtype=pl.Int64))
            f = f.with_columns(text.alias("__t")).join(uniq, on="__t", how="left",
                                                        maintain_order="left").drop("__t")
        return f

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        f = frame
        need = {"prompt": set(), "completion": set()}
        for field in need:
            need[field] = {u for u, lo, hi in getattr(p, field).checks() if lo is not None or hi is not None}
        if p.min_ratio or p.max_ratio:
            need["completion"].add(p.ratio_unit)
        for field, units in need.items():
            if units:
                f = self._measure(f, field, units)
        reasons, details = [], []
        for field in ("prompt", "completion"):
            for unit, lo, hi in getattr(p, field).checks():
                col = pl.col(f"__{field}_{unit}")
                applies = pl.lit(True) if field == "prompt" else pl.col("completion").is_not_null()
                for bound, bad, op in ((lo, col < (lo or 0), "<"), (hi, col > (hi or 0), ">")):
                    if bound is None:
                        continue
                    code = f"length.{field}_{unit}"
                    reasons.append(pl.when(applies & bad).then(pl.lit(code)))
                    details.append(pl.when(applies & bad).then(
                        pl.format(f"{field} {unit}={{}} {op} {'min' if op == '<' else 'max'} {bound}", col)))
        if p.min_ratio or p.max_ratio:
            n = pl.col(f"__completion_{p.ratio_unit}").cast(pl.Float64)
            role = candidate_role()
            chosen_len = n.filter(role == "chosen").first().over("id")
            rejected_len = n.filter(role == "rejected").first().over("id")
            ratio = chosen_len / rejected_len
            bad = ((pl.lit(p.min_ratio is not None) & (ratio < (p.min_ratio or 0)))
                   | (pl.lit(p.max_ratio is not None) & (ratio > (p.max_ratio or 0))))
            bad = bad.fill_null(False) & rejected_len.is_not_null() & (rejected_len > 0)
            f = f.with_columns(ratio.alias("__ratio"), bad.alias("__ratio_bad"))
            reasons.append(pl.when(pl.col("__ratio_bad")).then(pl.lit("length.ratio")))
            details.append(pl.when(pl.col("__ratio_bad")).then(pl.format(
                f"chosen/rejected {p.ratio_unit} ratio {{}} outside [{p.min_ratio}, {p.max_ratio}]",
                pl.col("__ratio").round(2))))
        if not reasons:
            return partition(f, pl.lit(None, pl.String))
        # a prompt violation is record-level: every row of the record shares the prompt
        kept, rejected = partition(f, pl.coalesce(reasons), pl.coalesce(details), row_wise=True)
        tmp = [c for c in f.columns if c.startswith("__")]
        return kept.drop(tmp), rejected.drop(tmp)
