"""`toxicity`: detoxify scores per label, with per-field policies.

Default policy: a toxic prompt or a toxic chosen / desirable completion drops the whole record
(a model must not learn to produce it); a toxic *rejected* / undesirable completion is kept — it
is a useful negative for DPO / KTO. Scores are kept as `tox_<label>` columns.
"""
from __future__ import annotations

import json

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from datatools.builders.ranking import candidate_role
from datatools.frame import field_text
from datatools.schemas.errors import Problem

from datatools.step import Step, missing_file, partition

JIGSAW_LABELS = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
Policy = Literal["drop_record", "drop_row", "keep"]
DETOXIFY_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")


class ToxicityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(
        "original", description="detoxify model name (original, unbiased, multilingual, "
        "original-small, unbiased-small: downloaded on first use) or a local checkpoint path")
    huggingface_config: str | None = Field(
        None, description="folder with the HF config + tokenizer of a local checkpoint "
        "(makes loading work offline)")
    device: str = Field("cpu", description="torch device")
    batch_size: int = Field(32, ge=1, description="texts per forward pass")
    labels: list[str] = Field(
        default_factory=lambda: list(JIGSAW_LABELS), min_length=1,
        description="labels checked and kept as tox_<label> columns (the model must output them)")
    threshold: float = Field(0.5, gt=0.0, le=1.0, description="default score threshold per label")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="per-label thresholds overriding `threshold`")
    prompt_field: Literal["prompt", "last_user", "none"] = Field(
        "prompt", description="prompt text scored (all turns, the last user turn, or none)")
    chosen: Policy = Field(
        "drop_record", description="toxic chosen / desirable (label true) completion")
    rejected: Policy = Field(
        "keep", description="toxic rejected / undesirable (label false) completion")
    other: Policy = Field(
        "drop_row", description="toxic completion of a middle-ranked or unranked (SFT) row")


def load_detoxify(p: ToxicityParams, ctx) -> Any:
    """A Detoxify object from a model name or a local checkpoint (see STACK notes)."""
    from detoxify import Detoxify

    path = ctx.resolve(p.model)
    cfg = str(ctx.resolve(p.huggingface_config)) if p.huggingface_config else None
    if path.exists() or "/" in p.model or p.model.endswith((".ckpt", ".pt")):
        return Detoxify(checkpoint=str(path), device=p.device, huggingface_config_path=cfg)
    return Detoxify(p.model, device=p.device, huggingface_config_path=cfg)


def score_texts(model: Any, texts: list[str], labels: list[str], batch_size: int,
                advance=lambda n: None) -> dict[str, np.ndarray]:
    """Batched `model.predict(list) -> {label: scores}` (detoxify's interface)."""
    out = {lab: np.empty(len(texts)) for lab in labels}
    for i in range(0, len(texts), batch_size):
        batch = texts[i:i + batch_size]
        pred = model.predict(batch)
        missing = [lab for lab in labels if lab not in pred]
        if missing:
            raise ValueError(f"toxicity model has no label(s) {missing}; it has {sorted(pred)}")
        for lab in labels:
            out[lab][i:i + len(batch)] = np.atleast_1d(np.asarray(pred[lab], dtype=float))
        advance(len(batch))
    return out


