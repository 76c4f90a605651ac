"""What the LLM judges (rubric, pairwise) share: params, the backend, cached calls with bounded
retries, the parse-failure quality gate, and writing a judge's column into `score`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from datatools.generate.backend import Conversation, Sampling
from datatools.generate.backends import BackendSpec
from datatools.step import partition
from datatools.schemas.errors import Problem, QualityGateError

PARSE_FAILURE = "judge.parse_failure"
REQUEST_FAILED = "judge.request_failed"


class JudgeParams(BaseModel):
    """Params every judge step has."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_]+$",
        description="the judge's column is judge_<name> (default: the judge type, e.g. "
        "judge_rubric); give two judges of one type different names",
    )
    set_score: bool = Field(
        True, description="write this judge's result into `score` (the builders rank by it); "
        "false keeps only the judge_<name> column, e.g. for a later combine_scores step",
    )


class LLMJudgeParams(JudgeParams):
    backend: BackendSpec = Field(
        ..., description="the judge model, as in `generate`: {backend: vllm|openai|"
        "transformers, model: ..., ...}; a backend the pipeline provides under the same "
        "model name is used instead of loading a new one",
    )
    temperature: float = Field(0.0, ge=0, description="sampling temperature of the first try")
    max_tokens: int = Field(512, ge=1, description="max tokens per judge answer")
    structured: bool = Field(
        True, description="ask for JSON-schema-constrained output (vLLM / OpenAI servers); "
        "backends without it answer free text, which is parsed leniently",
    )
    max_retries: int = Field(
        2, ge=0, le=10, description="re-asks for answers that do not parse; retries sample at "
        "retry_temperature with a new seed, so they are not cache hits of the failed try",
    )
    retry_temperature: float = Field(0.7, ge=0, description="temperature of retries")
    batch_size: int = Field(64, ge=1, description="requests sent to the backend per call; "
                            "results are cached as each batch finishes")
    max_parse_failure_rate: float | None = Field(
        0.05, ge=0, le=1, description="fail the build when more than this fraction of judge "
        "requests still do not parse after retries (null: never fail)",
    )


def get_backend(spec: BackendSpec, ctx) -> Any:
    """A backend the pipeline or a test provides under the model's name (as `generate` looks
    up its policies), else one built from the spec, shared by the run's judge steps."""
    if spec.model in ctx.backends:
        return ctx.backends[spec.model]
    from datatools.generate.backends import shared_backend

    return shared_backend(spec, ctx)  # one loaded model per spec across generate and judges


def judge_model_keys(spec: BackendSpec, ctx) -> list:
    """The model-registry key an LLM judge loads (none when the pipeline provides one)."""
    from datatools.generate.backends import backend_key

    return [] if spec.model in ctx.backends else [backend_key(spec, ctx)]


def judge_cache_token(template_key: str, spec: BackendSpec, ctx) -> str:
    """The pipeline's step-cache token: the judge text and the judge model's identity (a
    retrained model at the same path, or a moved Hub branch, must re-judge)."""
    identity = get_backend(spec, ctx).identity()
    return json.dumps([template_key, identity], sort_keys=True, default=str)


CACHE_FILE = "requests.sqlite"  # the same file `generate` uses: one cache per output dir


def open_cache(ctx):
    """The shared request cache (sqlite under OUT/.cache) when the pipeline gives a cache dir."""
    if ctx.cache_dir is None:
        return None
    from datatools.cache import RequestCache

    return RequestCache(ctx.resolve(ctx.cache_dir) / CACHE_FILE)


@dataclass
class Outcome:
    """The final answer for one request: parsed value, or None with every raw try kept."""

    value: Any = None
    raws: list[str] = field(default_factory=list)
    why: str = ""
    request_failed: bool = False  # the last try was a failed request, not an unparsable answer

    @property
    def failed(self) -> bool:
        return self.value is None


