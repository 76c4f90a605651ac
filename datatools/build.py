"""Builders: one judged candidate frame → SFT, pairwise (DPO) and unary (KTO) datasets.

Each builder returns (dataset, skipped): the dataset in TRL's conversational column names, and
ledger rows (LEDGER_SCHEMA) for every record it could not use, with a reason — so a prompt
that produced no pair is accounted for, never silently missing.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import polars as pl

from datatools.frame import LEDGER_SCHEMA, MESSAGE, effective_score
from datatools.pairwise import build_pairwise  # noqa: F401  (re-exported: the builders' home)
from schemas.recipe import SFTParams, UnaryParams

TURN = pl.List(MESSAGE)
PAIRWISE_SCHEMA = {
    "id": pl.String, "source": pl.String, "prompt": TURN, "chosen": TURN, "rejected": TURN,
    "score_chosen": pl.Float64, "score_rejected": pl.Float64,
    "chosen_model": pl.String, "rejected_model": pl.String, "meta": pl.String,
}
UNARY_SCHEMA = {
    "id": pl.String, "source": pl.String, "prompt": TURN, "completion": TURN,
    "label": pl.Boolean, "score": pl.Float64, "model": pl.String, "meta": pl.String,
}
SFT_SCHEMA = {"id": pl.String, "source": pl.String, "messages": TURN, "score": pl.Float64,
              "model": pl.String, "meta": pl.String}


@dataclass
class Candidates:
    """One record's candidates, sorted best first (unscored keep their order, after)."""

    id: str
    source: str
    prompt: list[dict]
    meta: str
    texts: list[str]
    scores: list[float | None]
    models: list[str | None]
    labels: list[bool | None]

    @property
    def scored(self) -> list[int]:
        return [i for i, s in enumerate(self.scores) if s is not None]


