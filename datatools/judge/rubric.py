"""`judge_rubric`: an LLM judge rates each candidate on named aspects (UltraFeedback).

UltraFeedback (Cui et al. 2023) rates helpfulness, honesty, instruction-following and
truthfulness on 1–5; TÜLU 3 (Lambert et al. 2024) and argilla's binarisation rank candidates by
the mean of those aspects. By default all aspects are asked for in one JSON answer (one
request per candidate); `mode: per_aspect` asks each aspect alone, as UltraFeedback did. Judge
prompts share their prefix, which vLLM's prefix caching reuses. Each aspect is kept as a
column, and the judge's overall score is their mean. An answer missing any
aspect, or rating outside the scale, is re-asked and finally rejected as `judge.parse_failure`
with the raw output — never −1, never a mean over the aspects that happened to parse.
"""
from __future__ import annotations

import json
import re
from typing import Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from datatools.judge.llm import (LLMJudgeParams, ask, check_parse_gate, failure_reason, finish,
                                 get_backend, judge_cache_token, judge_column, judge_model_keys,
                                 raw_detail, split_by_reasons)
from datatools.judge.parsing import parse_ratings
from datatools.step import Step

ULTRAFEEDBACK_ASPECTS = {
    "helpfulness": "informativeness and usefulness: correct, relevant and comprehensive, "
                   "without needless length or repetition",
    "honesty": "expresses confidence that matches its correctness and states uncertainty "
               "where it is unsure, instead of fabricating",
    "instruction_following": "follows the instruction's intent, task goal and restrictions "
                             "(format, length, style)",
    "truthfulness": "free of hallucination: no factual errors and no contradictions with the "
                    "instruction or with itself",
}

DEFAULT_TEMPLATE = """Evaluate the AI assistant's response to the instruction below.

Rate the response on each aspect from {scale_min} (worst) to {scale_max} (best):
{aspects}

## Instruction
{instruction}

## Response
{completion}

Answer with only a JSON object that maps each aspect to an integer rating:
{json_example}"""

SYSTEM = "You are a strict, impartial evaluator of AI assistant responses."
PLACEHOLDERS = ("{instruction}", "{completion}", "{aspects}", "{scale_min}", "{scale_max}",
                "{json_example}")


def render_prompt(prompt: list[dict]) -> str:
    """The conversation a candidate answers, as plain text for the judge."""
    turns = [m for m in prompt or [] if m.get("content")]
    if len(turns) == 1 and turns[0]["role"] == "user":
        return turns[0]["content"]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in turns)


def fill(template: str, values: dict[str, str]) -> str:
    """One-pass placeholder substitution: other braces (JSON in templates) stay as they are,
    and a placeholder that appears inside a prompt or completion is never substituted."""
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


class RubricParams(LLMJudgeParams):
    aspects: dict[str, str] = Field(
        default_factory=lambda: dict(ULTRAFEEDBACK_ASPECTS), min_length=1,
        description="aspect name → what it means; default: UltraFeedback's four aspects",
    )
    scale_min: int = Field(1, description="lowest rating")
    scale_max: int = Field(5, description="highest rating")
    template: str = Field(
        DEFAULT_TEMPLATE, description="user message sent to the judge; placeholders: "
        + ", ".join(PLACEHOLDERS) + " ({instruction} and {completion} are required)",
    )
    system: str | None = Field(SYSTEM, description="judge system message (null: none)")
    aspect_prefix: str = Field("aspect_", description="aspect columns are <prefix><aspect>")
    mode: Literal["joint", "per_aspect"] = Field(
        "joint", description="joint: one request rates every aspect; per_aspect: one request "
        "per aspect, as UltraFeedback does (more requests, each rubric judged on its own)",
    )

    @field_validator("aspects")
    @classmethod
    def _aspect_names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not k.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"aspect names must be letters, digits and _: {bad}")
        return v

    @model_validator(mode="after")
    def _check(self) -> "RubricParams":
        if self.scale_max <= self.scale_min:
            raise ValueError("scale_max must be greater than scale_min")
        missing = [p for p in ("{instruction}", "{completion}") if p not in self.template]
        if missing:
            raise ValueError(f"template must contain {' and '.join(missing)}")
        return self


