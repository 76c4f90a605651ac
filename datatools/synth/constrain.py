"""`constrain_prompts`: seed prompts → verifiable instruction-following prompts.

TÜLU 3 (Lambert et al. 2024) builds its IFEval-style RLVR prompts by attaching verifiable
constraints to seed prompts. This step does that with the templates of
datatools/verifiers/templates.py and no LLM: each variant of a seed prompt gets 1–k compatible
constraints (seeded by recipe seed, record id and variant number), their sentences appended to
the last user turn and their ids + kwargs written to `meta.constraints` in IFEval's own shape,
so the `verifiable` step and GRPO's rewards check exactly what was asked.

A share of seed prompts (chosen by a hash of the seed text, so copies of one prompt land on one
side) is marked `meta.split = "held_out"` for evaluation; training variants whose seed prompt
shares a word n-gram with a held-out seed prompt are dropped (`constrain_prompts.overlaps_held_out`),
so the held-out prompts are never trained on. Identical variants (same text, same constraints)
are dropped (`constrain_prompts.duplicate`). Seed answers do not answer the constrained prompt:
they are ledgered (`constrain_prompts.answer_replaced`) unless `keep_seed` keeps the seed record.
"""
from __future__ import annotations

import json
import random

import numpy as np
import polars as pl
import xxhash
from pydantic import BaseModel, ConfigDict, Field, field_validator

from datatools.filters import minhash
from datatools.step import Step
from datatools.verifiers import IFEVAL_CHECKS
from datatools.verifiers.templates import TEMPLATES, compatible

DUPLICATE = "constrain_prompts.duplicate"
OVERLAP = "constrain_prompts.overlaps_held_out"
ANSWER_REPLACED = "constrain_prompts.answer_replaced"
HELD_OUT, TRAIN = "held_out", "train"


class ConstrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variants: int = Field(1, ge=1, le=100, description="constrained variants per seed prompt")
    min_constraints: int = Field(1, ge=1, le=5, description="constraints per variant, at least")
    max_constraints: int = Field(2, ge=1, le=5, description="constraints per variant, at most")
    types: list[str] | None = Field(
        None, description="IFEval ids to draw from (default: all 25), e.g. "
        "[punctuation:no_comma, length_constraints:number_words]")
    held_out_fraction: float = Field(
        0.0, ge=0, lt=1, description="share of seed prompts marked meta.split=held_out (for "
        "evaluation; never trained on)")
    held_out_ngram: int = Field(
        8, ge=1, le=minhash.MAX_NGRAM, description="training variants whose seed prompt shares "
        "a word n-gram of this size with a held-out seed prompt are dropped")
    keep_seed: bool = Field(False, description="also keep each seed record unchanged")

    @field_validator("types")
    @classmethod
    def _known(cls, types):
        unknown = [t for t in types or [] if t not in IFEVAL_CHECKS]
        if unknown:
            raise ValueError(f"unknown IFEval ids {unknown}; known: {', '.join(IFEVAL_CHECKS)}")
        return types


def _unit(*parts) -> float:
    """A stable number in [0, 1) from `parts` (same on every machine and run)."""
    return xxhash.xxh64_intdigest("\x1f".join(map(str, parts)).encode()) / 2.0**64


