"""`reward_model`: a sequence-classification reward model scores each candidate.

The reward models of RLHF (Ouyang et al. 2022; TÜLU 3's 8B RM) are transformers with a
single-logit head trained with a Bradley–Terry loss on preference pairs: the logit of
prompt + completion, rendered with the model's chat template, is the reward. Scores are only
comparable within one reward model, so the builders' pairs (best vs worst of a prompt) use
them as they are. Candidates are batched by length (less padding), and every score is cached
under the model's identity (path/weights fingerprint or Hub commit, chat template), so a
resumed run scores only what is missing and never loads the model when nothing is.
"""
from __future__ import annotations

import json
from typing import Any, Literal

import polars as pl
from pydantic import Field

from datatools.judge.llm import JudgeParams, open_cache, finish, judge_column, split_by_reasons
from datatools.loading import loading
from datatools.step import Step, missing_file

TOO_LONG = "judge.too_long"


class RewardModelParams(JudgeParams):
    model: str = Field(..., min_length=1, description="Hub id or local folder of an "
                       "AutoModelForSequenceClassification reward model")
    revision: str | None = Field(None, description="Hub branch, tag or commit")
    batch_size: int = Field(8, ge=1, description="candidates per forward pass")
    max_length: int = Field(4096, ge=8, description="max tokens of prompt + completion")
    on_too_long: Literal["reject", "truncate"] = Field(
        "reject", description="longer inputs: reject (judge.too_long) or truncate from the "
        "left, keeping the completion and the end of the prompt",
    )
    label_index: int = Field(0, ge=0, description="which logit is the reward when the head "
                             "has several (multi-objective reward models)")
    device: str | None = Field(None, description="cpu, cuda, cuda:1 ... (default: cuda if "
                               "available)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: float32 on CPU, the checkpoint's dtype on GPU")