class Toxicity(Step):
    """Score prompts and completions with detoxify; drop by per-label thresholds and a policy
    per candidate role. Reasons: toxicity.prompt.<label>, toxicity.chosen.<label>,
    toxicity.rejected.<label>, toxicity.completion.<label>."""

    name = "toxicity"
    scope = "record"  # per-record policy
    filters_rows = True
    Params = ToxicityParams
    requires = ("prompt", "completion", "score", "label")

    def check(self, ctx) -> list:
        p = self.params
        problems = [Problem(f"thresholds.{label}", f"not a label this step scores (labels: "
                            f"{', '.join(p.labels)})") for label in p.thresholds
                    if label not in p.labels]
        if p.model not in DETOXIFY_MODELS:  # anything else is a local checkpoint
            problems += missing_file(ctx, p.model, "model", "detoxify checkpoint")
        return problems + missing_file(ctx, p.huggingface_config, "huggingface_config",
                                       "folder")

    def produced_columns(self) -> set[str]:
        cols = {f"tox_{lab}" for lab in self.params.labels}
        if self.params.prompt_field != "none":
            cols |= {f"tox_prompt_{lab}" for lab in self.params.labels}
        return cols

    def cache_token(self) -> str:
        return f"{self.params.model}"

    def model_keys(self) -> list:
        from datatools.models.registry import ModelKey

        if "toxicity" in self.ctx.backends:  # a model a test or caller provides
            return []
        p = self.params
        local = self.ctx.resolve(p.model)
        name = [str(local) if local.exists() else p.model, p.huggingface_config, p.device]
        return [ModelKey("toxicity", json.dumps(name), label=p.model)]

    def _model(self):
        model = self.ctx.backends.get("toxicity")
        if model is None:
            model = self.ctx.models.acquire(self.model_keys()[0],
                                            lambda: load_detoxify(self.params, self.ctx))
        return model

    def _scores(self, texts: pl.Series, prefix: str) -> pl.DataFrame:
        """Score the distinct texts once; returns text → tox_<prefix><label> columns."""
        uniq = texts.drop_nulls().unique(maintain_order=True)
        labels = self.params.labels
        with self.ctx.progress(len(uniq), f"toxicity ({prefix or 'completion'}s)") as advance:
            scores = score_texts(self._model(), uniq.to_list(), labels,
                                 self.params.batch_size, advance)
        return pl.DataFrame({"__t": uniq, **{f"tox_{prefix}{lab}": scores[lab] for lab in labels}})

    def _flag(self, prefix: str) -> tuple[pl.Expr, pl.Expr]:
        """(label of the most-over-threshold score or null, "label=score ≥ thr")."""
        p = self.params
        ratio = [(pl.col(f"tox_{prefix}{lab}") / p.thresholds.get(lab, p.threshold)).alias(lab)
                 for lab in p.labels]
        worst = pl.concat_list(ratio).list.arg_max()
        labels = pl.lit(pl.Series(p.labels))
        over = pl.max_horizontal(ratio) >= 1.0
        label = pl.when(over).then(labels.get(worst))
        thr = pl.lit(pl.Series([p.thresholds.get(lab, p.threshold) for lab in p.labels]))
        score = pl.concat_list([pl.col(f"tox_{prefix}{lab}") for lab in p.labels]).list.get(worst)
        detail = pl.format("{}={} ≥ {}", label, score.round(3), thr.get(worst))
        return label, detail

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        unknown = sorted(set(p.thresholds) - set(p.labels))
        if unknown:
            raise ValueError(f"thresholds for labels not checked: {unknown}")
        f = frame.drop([c for c in self.produced_columns() if c in frame.columns])
        if f.height == 0:
            return partition(f.with_columns([pl.lit(None, pl.Float64).alias(c) for c in
                                             sorted(self.produced_columns())]), pl.lit(None))
        comp = self._scores(f["completion"], "")
        f = f.join(comp, left_on="completion", right_on="__t", how="left", maintain_order="left")
        reason, detail = pl.lit(None, pl.String), pl.lit(None, pl.String)
        role = (pl.when(pl.col("score").is_null() & pl.col("label").is_not_null())
                .then(pl.when(pl.col("label")).then(pl.lit("chosen")).otherwise(pl.lit("rejected")))
                .otherwise(candidate_role()))
        role = pl.when(role == "chosen").then(role).when(role == "rejected").then(role) \
            .otherwise(pl.lit("completion"))
        f = f.with_columns(role.alias("__role"))
        row_label, row_detail = self._flag("")
        f = f.with_columns(row_label.alias("__lab"), row_detail.alias("__det"))
        policy = {"chosen": p.chosen, "rejected": p.rejected, "completion": p.other}
        action = pl.col("__role").replace_strict(policy, default="keep")
        hit = pl.col("__lab").is_not_null()
        row_reason = pl.format("toxicity.{}.{}", pl.col("__role"), pl.col("__lab"))
        row_text = pl.format("toxic {} text: {} (candidate {})", pl.col("__role"),
                             pl.col("__det"), pl.col("candidate_id"))
        # record-level: the first row (by position) whose toxic completion drops its record
        rec_hit = hit & (action == "drop_record")
        rec_reason = row_reason.filter(rec_hit).first().over("id")
        rec_detail = row_text.filter(rec_hit).first().over("id")
        if p.prompt_field != "none":
            pr = self._scores(f.select(field_text(p.prompt_field)).to_series(), "prompt_")
            f = f.with_columns(field_text(p.prompt_field).alias("__pt")).join(
                pr, left_on="__pt", right_on="__t", how="left", maintain_order="left")
            plab, pdet = self._flag("prompt_")
            reason = pl.when(plab.is_not_null()).then(pl.format("toxicity.prompt.{}", plab))
            detail = pl.when(plab.is_not_null()).then(pl.format("prompt {}", pdet))
        reason = pl.coalesce(reason, rec_reason,
                             pl.when(hit & (action == "drop_row")).then(row_reason))
        detail = pl.coalesce(detail, rec_detail, pl.when(hit & (action == "drop_row")).then(row_text))
        kept, rejected = partition(f, reason, detail)
        tmp = [c for c in ("__role", "__lab", "__det", "__pt") if c in f.columns]
        return kept.drop(tmp), rejected.drop(tmp)