class ConstrainPrompts(Step):
    """Attach seeded IFEval constraints to seed prompts (meta.constraints), with a held-out split."""

    name = "constrain_prompts"
    Params = ConstrainParams
    row_preserving = False
    scope = "global"  # dedup and the held-out overlap compare all records

    def produced_columns(self) -> set[str]:
        return {"prompt", "meta"}

    def _variant(self, prompt, seed_text, rid, k):
        p = self.params
        rng = random.Random(f"{self.ctx.seed}\x1f{rid}\x1f{k}")
        pool = list(p.types or IFEVAL_CHECKS)
        rng.shuffle(pool)
        n = rng.randint(p.min_constraints, max(p.min_constraints, p.max_constraints))
        chosen: list[str] = []
        for name in pool:
            if len(chosen) < n and compatible(chosen, name):
                chosen.append(name)
        sentences, kwargs = [], []
        for name in chosen:
            sentence, kw = TEMPLATES[name](rng, seed_text)
            sentences.append(sentence)
            kwargs.append(kw)
        turns = [dict(m) for m in prompt]
        last = max(i for i, m in enumerate(turns) if m["role"] == "user")
        turns[last]["content"] = turns[last]["content"].rstrip() + "\n\n" + " ".join(sentences)
        return turns, {"instruction_id_list": chosen, "kwargs": kwargs}

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        firsts = frame.unique("id", keep="first", maintain_order=True)
        new_rows, seed_of = [], []
        for rec in firsts.iter_rows(named=True):
            meta = json.loads(rec["meta"] or "{}")
            user = [m["content"] for m in rec["prompt"] if m["role"] == "user"]
            seed_text = user[-1] if user else ""
            split = HELD_OUT if _unit(self.ctx.seed, " ".join(seed_text.lower().split())) \
                < p.held_out_fraction else TRAIN
            for k in range(p.variants):
                turns, constraints = self._variant(rec["prompt"], seed_text, rec["id"], k)
                vid = rec["id"] if k == 0 and not p.keep_seed else f"{rec['id']}#c{k}"
                new_rows.append({**rec, "id": vid, "candidate_id": vid, "prompt": turns,
                                 "completion": None, "score": None, "label": None,
                                 "model": None, "meta": json.dumps(
                                     {**meta, "constraints": constraints, "seed_id": rec["id"],
                                      "split": split}, ensure_ascii=False)})
                seed_of.append(seed_text)
        variants = pl.DataFrame(new_rows, schema=frame.schema) if new_rows else frame.clear()
        reason, detail = self._reasons(variants, seed_of)
        tagged = variants.with_columns(pl.Series("reason", reason, pl.String),
                                       pl.Series("detail", detail, pl.String))
        kept = tagged.filter(pl.col("reason").is_null()).drop("reason", "detail")
        rejected = [tagged.filter(pl.col("reason").is_not_null())]
        if p.keep_seed:
            kept = pl.concat([frame, kept])
        else:
            answered = frame.filter(pl.col("completion").is_not_null())
            rejected.append(answered.with_columns(
                reason=pl.lit(ANSWER_REPLACED), detail=pl.lit(
                    "an answer to the seed prompt does not answer the constrained prompt "
                    "(keep_seed: true keeps the seed record)")))
        return kept, pl.concat(rejected, how="vertical_relaxed")

    def _reasons(self, variants: pl.DataFrame, seed_text: list[str]):
        """(reason, detail) per variant: duplicate of an earlier variant, or a training variant
        whose seed prompt overlaps a held-out one."""
        n = variants.height
        reason: list[str | None] = [None] * n
        detail: list[str | None] = [None] * n
        seen: dict[str, str] = {}
        metas = [json.loads(m) for m in variants["meta"].to_list()]
        for i, (turns, meta, vid) in enumerate(zip(variants["prompt"].to_list(), metas,
                                                   variants["id"].to_list())):
            key = json.dumps([[m["content"].strip().lower() for m in turns],
                              meta["constraints"]], sort_keys=True)
            if key in seen:
                reason[i], detail[i] = DUPLICATE, f"same prompt and constraints as {seen[key]}"
            else:
                seen[key] = vid
        held = [i for i, m in enumerate(metas) if m["split"] == HELD_OUT]
        if held and len(held) < n:
            texts = pl.Series(seed_text, dtype=pl.String)
            h, off = minhash.shingle_hashes(texts, "word", self.params.held_out_ngram)
            owner = np.repeat(np.arange(n), np.diff(off))
            held_mask = np.zeros(n, bool)
            held_mask[held] = True
            held_hashes = np.unique(h[held_mask[owner]])
            hit = np.isin(h, held_hashes) & ~held_mask[owner]
            for i in np.unique(owner[hit]).tolist():
                if reason[i] is None:
                    reason[i] = OVERLAP
                    detail[i] = (f"seed prompt shares a {self.params.held_out_ngram}-word "
                                 "n-gram with a held-out seed prompt")
        return reason, detail
