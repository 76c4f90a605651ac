"""`near_dedup`: MinHash + LSH near-duplicate removal with verified true-Jaccard threshold."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from datatools.builders.ranking import rank_score
from datatools.frame import RECORD_LEVEL_FIELDS, field_column, field_text
from datatools.filters import lsh, minhash
from datatools.step import Step, partition, select_in_slices, text_slices
from datatools.threads import ordered_map


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
    cluster: Literal["components", "star"] = Field(
        "components", description="components: one survivor per connected group of verified "
        "pairs (two copies of one original go together, even when they are below the "
        "threshold to each other); star: each dropped text is itself ≥ threshold to the "
        "survivor that replaced it (a family can keep several survivors)")
    sketch: Literal["auto", "minhash"] = Field(
        "auto", description="candidate signatures: auto = k-permutation MinHash for texts "
        "of fewer than num_perm shingles and one permutation with densification (one hash per "
        "shingle: ~4x faster signatures on long texts) from threshold × num_perm up, both in between; "
        "minhash = k permutations for every text. Candidates are verified the same way")
    seed: int = Field(1, description="MinHash permutation seed (datasketch's default is 1)")
    max_miss: float = Field(
        1e-4, gt=0.0, lt=0.5,
        description="bound on the probability that LSH misses a pair at exactly `threshold` "
        "(lower for pairs above it): sets bands × rows, (1 - t^rows)^bands ≤ max_miss")


SIGNATURE_CHUNK = 1 << 16  # documents whose MinHash signatures are held at once


@dataclass
class Clusters:
    rep: np.ndarray       # per document: index of the kept document that replaces it, or -1
    link: np.ndarray      # per dropped document: the verified partner it was matched to
    jaccard: np.ndarray   # estimated Jaccard to that partner
    is_rep: np.ndarray    # per document: it is kept and has replaced others


def near_duplicates(texts: pl.Series | Iterable[pl.Series], rank: np.ndarray,
                    p: NearDedupParams) -> Clusters:
    """The whole algorithm on a list of texts (or a stream of Series slices of it, so the
    texts need not all be in memory at once); `rank` orders the keep preference (0 = best)."""
    hashes, offsets, docs, keys = band_keys_of(texts, p)
    pairs = lsh.pairs_from_keys(keys, docs)
    del keys
    return resolve_pairs(pairs, hashes, offsets, rank, p)


def sketch_groups(counts: np.ndarray, p: NearDedupParams) -> list[tuple[str, np.ndarray]]:
    """The documents banded by each sketch (`minhash.SKETCHES`), from their shingle counts.

    One permutation (`oph`) costs one operation per shingle but fills its empty bins in rounds,
    which is slower than k permutations for texts of far fewer shingles than bins (41 shingles,
    128 bins: 2.4x slower, measured), and faster from about k shingles up (196: ~4x). So with
    `auto`, texts of fewer than k shingles get MinHash bands, texts of at least threshold × k
    get OPH bands, and texts in between get both. Two texts with Jaccard J ≥ threshold have
    shingle counts within a factor J of each other (J ≤ min/max), so they always share one
    sketch: the candidate bound (`max_miss`) holds across the split."""
    docs = np.flatnonzero(counts > 0)  # texts with no tokens are never duplicates
    if p.sketch == "minhash":
        return [("minhash", docs)]
    n = counts[docs]
    return [(name, part) for name, part in (
        ("minhash", docs[n < p.num_perm]),
        ("oph", docs[n >= int(np.ceil(p.threshold * p.num_perm))])) if len(part)]


# the two sketches' band keys in different key spaces: a MinHash key meets an OPH key only by
# a 2^-64 chance (and such a false candidate is verified like any other)
_SKETCH_SALT = {"minhash": np.uint64(0), "oph": np.uint64(0x9E3779B97F4A7C15)}


def band_keys_of(texts: pl.Series | Iterable[pl.Series], p: NearDedupParams):
    """(shingle hashes, offsets, docs, keys): the texts' hashed shingles, the documents banded
    (`sketch_groups`: a document banded by both sketches appears twice) and their (bands,
    len(docs)) LSH keys."""
    parts = [texts] if isinstance(texts, pl.Series) else texts
    hashes, offsets = minhash.shingle_hashes_of_parts(parts, p.shingle, p.ngram)
    bands, rows = lsh.choose_bands(p.threshold, p.num_perm, p.max_miss)
    groups = sketch_groups(np.diff(offsets), p)
    docs = np.concatenate([d for _, d in groups]) if groups else np.zeros(0, np.int64)
    # Signatures exist a chunk of documents at a time: only their band keys are kept
    # (bands × 8 bytes per document instead of num_perm × 4: 168 MB, not 512 MB, at 1M) ...
    keys = np.empty((bands, len(docs)), dtype=np.uint64)
    chunks, start = [], 0
    for sketch, group in groups:
        chunks += [(sketch, start + lo, group[lo:lo + SIGNATURE_CHUNK])
                   for lo in range(0, len(group), SIGNATURE_CHUNK)]
        start += len(group)

    def chunk_keys(chunk) -> tuple[int, np.ndarray]:
        sketch, at, part = chunk
        sig = minhash.signatures_of(hashes, offsets, part, p.num_perm, p.seed, sketch)
        return at, lsh.band_keys(sig, bands, rows) ^ _SKETCH_SALT[sketch]

    # two chunks at once: one chunk's band keys (one thread) overlap the next's signatures
    for at, part_keys in ordered_map(chunk_keys, chunks, threads=2, ahead=2):
        keys[:, at:at + part_keys.shape[1]] = part_keys
    return hashes, offsets, docs, keys


def resolve_pairs(pairs: np.ndarray, hashes: np.ndarray, offsets: np.ndarray,
                  rank: np.ndarray, p: NearDedupParams) -> Clusters:
    """Candidate pairs → verified pairs → clusters, over documents indexed like `offsets`."""
    ok, est = verify_pairs(pairs, hashes, offsets, p)
    return clusters_of(len(offsets) - 1, pairs, ok, est, rank, p)


def verify_pairs(pairs: np.ndarray, hashes: np.ndarray, offsets: np.ndarray,
                 p: NearDedupParams) -> tuple[np.ndarray, np.ndarray]:
    """(verified mask, estimated Jaccard) per candidate pair (`lsh.verify`)."""
    # k-permutation signatures (whose estimate has the binomial spread `lsh.verify` assumes)
    # are computed for the few documents in candidate pairs, to verify them
    in_pairs = np.unique(pairs)
    sig = minhash.signatures_of(hashes, offsets, in_pairs, p.num_perm, p.seed)
    return lsh.verify(pairs, sig, hashes, offsets, p.threshold,
                      sig_pairs=np.searchsorted(in_pairs, pairs))


def clusters_of(n: int, pairs: np.ndarray, ok: np.ndarray, est: np.ndarray, rank: np.ndarray,
                p: NearDedupParams) -> Clusters:
    """The cluster rule (`p.cluster`) over n documents from the verified pairs."""
    if p.cluster == "components":
        rep, link, jac = lsh.component_clusters(n, pairs[ok], est[ok], rank)
    else:
        rep, jac = lsh.greedy_clusters(n, pairs[ok], est[ok], rank)
        link = rep
    is_rep = np.zeros(n, dtype=bool)
    is_rep[rep[rep >= 0]] = True
    return Clusters(rep=rep, link=link, jaccard=jac, is_rep=is_rep)


def keep_rank(docs: pl.DataFrame, keep: str, text: pl.Expr) -> np.ndarray:
    """0..n-1 preference (first appearance breaks ties) from `text` (for longest) or the
    column __score (for highest_score)."""
    return rank_of(rank_primary(docs, keep, text), docs.height)


def rank_primary(docs: pl.DataFrame, keep: str, text: pl.Expr) -> np.ndarray | None:
    """The keep rule's sort key per document (smaller is preferred), None for keep=first."""
    if keep == "first":
        return None
    if keep == "longest":
        lengths = select_in_slices(docs, text.str.len_chars().alias("n"))["n"]
        return -lengths.to_numpy().astype(np.int64)
    s = docs["__score"].cast(pl.Float64).to_numpy()
    return np.where(np.isnan(s), np.inf, -s)  # unscored sorts last