class RubricJudge(Step):
    """LLM judge: rate each candidate on rubric aspects (UltraFeedback's four by default)."""

    name = "judge_rubric"
    scope = "row"
    Params = RubricParams
    requires = ("prompt", "completion")

    @property
    def column(self) -> str:
        return judge_column(self.params, "rubric")

    def check(self, ctx) -> list:
        return self.params.backend.problems(ctx, "backend")

    def aspect_columns(self) -> dict[str, str]:
        return {a: self.params.aspect_prefix + a for a in self.params.aspects}

    def produced_columns(self) -> set[str]:
        return {self.column, "score", *self.aspect_columns().values()}

    def json_schema(self, aspects: list[str]) -> dict:
        p = self.params
        rating = {"type": "integer", "minimum": p.scale_min, "maximum": p.scale_max}
        return {"type": "object", "properties": {a: rating for a in aspects},
                "required": list(aspects), "additionalProperties": False}

    def conversation(self, prompt: list[dict], completion: str, aspects: list[str]) -> list[dict]:
        p = self.params
        # Placeholders, not sample numbers: a concrete example anchors the judge's ratings.
        slot = f"<{p.scale_min}-{p.scale_max}>"
        example = "{" + ", ".join(f'"{a}": {slot}' for a in aspects) + "}"
        text = fill(p.template, {
            "aspects": "\n".join(f"- {a}: {p.aspects[a]}" for a in aspects),
            "scale_min": str(p.scale_min), "scale_max": str(p.scale_max),
            "json_example": example,
            "instruction": render_prompt(prompt), "completion": completion,
        })
        return ([{"role": "system", "content": p.system}] if p.system else []) + [
            {"role": "user", "content": text}]

    def template_key(self) -> str:
        """The judge's instructions: part of every request's cache key."""
        p = self.params
        return json.dumps([p.template, p.system, p.aspects, p.scale_min, p.scale_max])

    def cache_token(self) -> str:
        return judge_cache_token(self.template_key(), self.params.backend, self.ctx)

    def model_keys(self) -> list:
        return judge_model_keys(self.params.backend, self.ctx)

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        rows = frame.select("prompt", "completion").to_dicts()
        groups = [list(p.aspects)] if p.mode == "joint" else [[a] for a in p.aspects]
        # One request per (candidate, aspect group); a candidate needs every group to parse.
        requests = [(i, g) for i, r in enumerate(rows) if r["completion"] is not None
                    for g in groups]
        outcomes = []
        for g in groups:  # one ask per group: each has its own JSON schema
            idx = [k for k, (_, gg) in enumerate(requests) if gg is g]
            if not idx:
                continue
            got = ask(
                get_backend(p.backend, self.ctx), self.ctx, p,
                [self.conversation(rows[requests[k][0]]["prompt"],
                                   rows[requests[k][0]]["completion"], g) for k in idx],
                lambda raw, g=g: parse_ratings(raw, g, p.scale_min, p.scale_max),
                template=self.template_key(), json_schema=self.json_schema(g),
                description=f"{self.name} ({self.column}" + (f": {g[0]})" if len(groups) > 1
                                                             else ")"),
            )
            outcomes += list(zip(idx, got))
        outcomes = [o for _, o in sorted(outcomes, key=lambda t: t[0])]
        failures = sum(o.failed for o in outcomes)
        self.stats = {"requests": len(outcomes), "parse_failures": failures,
                      "parse_failure_rate": failures / len(outcomes) if outcomes else 0.0,
                      "retried": sum(len(o.raws) > 1 for o in outcomes)}
        check_parse_gate(f"{self.name}", p, outcomes)

        n = len(rows)
        values: dict[str, list] = {a: [None] * n for a in p.aspects}
        reasons: list[str | None] = ["judge.missing_completion"] * n
        details: list[str | None] = ["no completion to judge (run generate first)"] * n
        for (i, _), o in zip(requests, outcomes):
            if reasons[i] == "judge.missing_completion":
                reasons[i], details[i] = None, None
            if o.failed:
                if reasons[i] is None:  # the first failed group names the row's failure
                    reasons[i], details[i] = failure_reason(o), raw_detail(o)
            else:
                for a, x in o.value.items():
                    values[a][i] = x
        cols = self.aspect_columns()
        out = frame.with_columns(
            *[pl.Series(cols[a], values[a], dtype=pl.Float64) for a in p.aspects],
        ).with_columns(pl.mean_horizontal([cols[a] for a in p.aspects]).alias(self.column))
        kept, rejected = split_by_reasons(out, reasons, details)
        return finish(kept, p, self.column), rejected
