"""The `generate` step: sample candidates from one or more policies for every record.

Several policies per recipe (TÜLU 3 samples several models per prompt). Each record's prompt
goes to each policy once, asking for n samples; every new row records who produced it and
how (meta.generation). Prompt-only placeholder rows are replaced by the generated rows;
dataset-provided completions stay as off-policy candidates unless keep_existing is false.
Requests go through the request cache (OUT/.cache/requests.sqlite), so a rerun or a resumed
run after a crash sends only what never finished.
"""
from __future__ import annotations

import json
import time
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datatools.cache import RequestCache, RequestFailed, cached_chat_results
from datatools.frame import FRAME_SCHEMA, stable_id
from datatools.generate.backend import Sampling
from datatools.generate.backends import BackendSpec, backend_key, shared_backend
from datatools.generate.progress import request_progress
from datatools.redact import redact, redact_text
from datatools.step import Step
from datatools.schemas.errors import Problem, QualityGateError

CACHE_FILE = "requests.sqlite"


class Policy(BackendSpec):
    """A backend plus how to sample from it."""

    name: str | None = Field(None, description="label for this policy (default: model); "
                             "names an injected backend in ctx.backends")
    n: int = Field(1, ge=1, le=256, description="samples per prompt")
    temperature: float = Field(1.0, ge=0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1, description="max new tokens per sample")
    seed: int | None = Field(None, description="sampling seed (default: the recipe seed)")
    seeded: bool = Field(True, description="false: send no seed (vLLM samples a little faster "
                         "without per-request generators; outputs are still cached, not "
                         "reproducible)")

    @property
    def label(self) -> str:
        return self.name or self.model

    def backend_spec(self) -> BackendSpec:
        return BackendSpec(**self.model_dump(include=set(BackendSpec.model_fields)))

    def sampling(self, default_seed: int) -> Sampling:
        return Sampling(n=self.n, temperature=self.temperature, top_p=self.top_p,
                        max_tokens=self.max_tokens,
                        seed=None if not self.seeded
                        else self.seed if self.seed is not None else default_seed)


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policies: list[Policy] = Field(..., min_length=1, description="models to sample from")
    keep_existing: bool = Field(True, description="keep dataset-provided completions as "
                                "off-policy candidates (false: ledger them as generate.not_kept)")
    batch_size: int | None = Field(None, ge=1, description="requests per backend call, each "
                                   "committed to the cache as it returns (default: vllm 256, "
                                   "openai 4×concurrency, transformers its batch_size)")
    max_failure_rate: float | None = Field(
        0.05, ge=0, le=1, allow_inf_nan=False, description="fail the build when more than this "
        "fraction of a policy's requests still fail after retries (null: never fail); "
        "finished requests stay cached, so a rerun sends only the failed ones")

    @model_validator(mode="after")
    def _unique_labels(self) -> "GenerateParams":
        labels = [p.label for p in self.policies]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"policies share the label(s) {dup}: give each a distinct `name`")
        return self