def rank_of(primary: np.ndarray | None, n: int) -> np.ndarray:
    """Ranks 0..n-1 by `primary`, ties (and keep=first) broken by position."""
    pos = np.arange(n)
    if primary is None:
        return pos
    order = np.lexsort((pos, primary))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pos
    return rank


class NearDedup(Step):
    """Drop near-duplicates (MinHash/LSH over word or character n-grams). Prompt fields drop
    whole records; completion fields drop single rows. One survivor per cluster of verified
    pairs; the detail names the kept member (the cluster id) and the verified partner the
    row was matched to, with their estimated Jaccard."""

    name = "near_dedup"
    scope = "global"  # clusters over the dataset
    filters_rows = True
    Params = NearDedupParams
    produces = ("near_dedup_cluster",)

    def required_columns(self) -> set[str]:
        return {field_column(f) for f in self.params.fields}

    @property
    def record_level(self) -> bool:
        return set(self.params.fields) <= RECORD_LEVEL_FIELDS

    @property
    def key(self) -> str:
        return "id" if self.record_level else "candidate_id"

    def text(self) -> pl.Expr:
        return pl.concat_str([field_text(f) for f in self.params.fields], separator="\n")

    def docs_of(self, frame: pl.DataFrame, extra: tuple[str, ...] = ()) -> pl.DataFrame:
        """One row per compared text: per record (its first row) or per candidate, with the
        columns the text is made of, `__score` for keep=highest_score, and `extra` columns."""
        p = self.params
        if self.record_level:
            # record-level fields come from the prompt alone: the text is built once per record
            # from its first row (a group_by aggregating the prompt lists cost +0.5 GB at 1M)
            score = (rank_score().max().over("id") if p.keep == "highest_score"
                     else pl.lit(None))
            return frame.select("id", "prompt", score.alias("__score"), *extra).filter(
                pl.col("id").is_first_distinct())
        return frame.select("candidate_id", *sorted({field_column(f) for f in p.fields}),
                            rank_score().alias("__score"), *extra)

    def cluster_info(self, docs: pl.DataFrame, cl: Clusters) -> pl.DataFrame:
        """Per document of `docs`: its cluster (null when in none), the kept member that
        replaces it, the verified partner it was matched to and their estimated Jaccard
        (nulls when kept)."""
        ids = docs[self.key]
        dropped = pl.Series(cl.rep >= 0)
        rep_id = pl.select(pl.when(dropped).then(ids.gather(np.maximum(cl.rep, 0))))[:, 0]
        link_id = pl.select(pl.when(dropped).then(ids.gather(np.maximum(cl.link, 0))))[:, 0]
        return pl.DataFrame({
            self.key: ids,
            "near_dedup_cluster": pl.select(
                pl.when(pl.Series(cl.is_rep)).then(ids).otherwise(rep_id))[:, 0],
            "__rep": rep_id,
            "__link": link_id,
            "__jac": pl.Series(cl.jaccard, dtype=pl.Float64, nan_to_null=True),
        }, schema={self.key: pl.String, "near_dedup_cluster": pl.String, "__rep": pl.String,
                   "__link": pl.String, "__jac": pl.Float64})

    def split(self, frame: pl.DataFrame, info: pl.DataFrame):
        """(kept, rejected): rows whose document `info` gives a replacing member are dropped."""
        p = self.params
        f = frame.drop("near_dedup_cluster", strict=False).join(
            info, on=self.key, how="left", maintain_order="left")
        what = "record" if self.record_level else "candidate"
        detail = pl.format(
            "near-duplicate of {} {} by {} (cluster {}, matched {} at estimated Jaccard {} ≥ {})",
            pl.lit(what), pl.col("__rep"), pl.lit("/".join(p.fields)), pl.col("__rep"),
            pl.col("__link"), pl.col("__jac").round(3), pl.lit(p.threshold))
        reason = pl.when(pl.col("__rep").is_not_null()).then(pl.lit("near_dedup.cluster"))
        kept, rejected = partition(f, reason, detail, row_wise=True)
        drop = ["__rep", "__link", "__jac"]
        return kept.drop(drop), rejected.drop(drop)

    def __call__(self, frame: pl.DataFrame):
        docs = self.docs_of(frame)
        text = self.text()
        rank = keep_rank(docs, self.params.keep, text)
        with self.ctx.progress(None, f"near_dedup ({docs.height} texts)"):
            # the texts are made and hashed a slice at a time (GBs of copies at 1M records)
            cl = near_duplicates(text_slices(docs, text), rank, self.params)
        return self.split(frame, self.cluster_info(docs, cl))