def ask(
    backend, ctx, params: LLMJudgeParams, conversations: list[Conversation],
    parse: Callable[[str], tuple[Any, str]], template: str, json_schema: dict | None,
    description: str,
) -> list[Outcome]:
    """One answer per conversation, parsed; failed parses are re-asked at most max_retries
    times. Every answer goes through the request cache, committed batch by batch, and
    `template` is part of its key, so editing a judge template re-judges while a killed run
    resumes where it stopped. A request the backend could not serve (after its own retries)
    counts as a failed try, like an unparsable answer."""
    from datatools.cache import RequestFailed, cached_chat_results

    cache = open_cache(ctx)
    outcomes = [Outcome() for _ in conversations]
    todo = list(range(len(conversations)))
    try:
        with ctx.progress(len(conversations), description) as advance:
            for attempt in range(params.max_retries + 1):
                if not todo:
                    break
                sampling = Sampling(
                    n=1, max_tokens=params.max_tokens,
                    temperature=params.temperature if attempt == 0 else params.retry_temperature,
                    seed=ctx.seed + attempt,
                    json_schema=json_schema if params.structured else None,
                )
                on_batch = (lambda done, _fresh: advance(done)) if attempt == 0 else None
                answers = cached_chat_results(
                    backend, cache, [conversations[i] for i in todo], sampling,
                    extra=template, batch_size=params.batch_size, on_batch=on_batch)
                still = []
                for i, answer in zip(todo, answers):
                    o = outcomes[i]
                    if isinstance(answer, RequestFailed):
                        o.raws.append(f"<request failed: {answer.error}>")
                        o.why, o.request_failed = "request failed", True
                        still.append(i)
                        continue
                    raw = answer[0] if answer else ""
                    o.raws.append(raw)
                    value, why = parse(raw)
                    if value is None:
                        o.why, o.request_failed = why, False
                        still.append(i)
                    else:
                        o.value, o.why, o.request_failed = value, "", False
                todo = still
    finally:
        if cache is not None:
            cache.close()
    return outcomes


def failure_reason(o: Outcome) -> str:
    return REQUEST_FAILED if o.request_failed else PARSE_FAILURE


def raw_detail(o: Outcome, limit: int = 2000) -> str:
    """Ledger detail for a failed parse: why, and the raw outputs of every try."""
    tries = " | ".join(f"try {k + 1}: {r!r}" for k, r in enumerate(o.raws))
    text = f"{o.why}; raw output ({len(o.raws)} tries): {tries}"
    return text if len(text) <= limit else text[:limit] + "…"


def check_parse_gate(step_name: str, params: LLMJudgeParams, outcomes: list[Outcome]) -> None:
    limit = params.max_parse_failure_rate
    failed = [o for o in outcomes if o.failed]
    if limit is None or not outcomes:
        return
    rate = len(failed) / len(outcomes)
    if rate > limit:
        example = failed[0].raws[-1] if failed[0].raws else ""
        raise QualityGateError(Problem(
            f"{step_name}.max_parse_failure_rate",
            f"{len(failed)} of {len(outcomes)} judge answers ({rate:.1%}) could not be parsed "
            f"(or their requests failed) after {params.max_retries} retries, above the limit "
            f"{limit:.1%}. Example raw "
            f"output: {example[:300]!r}. Check the judge model and template, or raise the limit.",
        ))


def split_by_reasons(
    frame: pl.DataFrame, reasons: list[str | None], details: list[str | None]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept, rejected) from per-row reason codes computed in Python (None = keep)."""
    tagged = frame.with_columns(pl.Series("__judge_reason", reasons, dtype=pl.String),
                                pl.Series("__judge_detail", details, dtype=pl.String))
    kept, rejected = partition(tagged, pl.col("__judge_reason"), pl.col("__judge_detail"))
    return (kept.drop("__judge_reason", "__judge_detail"),
            rejected.drop("__judge_reason", "__judge_detail"))


def judge_column(params: JudgeParams, default: str) -> str:
    return f"judge_{params.name or default}"


def finish(frame: pl.DataFrame, params: JudgeParams, column: str) -> pl.DataFrame:
    """Copy the judge's column into `score` when this judge sets it."""
    if params.set_score and column in frame.columns:
        frame = frame.with_columns(pl.col(column).cast(pl.Float64).alias("score"))
    return frame