class RewardModel(Step):
    """Score candidates with a sequence-classification reward model (transformers, batched)."""

    name = "reward_model"
    scope = "row"
    Params = RewardModelParams
    requires = ("prompt", "completion")

    def check(self, ctx) -> list:
        return missing_file(ctx, self.params.model, "model", "reward model", hub_ok=True)

    @property
    def column(self) -> str:
        return judge_column(self.params, "reward_model")

    def produced_columns(self) -> set[str]:
        return {self.column, "score"}

    def _model_path(self) -> str:
        local = self.ctx.resolve(self.params.model)
        return str(local) if local.exists() else self.params.model

    def _settings(self) -> str:
        p = self.params
        return json.dumps([self._model_path(), p.revision, p.max_length, p.on_too_long,
                           p.label_index])

    def cache_token(self) -> str:
        """Folds in the weights fingerprint / Hub commit: a retrained reward model at the same
        path must rescore, not reuse the pipeline's cached step output."""
        from datatools.generate.backends.identity import model_identity

        return json.dumps([self._settings(), model_identity(self._model_path(),
                                                            self.params.revision)],
                          sort_keys=True, default=str)

    def _injected_key(self) -> str:
        return "reward_model:" + self._settings()  # a model a test or caller provides

    def model_keys(self) -> list:
        from datatools.models.registry import ModelKey

        if self._injected_key() in self.ctx.backends:
            return []
        p = self.params
        return [ModelKey("reward_model", json.dumps([self._settings(), p.device, p.dtype]),
                         label=p.model)]

    def _load(self):
        """(tokenizer, model, device), shared by every step of a run that names this model
        and released (ctx.models) after the last of them."""
        if self._injected_key() in self.ctx.backends:
            return self.ctx.backends[self._injected_key()]
        return self.ctx.models.acquire(self.model_keys()[0], self._load_now)

    def _load_now(self):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        p = self.params
        device = p.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype: Any = (torch.float32 if device == "cpu" else "auto") if p.dtype == "auto" \
            else getattr(torch, p.dtype)
        path = self._model_path()
        with loading("reward model", p.model, "reward_model.model"):
            tok = AutoTokenizer.from_pretrained(path, revision=p.revision)
            model = AutoModelForSequenceClassification.from_pretrained(path, revision=p.revision,
                                                                       dtype=dtype)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "right"  # the head reads the last non-pad token
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tok.pad_token_id
        if p.label_index >= model.config.num_labels:
            raise ValueError(f"label_index {p.label_index} but the reward model has "
                             f"{model.config.num_labels} output(s)")
        model.to(device).eval()
        return tok, model, device

    def __call__(self, frame: pl.DataFrame):
        from datatools.cache import request_key
        from datatools.generate.backends.identity import model_identity

        p = self.params
        rows = frame.select("prompt", "completion").to_dicts()
        n = len(rows)
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        scores: list[float | None] = [None] * n
        convs: dict[int, list[dict]] = {}
        for k, r in enumerate(rows):
            if r["completion"] is None:
                reasons[k], details[k] = "judge.missing_completion", "no completion to score"
            else:
                convs[k] = [*r["prompt"], {"role": "assistant", "content": r["completion"]}]
        identity = {"task": "reward_model", **model_identity(self._model_path(), p.revision)}
        settings = {"max_length": p.max_length, "on_too_long": p.on_too_long,
                    "label_index": p.label_index}
        keys = {k: request_key(identity, settings, c) for k, c in convs.items()}
        cache = open_cache(self.ctx)
        try:
            cached = cache.get_many(keys.values()) if cache is not None else {}
            for k, key in keys.items():
                scores[k] = cached.get(key)
            todo = [k for k in convs if scores[k] is None]
            if todo:
                self._score(todo, convs, keys, scores, reasons, details, cache)
        finally:
            if cache is not None:
                cache.close()
        hits = sum(1 for key in keys.values() if key in cached)
        self.stats = {"scored": sum(s is not None for s in scores), "cache_hits": hits,
                      "too_long": reasons.count(TOO_LONG)}
        out = frame.with_columns(pl.Series(self.column, scores, dtype=pl.Float64))
        kept, rejected = split_by_reasons(out, reasons, details)
        return finish(kept, p, self.column), rejected

    def _score(self, todo, convs, keys, scores, reasons, details, cache) -> None:
        import torch

        p = self.params
        tok, model, device = self._load()
        if not getattr(tok, "chat_template", None):
            raise ValueError(f"reward model {p.model!r} has no chat template; its tokenizer "
                             "must define one to render prompt + completion")
        ids: dict[int, list[int]] = {}
        for k in todo:
            text = tok.apply_chat_template(convs[k], tokenize=False)
            # The template carries its own special tokens: adding them again would double BOS.
            tokens = tok(text, add_special_tokens=False)["input_ids"]
            if len(tokens) > p.max_length:
                if p.on_too_long == "reject":
                    reasons[k] = TOO_LONG
                    details[k] = f"{len(tokens)} tokens > max_length {p.max_length}"
                    continue
                tokens = tokens[-p.max_length:]
            ids[k] = tokens
        order = sorted(ids, key=lambda k: len(ids[k]))  # similar lengths share a batch
        with self.ctx.progress(len(order), f"{self.name} ({p.model})") as advance:
            for start in range(0, len(order), p.batch_size):
                batch = order[start:start + p.batch_size]
                enc = tok.pad({"input_ids": [ids[k] for k in batch]}, return_tensors="pt")
                enc = {name: t.to(device) for name, t in enc.items()}
                with torch.inference_mode():
                    logits = model(**enc).logits[:, p.label_index].float().cpu().tolist()
                fresh = {}
                for k, value in zip(batch, logits):
                    scores[k] = value
                    fresh[keys[k]] = value
                if cache is not None:  # committed per batch: a killed run keeps these
                    cache.put_many(fresh)
                advance(len(batch))
