"""`near_dedup`: MinHash + LSH near-duplicate removal with verified true-Jaccard threshold."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from datatools.frame import RECORD_LEVEL_FIELDS, effective_score, field_column, field_text
from datatools.filters import lsh, minhash
from datatools.step import Step, partition


class NearDedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[str] = Field(
        default_factory=lambda: ["prompt"], min_length=1,
        description="text compared: prompt / last_user (drops whole records) or completion / a "
        "column (drops single rows); several fields are joined",
    )
    shingle: Literal["word", "char"] = Field(
        "word", description="word n-grams, or character n-grams for CJK text without spaces")
    ngram: int = Field(5, ge=1, le=minhash.MAX_NGRAM, description="n-gram size of the shingles")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (signature length)")
    threshold: float = Field(
        0.8, gt=0.0, lt=1.0,
        description="true Jaccard similarity of shingle sets at or above which texts are "
        "near-duplicates (LSH finds candidates below it; each candidate is verified)")
    keep: Literal["first", "longest", "highest_score"] = Field(
        "first", description="which member of a cluster survives")
    seed: int = Field(1, description="MinHash permutation seed (datasketch's default is 1)")
    max_miss: float = Field(
        0.005, gt=0.0, lt=0.5,
        description="allowed LSH miss rate at exactly `threshold`; sets bands × rows")


@dataclass
class Clusters:
    rep: np.ndarray       # per document: index of the kept document that replaces it, or -1
    jaccard: np.ndarray   # estimated Jaccard to that kept document
    is_rep: np.ndarray    # per document: it is kept and has replaced others


def near_duplicates(texts: pl.Series, rank: np.ndarray, p: NearDedupParams) -> Clusters:
    """The whole algorithm on a list of texts; `rank` orders the keep preference (0 = best)."""
    hashes, offsets = minhash.shingle_hashes(texts, p.shingle, p.ngram)
    sig = minhash.signatures(hashes, offsets, p.num_perm, p.seed)
    bands, rows = lsh.choose_bands(p.threshold, p.num_perm, p.max_miss)
    docs = np.flatnonzero(np.diff(offsets) > 0)  # texts with no tokens are never duplicates
    pairs = lsh.candidate_pairs(sig, bands, rows, docs)
    ok, est = lsh.verify(pairs, sig, hashes, offsets, p.threshold)
    rep, jac = lsh.greedy_clusters(len(texts), pairs[ok], est[ok], rank)
    is_rep = np.zeros(len(texts), dtype=bool)
    is_rep[rep[rep >= 0]] = True
    return Clusters(rep=rep, jaccard=jac, is_rep=is_rep)


def keep_rank(docs: pl.DataFrame, keep: str) -> np.ndarray:
    """0..n-1 preference (first appearance breaks ties) from columns __text, __score."""
    n = docs.height
    pos = np.arange(n)
    if keep == "first":
        return pos
    if keep == "longest":
        primary = -docs["__text"].str.len_chars().to_numpy().astype(np.int64)
    else:
        s = docs["__score"].cast(pl.Float64).to_numpy()
        primary = np.where(np.isnan(s), np.inf, -s)  # unscored sorts last
    order = np.lexsort((pos, primary))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pos
    return rank


class NearDedup(Step):
    """Drop near-duplicates (MinHash/LSH over word or character n-grams). Prompt fields drop
    whole records; completion fields drop single rows. The detail names the kept member
    (the cluster id) and the estimated Jaccard to it."""

    name = "near_dedup"
    Params = NearDedupParams
    produces = ("near_dedup_cluster",)

    def required_columns(self) -> set[str]:
        return {field_column(f) for f in self.params.fields}

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        record_level = set(p.fields) <= RECORD_LEVEL_FIELDS
        key = "id" if record_level else "candidate_id"
        text = pl.concat_str([field_text(f) for f in p.fields], separator="\n")
        f = frame.with_row_index("__row")
        if record_level:
            # record-level fields come from the prompt alone: take each record's first prompt,
            # then build the text once per record, not for every candidate row (GBs at 1M)
            docs = (f.group_by("id", maintain_order=True)
                    .agg(pl.col("prompt").first(), effective_score().max().alias("__score"))
                    .select("id", text.alias("__text"), "__score"))
        else:
            docs = f.select("candidate_id", text.alias("__text"),
                            effective_score().alias("__score"))
        with self.ctx.progress(None, f"near_dedup ({docs.height} texts)"):
            cl = near_duplicates(docs["__text"], keep_rank(docs, p.keep), p)
        ids = docs[key].to_numpy()
        rep_id = np.where(cl.rep >= 0, ids[np.maximum(cl.rep, 0)], None)
        cluster = np.where(cl.is_rep, ids, rep_id)
        info = pl.DataFrame({
            key: docs[key],
            "near_dedup_cluster": pl.Series(cluster.tolist(), dtype=pl.String),
            "__rep": pl.Series(rep_id.tolist(), dtype=pl.String),
            "__jac": pl.Series(cl.jaccard, dtype=pl.Float64, nan_to_null=True),
        })
        f = f.drop("near_dedup_cluster", strict=False).join(
            info, on=key, how="left", maintain_order="left")
        what = "record" if record_level else "candidate"
        detail = pl.format(
            "near-duplicate of {} {} by {} (cluster {}, estimated Jaccard {} ≥ {})",
            pl.lit(what), pl.col("__rep"), pl.lit("/".join(p.fields)), pl.col("__rep"),
            pl.col("__jac").round(3), pl.lit(p.threshold))
        reason = pl.when(pl.col("__rep").is_not_null()).then(pl.lit("near_dedup.cluster"))
        kept, rejected = partition(f, reason, detail)
        drop = ["__row", "__rep", "__jac"]
        return kept.drop(drop), rejected.drop(drop)