def group_candidates(frame: pl.DataFrame) -> list[Candidates]:
    rows = (
        frame.filter(pl.col("completion").is_not_null())
        .with_columns(effective_score().alias("__s"))
        .group_by("id", maintain_order=True)
        .agg(pl.col("source").first(), pl.col("prompt").first(), pl.col("meta").first(),
             pl.col("completion"), pl.col("__s"), pl.col("model"), pl.col("label"))
    )
    return [Candidates(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows.iter_rows()]


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _skip(step: str, reason: str, detail: str, c: Candidates) -> dict[str, Any]:
    record = {"prompt": c.prompt, "completions": c.texts, "scores": c.scores}
    return dict(step=step, reason=reason, detail=detail, source=c.source, id=c.id,
                candidate_id=None, record=json.dumps(record, ensure_ascii=False))


def _ledger(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LEDGER_SCHEMA)


def kto_weights(n_desirable: int, n_undesirable: int) -> tuple[float, float]:
    """(λ_D, λ_U) with λ_D·n_D / (λ_U·n_U) in [1, 4/3] (KTO, Ethayarajh et al. 2024, Eq. 8).

    The minority class is weighted up (the paper's recipe for imbalanced data); when the
    ratio already lies in the band both weights stay 1.
    """
    if n_desirable == 0 or n_undesirable == 0:
        return 1.0, 1.0
    ratio = n_desirable / n_undesirable
    if 1.0 <= ratio <= 4 / 3:
        return 1.0, 1.0
    if ratio < 1.0:  # too few desirable: λ_D = n_U / n_D brings the ratio to exactly 1
        return n_undesirable / n_desirable, 1.0
    return 1.0, ratio  # too many desirable: λ_U = n_D / n_U, ratio exactly 1


def _interleave(rows: list[dict]) -> list[dict]:
    """T, F, T, F, ...: TRL's KTO unpairing and sequential sampling want mixed batches."""
    pos = [r for r in rows if r["label"]]
    neg = [r for r in rows if not r["label"]]
    out = []
    for i in range(max(len(pos), len(neg))):
        out += ([pos[i]] if i < len(pos) else []) + ([neg[i]] if i < len(neg) else [])
    return out


def build_unary(frame: pl.DataFrame, params: UnaryParams | None = None, seed: int = 0,
                pairs: pl.DataFrame | None = None):
    """Returns (dataset, skipped, metadata) — metadata holds the KTO weights and counts."""
    p = params or UnaryParams()
    rows, skipped = [], []
    step = "build.unary"
    if p.mode == "pairs":
        if pairs is None:
            pairs, skipped_pairs = build_pairwise(frame, seed=seed)
            skipped += skipped_pairs.with_columns(pl.lit(step).alias("step")).to_dicts()
        for r in pairs.iter_rows(named=True):
            for key, label, score in (("chosen", True, r["score_chosen"]),
                                      ("rejected", False, r["score_rejected"])):
                rows.append(dict(id=r["id"], source=r["source"], prompt=r["prompt"],
                                 completion=r[key], label=label, score=score,
                                 model=r[f"{key}_model"], meta=r["meta"]))
    else:
        for c in group_candidates(frame):
            for label, i in _labels(c, p.threshold):
                if label is None:
                    skipped.append(_skip(step, "build.unary.unlabelled", _why_unlabelled(c, p), c)
                                   | {"candidate_id": f"{c.id}#{i}"})
                    continue
                rows.append(dict(id=c.id, source=c.source, prompt=c.prompt,
                                 completion=_assistant(c.texts[i]), label=label,
                                 score=c.scores[i], model=c.models[i], meta=c.meta))
    if p.balance == "downsample":
        rows, dropped = _downsample(rows, seed)
        skipped += [dict(step=step, reason="build.unary.downsampled",
                         detail="surplus of the larger class (balance: downsample)",
                         source=r["source"], id=r["id"], candidate_id=None,
                         record=json.dumps(r, ensure_ascii=False, default=str)) for r in dropped]
    rows = _interleave(rows)
    n_d = sum(r["label"] for r in rows)
    n_u = len(rows) - n_d
    w_d, w_u = kto_weights(n_d, n_u)
    meta = {"n_desirable": n_d, "n_undesirable": n_u, "desirable_weight": w_d,
            "undesirable_weight": w_u,
            "weighted_ratio": (w_d * n_d / (w_u * n_u)) if n_u else None}
    return pl.DataFrame(rows, schema=UNARY_SCHEMA), _ledger(skipped), meta


def _labels(c: Candidates, threshold: float | None) -> list[tuple[bool | None, int]]:
    """Label per candidate: its own label, else score ≥ threshold, else best (True) / worst
    strictly below best (False); middle candidates and unscored ones stay unlabelled."""
    out = []
    scored = [c.scores[i] for i in c.scored]
    best, worst = (max(scored), min(scored)) if scored else (None, None)
    for i, (s, own) in enumerate(zip(c.scores, c.labels)):
        if own is not None:
            out.append((own, i))
        elif s is None:
            out.append((None, i))
        elif threshold is not None:
            out.append((s >= threshold, i))
        elif best != worst and s == best:
            out.append((True, i))
        elif best != worst and s == worst:
            out.append((False, i))
        else:
            out.append((None, i))
    return out


def _why_unlabelled(c: Candidates, p: UnaryParams) -> str:
    if not c.scored:
        return "no score or label"
    return "between best and worst (set outputs.unary.threshold to label it)" \
        if len(set(c.scores[i] for i in c.scored)) > 1 else "all candidates tie"


def _downsample(rows: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    pos = [r for r in rows if r["label"]]
    neg = [r for r in rows if not r["label"]]
    big, small = (pos, neg) if len(pos) > len(neg) else (neg, pos)
    rng = random.Random(seed)
    keep_idx = set(rng.sample(range(len(big)), len(small)))
    kept = [r for i, r in enumerate(big) if i in keep_idx]
    dropped = [r for i, r in enumerate(big) if i not in keep_idx]
    return small + kept, dropped


def _sft_score_ok(score, p: SFTParams, skipped: list, rid, source, prompt, text) -> bool:
    """min_score: a best answer below it (or unscored) is ledgered instead of used."""
    if p.min_score is None or (score is not None and score >= p.min_score):
        return True
    skipped.append(dict(step="build.sft", reason="build.sft.low_score",
                        detail=f"best score {score} < min_score {p.min_score}",
                        source=source, id=rid, candidate_id=None,
                        record=json.dumps({"prompt": prompt, "completion": text})))
    return False


def _best_answers(frame: pl.DataFrame, p: SFTParams) -> tuple[pl.DataFrame, list[dict]]:
    """Each record's best-scored answer (the first of equal bests; a single unscored answer
    is the answer), column-wise: a Python loop over a million records took seconds. Records
    with several unscored answers, and answers under min_score, go to the ledger."""
    f = frame.filter(pl.col("completion").is_not_null()).with_columns(
        effective_score().alias("__s"), pl.int_range(pl.len()).alias("__pos"))
    groups = f.group_by("id", maintain_order=True).agg(
        pl.len().alias("__n"), pl.col("__s").count().alias("__scored"),
        pl.col("__pos").sort_by(pl.col("__s").fill_nan(None), descending=True, nulls_last=True,
                                maintain_order=True).first().alias("__pick"))
    usable = (pl.col("__scored") > 0) | (pl.col("__n") == 1)
    unranked = groups.filter(~usable)["id"]
    skipped = [_skip("build.sft", "build.sft.unranked",
                     f"{len(c.texts)} unscored candidates: no best answer", c)
               for c in group_candidates(f.filter(pl.col("id").is_in(unranked.implode())))]
    best = f[groups.filter(usable)["__pick"]]
    if p.min_score is not None:
        low = best.filter(pl.col("__s").is_null() | (pl.col("__s") < p.min_score))
        for r in low.iter_rows(named=True):
            _sft_score_ok(r["__s"], p, skipped, r["id"], r["source"], r["prompt"],
                          r["completion"])
        best = best.filter(pl.col("__s") >= p.min_score)
    assistant = pl.struct(pl.lit("assistant").alias("role"), pl.col("completion").alias("content"))
    data = best.select("id", "source", pl.concat_list(pl.col("prompt"), assistant).alias("messages"),
                       pl.col("__s").alias("score"), "model", "meta")
    return data.select([pl.col(k).cast(t) for k, t in SFT_SCHEMA.items()]), skipped


def build_sft(frame: pl.DataFrame, params: SFTParams | None = None, seed: int = 0,
              pairs: pl.DataFrame | None = None):
    """SFT rows from each record's best answer (or the pairwise chosen ones)."""
    p = params or SFTParams()
    skipped: list[dict] = []
    if p.source == "chosen":
        if pairs is None:
            pairs, _ = build_pairwise(frame, seed=seed)
        picks = [(r["id"], r["source"], r["prompt"], r["chosen"][0]["content"],
                  r["score_chosen"], r["chosen_model"], r["meta"]) for r in pairs.iter_rows(named=True)]
        rows = [dict(id=rid, source=source, messages=prompt + _assistant(text), score=score,
                     model=model, meta=meta) for rid, source, prompt, text, score, model, meta
                in picks if _sft_score_ok(score, p, skipped, rid, source, prompt, text)]
        data = pl.DataFrame(rows, schema=SFT_SCHEMA)
    else:
        data, skipped = _best_answers(frame, p)
    if p.format == "prompt_completion":
        data = data.with_columns(
            pl.col("messages").list.slice(0, pl.col("messages").list.len() - 1).alias("prompt"),
            pl.col("messages").list.slice(-1, 1).alias("completion"),
        ).drop("messages")
    return data, _ledger(skipped)

