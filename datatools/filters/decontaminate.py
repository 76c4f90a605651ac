"""`decontaminate`: drop records whose prompt overlaps an evaluation set.

n-gram mode follows GPT-3's contamination check (Brown et al. 2020, App. C: 13-gram overlap):
a prompt sharing at least `min_overlap` word n-grams (or character n-grams for CJK) with any
eval text is contaminated; texts shorter than n tokens are one shingle, so a short eval
question matches only a prompt that equals it. MinHash mode flags prompts whose estimated
Jaccard with an eval text is ≥ `threshold` (LSH candidates, then verified as in near_dedup).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from datatools.filters import lsh, minhash
from datatools.frame import field_text
from datatools.step import Step, missing_file, partition

TEXT_KEYS = ("turns", "prompt", "question", "instruction", "input", "text", "query")
ID_KEYS = ("question_id", "id", "task_id", "idx")


class DecontaminateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    eval_sets: list[str] = Field(min_length=1, description="JSONL / JSON files of eval items")
    text_field: str | None = Field(
        None, description="field holding the eval text (a string or list of strings, e.g. "
        "MT-Bench `turns`); default: the first of " + ", ".join(TEXT_KEYS))
    id_field: str | None = Field(
        None, description="eval item id field; default: the first of " + ", ".join(ID_KEYS)
        + ", else the line number")
    field: Literal["prompt", "last_user"] = Field("prompt", description="record text compared")
    method: Literal["ngram", "minhash"] = Field("ngram", description="overlap test")
    shingle: Literal["word", "char"] = Field("word", description="word or character (CJK) n-grams")
    ngram: int = Field(13, ge=1, le=minhash.MAX_NGRAM, description="n-gram size")
    min_overlap: int = Field(1, ge=1, description="ngram mode: shared n-grams that make a match")
    threshold: float = Field(0.5, gt=0, lt=1, description="minhash mode: Jaccard threshold")
    num_perm: int = Field(128, ge=16, le=1024, description="minhash mode: permutations")


def load_eval_items(path: Path, text_field: str | None, id_field: str | None) -> pl.DataFrame:
    """One row per eval text: (item, text); list fields (turns) give one row per element."""
    raw = path.read_text(encoding="utf-8-sig")  # a BOM (Windows exports) is not text
    if path.suffix == ".json":
        data = json.loads(raw)
        items = data if isinstance(data, list) else data.get("data", [])
    else:
        items = [json.loads(line) for line in raw.splitlines() if line.strip()]
    rows = []
    for n, item in enumerate(items):
        tkey = text_field or next((k for k in TEXT_KEYS if k in item), None)
        ikey = id_field or next((k for k in ID_KEYS if k in item), None)
        if tkey is None or tkey not in item:
            raise ValueError(f"{path}: item {n} has no text field (tried {text_field or TEXT_KEYS})")
        val = item[tkey]
        texts = val if isinstance(val, list) else [val]
        label = f"{path.name}#{item[ikey] if ikey in item else n}"
        rows += [{"item": label, "text": str(t)} for t in texts if t]
    return pl.DataFrame(rows, schema={"item": pl.String, "text": pl.String})


class Decontaminate(Step):
    """Drop records whose prompt overlaps an eval set (reason decontaminate.match); the detail
    names the eval file, item id, a snippet, and the overlap."""

    name = "decontaminate"
    scope = "global"  # one benchmark index for the whole dataset
    filters_rows = True
    Params = DecontaminateParams

    def check(self, ctx) -> list:
        return [p for i, f in enumerate(self.params.eval_sets)
                for p in missing_file(ctx, f, f"eval_sets[{i}]", "eval set")]

    def _eval(self) -> pl.DataFrame:
        p = self.params
        return pl.concat([load_eval_items(self.ctx.resolve(e), p.text_field, p.id_field)
                          for e in p.eval_sets])

    def _ngram(self, prompts: pl.Series, ev: pl.DataFrame):
        p = self.params
        eh, eoff = minhash.shingle_hashes(ev["text"], p.shingle, p.ngram)
        owner = np.repeat(np.arange(ev.height), np.diff(eoff))
        order = np.argsort(eh, kind="stable")
        eh, owner = eh[order], owner[order]
        ph, poff = minhash.shingle_hashes(prompts, p.shingle, p.ngram)
        doc = np.repeat(np.arange(len(prompts)), np.diff(poff))
        pos = np.minimum(np.searchsorted(eh, ph), max(len(eh) - 1, 0))
        hit = (eh[pos] == ph) if len(eh) else np.zeros(len(ph), bool)
        # count distinct shared n-grams per prompt, and the eval text of the first one
        uniq = np.unique(np.stack([doc[hit], ph[hit].astype(np.int64)], axis=1), axis=0)
        count = np.bincount(uniq[:, 0], minlength=len(prompts)) if len(uniq) else np.zeros(len(prompts), int)
        first = np.full(len(prompts), -1)
        hd = doc[hit][::-1]
        first[hd] = owner[pos[hit]][::-1]  # reversed so the earliest hit wins
        return count >= p.min_overlap, first, [f"{c} shared {p.ngram}-grams" for c in count]

    def _minhash(self, prompts: pl.Series, ev: pl.DataFrame):
        p = self.params
        texts = pl.concat([ev["text"], prompts])
        h, off = minhash.shingle_hashes(texts, p.shingle, p.ngram)
        sig = minhash.signatures(h, off, p.num_perm, 1)
        b, r = lsh.choose_bands(p.threshold, p.num_perm)
        pairs = lsh.candidate_pairs(sig, b, r, np.flatnonzero(np.diff(off) > 0))
        pairs = pairs[(pairs[:, 0] < ev.height) & (pairs[:, 1] >= ev.height)]
        ok, est = lsh.verify(pairs, sig, h, off, p.threshold)
        pairs, est = pairs[ok], est[ok]
        match = np.zeros(len(prompts), bool)
        first = np.full(len(prompts), -1)
        best = np.zeros(len(prompts))
        for (e, d), j in zip(pairs.tolist(), est.tolist()):
            d -= ev.height
            if j > best[d]:
                match[d], first[d], best[d] = True, e, j
        return match, first, [f"estimated Jaccard {j:.2f}" for j in best]

    def __call__(self, frame: pl.DataFrame):
        ev = self._eval()
        recs = frame.group_by("id", maintain_order=True).agg(
            field_text(self.params.field).first().alias("__t"))
        run = self._ngram if self.params.method == "ngram" else self._minhash
        with self.ctx.progress(None, f"decontaminate ({recs.height} prompts, {ev.height} eval texts)"):
            match, first, how = run(recs["__t"], ev)
        items = ev["item"].to_numpy()
        snippets = [t[:80] + ("…" if len(t) > 80 else "") for t in ev["text"].to_list()]
        detail = [f"prompt matches eval item {items[e]} ({h}): {snippets[e]!r}" if m else None
                  for m, e, h in zip(match.tolist(), first.tolist(), how)]
        info = pl.DataFrame({"id": recs["id"], "__dc": pl.Series(detail, dtype=pl.String)})
        f = frame.join(info, on="id", how="left", maintain_order="left")
        kept, rejected = partition(
            f, pl.when(pl.col("__dc").is_not_null()).then(pl.lit("decontaminate.match")),
            pl.col("__dc"))
        return kept.drop("__dc"), rejected.drop("__dc")