class Generate(Step):
    """Sample n candidate answers per prompt from one or more policies (vllm, openai, transformers);
    every request is cached, so a rerun or a resumed crash sends only what never finished."""

    name = "generate"
    scope = "record"  # one request set per record
    Params = GenerateParams
    requires = ("id", "prompt", "completion")
    produces = ("completion", "model")
    row_preserving = False  # adds n rows per policy per record

    def check(self, ctx) -> list:
        return [p for i, policy in enumerate(self.params.policies)
                for p in policy.problems(ctx, f"policies[{i}]")]

    def __call__(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        p: GenerateParams = self.params
        records = frame.unique("id", keep="first", maintain_order=True)
        convs = [[{"role": m["role"], "content": m["content"]} for m in prompt]
                 for prompt in records["prompt"].to_list()]
        rec_rows = records.select("id", "source", "prompt", "meta").to_dicts()
        self.stats: dict[str, Any] = {"records": len(records), "policies": {}}
        cache = (RequestCache(self.ctx.cache_dir / CACHE_FILE)
                 if self.ctx.cache_dir is not None else None)
        new_ok: list[dict[str, Any]] = []
        new_bad: list[dict[str, Any]] = []
        try:
            for pi, policy in enumerate(p.policies):
                results, ident = self._run_policy(policy, convs, cache)
                for rec, res in zip(rec_rows, results):
                    ok, bad = _rows_for(rec, policy, ident, res, self.ctx.seed, pi)
                    new_ok += ok
                    new_bad += bad
        finally:
            if cache is not None:
                cache.close()
        return self._assemble(frame, records, new_ok, new_bad)

    def _injected(self, policy: Policy):
        backend = self.ctx.backends.get(policy.label)
        if backend is None and len(self.params.policies) == 1:
            backend = self.ctx.backends.get("policy")
        return backend

    def _backend(self, policy: Policy):
        backend = self._injected(policy)
        if backend is None:  # policies that differ only in sampling share one loaded model
            backend = shared_backend(policy.backend_spec(), self.ctx)
        return backend

    def model_keys(self) -> list:
        return [backend_key(p.backend_spec(), self.ctx) for p in self.params.policies
                if self._injected(p) is None]

    def _run_policy(self, policy: Policy, convs, cache):
        backend = self._backend(policy)
        batch = self.params.batch_size or _default_batch(policy)
        t0 = time.perf_counter()
        counted = hasattr(backend, "generated_tokens")
        tokens = 0
        with request_progress(len(convs), f"generate {policy.label}", self.ctx.quiet) as adv:
            def on_batch(done: int, fresh: list[list[str]]) -> None:
                nonlocal tokens
                # Backends count generated tokens for free; otherwise estimate chars/4. Only
                # the tok/s display and stats use this.
                total = (backend.generated_tokens if counted
                         else tokens + sum(len(t) for r in fresh for t in r) // 4)
                adv(done, max(0, total - tokens))
                tokens = total

            start_tokens = backend.generated_tokens if counted else 0
            tokens = start_tokens
            results = cached_chat_results(backend, cache, convs, policy.sampling(self.ctx.seed),
                                          batch_size=batch, on_batch=on_batch)
            tokens -= start_tokens
        failed = [r for r in results if isinstance(r, RequestFailed)]
        self.stats["policies"][policy.label] = {
            "requests": len(convs), "failed": len(failed),
            "new_tokens": tokens, "seconds": round(time.perf_counter() - t0, 3),
        }
        self._failure_gate(policy, len(convs), failed)
        return results, backend.identity()

    def _failure_gate(self, policy: Policy, total: int, failed: list[RequestFailed]) -> None:
        """A policy whose requests mostly failed would ship dataset answers only (or nothing)
        with exit 0: stop the build instead, naming the first error."""
        limit = self.params.max_failure_rate
        if limit is None or not total or len(failed) / total <= limit:
            return
        raise QualityGateError(Problem("max_failure_rate", (
            f"policy {policy.label}: {len(failed)} of {total} requests failed "
            f"({len(failed) / total:.1%}), above the limit {limit:.1%}; first error: "
            f"{redact_text(failed[0].error)[:300]}")))

    def _assemble(self, frame, records, new_ok, new_bad):
        order = records.select("id").with_row_index("__rec")
        existing = frame.filter(pl.col("completion").is_not_null())
        keep_old = existing if self.params.keep_existing else existing.clear()
        old_rejected = (existing.clear() if self.params.keep_existing else existing).with_columns(
            pl.lit("generate.not_kept").alias("reason"),
            pl.lit("keep_existing is false: dataset completion replaced by generations")
            .alias("detail"))
        kept = pl.concat(
            [keep_old.with_columns(pl.lit(-1, pl.Int64).alias("__sub")),
             _frame(new_ok, ("__sub",))], how="diagonal_relaxed")
        kept = (kept.join(order, on="id", how="left", maintain_order="left")
                .sort(["__rec", "__sub"], maintain_order=True).drop("__rec", "__sub"))
        rejected = pl.concat([old_rejected, _frame(new_bad, ("reason", "detail", "__sub"))],
                             how="diagonal_relaxed").drop("__sub", strict=False)
        cols = frame.columns
        kept = kept.select(cols)
        rejected = rejected.select([*cols, "reason", "detail"])
        return kept, rejected


def _default_batch(policy: Policy) -> int:
    if policy.backend == "vllm":
        return 256  # vLLM batches internally: big calls keep the GPU busy
    if policy.backend == "openai":
        return 4 * policy.concurrency
    return policy.batch_size


def _frame(rows: list[dict[str, Any]], extra: tuple[str, ...]) -> pl.DataFrame:
    schema = {**FRAME_SCHEMA, **{c: (pl.Int64 if c == "__sub" else pl.String) for c in extra}}
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def _rows_for(rec: dict[str, Any], policy: Policy, ident: dict[str, Any], result, seed: int,
              pi: int):
    """The candidate rows (kept) and failure rows (rejected) for one record and one policy."""
    sampling = policy.sampling(seed)
    # identity: backend, model, resolved revision or local path, template hash, adapter.
    gen_meta = redact({
        "policy": policy.label, **ident,
        "sampling": {k: v for k, v in sampling.as_dict().items() if k != "json_schema"},
    })
    try:
        base_meta = json.loads(rec["meta"]) if rec["meta"] else {}
        base_meta = base_meta if isinstance(base_meta, dict) else {"original": base_meta}
    except ValueError:
        base_meta = {"original": rec["meta"]}
    ok, bad = [], []
    for i in range(policy.n):
        row = dict(
            id=rec["id"], candidate_id=stable_id(rec["id"], policy.label, i),
            source=rec["source"], prompt=rec["prompt"], completion=None, score=None, label=None,
            model=policy.model, __sub=pi * 1_000 + i,
            meta=json.dumps({**base_meta, "generation": {**gen_meta, "sample_index": i}},
                            ensure_ascii=False, default=str),
        )
        if isinstance(result, RequestFailed):
            bad.append({**row, "reason": "generate.error",
                        "detail": redact_text(f"policy {policy.label}: {result.error}")[:2000]})
        elif i >= len(result):
            bad.append({**row, "reason": "generate.error",
                        "detail": f"policy {policy.label}: {len(result)} of {policy.n} samples"})
        elif not result[i].strip():
            bad.append({**row, "completion": result[i], "reason": "generate.empty",
                        "detail": f"policy {policy.label} sample {i}: empty completion"})
        else:
            ok.append({**row, "completion": result[i]})
    return ok, bad
