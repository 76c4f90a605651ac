"""`judge_pairwise`: an LLM judge compares two candidates of one prompt, in both orders.

LLM judges prefer whichever answer they read first (or second) — Zheng et al. 2023, "Judging
LLM-as-a-Judge with MT-Bench and Chatbot Arena", §3.3 — so every pair is asked as (A=x, B=y) and
(A=y, B=x). Verdicts that agree after mapping back are consistent; the rest follow the
recipe's `on_inconsistent` policy: `tie` (MT-Bench's choice) or `drop` (the comparison is
discarded). A candidate's score comes from the comparisons that count: its win rate (ties
count half), or a Bradley–Terry strength (Bradley & Terry 1952; fitted with Hunter's 2004 MM
algorithm). The position-consistency rate goes into `self.stats` for report.json.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from datatools.judge.llm import (LLMJudgeParams, ask, check_parse_gate, failure_reason, finish,
                                 get_backend, judge_cache_token, judge_column, judge_model_keys,
                                 raw_detail, split_by_reasons)
from datatools.judge.parsing import parse_verdict
from datatools.judge.rubric import fill, render_prompt
from datatools.step import Step

INCONSISTENT = "judge.inconsistent"
SINGLE = "judge.single_candidate"
TOO_MANY = "judge.too_many_candidates"

DEFAULT_TEMPLATE = """Please act as an impartial judge and evaluate the quality of the \
responses provided by two AI assistants to the user question below. Choose the assistant that \
follows the user's instructions and answers the question better, considering helpfulness, \
relevance, accuracy, depth and level of detail. Do not let the order in which the responses \
are presented, their length, or the assistants' names influence your decision.

## User question
{instruction}

## Response A
{response_a}

## Response B
{response_b}

Answer with only a JSON object: {"explanation": "<one or two sentences>", "winner": "A", \
"B" or "tie"}"""

SYSTEM = "You are a strict, impartial judge of AI assistant responses."
JSON_SCHEMA = {
    "type": "object",
    "properties": {"explanation": {"type": "string"},
                   "winner": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["explanation", "winner"], "additionalProperties": False,
}


class PairwiseParams(LLMJudgeParams):
    template: str = Field(
        DEFAULT_TEMPLATE, description="user message sent to the judge; placeholders "
        "{instruction}, {response_a}, {response_b} (all required)",
    )
    system: str | None = Field(SYSTEM, description="judge system message (null: none)")
    on_inconsistent: Literal["tie", "drop"] = Field(
        "tie", description="when the two orders disagree: tie (count the pair as a tie) or "
        "drop (discard it; a candidate left with no comparison is rejected as "
        "judge.inconsistent)",
    )
    scoring: Literal["win_rate", "bradley_terry"] = Field(
        "win_rate", description="win_rate: (wins + ties/2) / comparisons, in [0, 1]; "
        "bradley_terry: log-strength centred on the record's mean",
    )
    max_candidates: int = Field(
        8, ge=2, description="refuse records with more candidates: pairs grow as n², and "
        "each pair costs two requests",
    )

    @model_validator(mode="after")
    def _check(self) -> "PairwiseParams":
        missing = [p for p in ("{instruction}", "{response_a}", "{response_b}")
                   if p not in self.template]
        if missing:
            raise ValueError(f"template must contain {', '.join(missing)}")
        return self


def bradley_terry(n: int, results: list[tuple[int, int, float]], iters: int = 200) -> list[float]:
    """Centred log-strengths from (i, j, s) results, s = 1 if i won, 0.5 tie, 0 if j won.

    MM updates p_i ← W_i / Σ_j n_ij / (p_i + p_j) (Hunter 2004). Each player also gets half a
    win and half a loss against a fixed virtual player of strength 1, so an undefeated
    candidate has a finite strength and the fit always converges.
    """
    wins = [0.5] * n
    games: dict[tuple[int, int], float] = {}
    for i, j, s in results:
        wins[i] += s
        wins[j] += 1 - s
        games[(i, j)] = games.get((i, j), 0) + 1
    p = [1.0] * n
    for _ in range(iters):
        denom = [1.0 / (p[i] + 1.0) for i in range(n)]  # the virtual player's game
        for (i, j), g in games.items():
            denom[i] += g / (p[i] + p[j])
            denom[j] += g / (p[i] + p[j])
        p = [wins[i] / denom[i] for i in range(n)]
    logs = [math.log(x) for x in p]
    mean = sum(logs) / n
    return [x - mean for x in logs]


class PairwiseJudge(Step):
    """LLM judge: compare candidates of one prompt pairwise, both orders (position bias)."""

    name = "judge_pairwise"
    scope = "record"  # compares a record's candidates
    Params = PairwiseParams
    requires = ("prompt", "completion")

    @property
    def column(self) -> str:
        return judge_column(self.params, "pairwise")

    def check(self, ctx) -> list:
        return self.params.backend.problems(ctx, "backend")

    def produced_columns(self) -> set[str]:
        return {self.column, f"{self.column}_compared", "score"}

    def template_key(self) -> str:
        """The judge's instructions: part of every request's cache key."""
        return json.dumps([self.params.template, self.params.system])

    def conversation(self, prompt, a: str, b: str) -> list[dict]:
        p = self.params
        text = fill(p.template, {"instruction": render_prompt(prompt), "response_a": a,
                                 "response_b": b})
        return ([{"role": "system", "content": p.system}] if p.system else []) + [
            {"role": "user", "content": text}]

    def cache_token(self) -> str:
        return judge_cache_token(self.template_key(), self.params.backend, self.ctx)

    def model_keys(self) -> list:
        return judge_model_keys(self.params.backend, self.ctx)

    def __call__(self, frame: pl.DataFrame):
        p = self.params
        rows = frame.select("id", "prompt", "completion").to_dicts()
        n = len(rows)
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        groups: dict[str, list[int]] = {}
        for k, r in enumerate(rows):
            if r["completion"] is None:
                reasons[k], details[k] = "judge.missing_completion", "no completion to judge"
            else:
                groups.setdefault(r["id"], []).append(k)
        pairs: list[tuple[int, int]] = []
        for members in groups.values():
            if len(members) < 2 or len(members) > p.max_candidates:
                why = ("only one candidate: pairwise judging needs two or more"
                       if len(members) < 2 else f"{len(members)} candidates > max_candidates "
                       f"{p.max_candidates}")
                for k in members:
                    reasons[k], details[k] = SINGLE if len(members) < 2 else TOO_MANY, why
                continue
            pairs += list(itertools.combinations(members, 2))

        convs = []
        for i, j in pairs:  # both orders, adjacent, so shared prefixes stay close in a batch
            convs.append(self.conversation(rows[i]["prompt"], rows[i]["completion"],
                                           rows[j]["completion"]))
            convs.append(self.conversation(rows[i]["prompt"], rows[j]["completion"],
                                           rows[i]["completion"]))
        outcomes = []
        if convs:
            outcomes = ask(get_backend(p.backend, self.ctx), self.ctx, p, convs,
                           lambda raw: (parse_verdict(raw), "no verdict (A, B or tie) found"),
                           template=self.template_key(), json_schema=JSON_SCHEMA,
                           description=f"{self.name} ({len(pairs)} pairs × 2 orders)")
        scores, counts = self._score(rows, pairs, outcomes, reasons, details)
        check_parse_gate(self.name, p, outcomes)
        out = frame.with_columns(pl.Series(self.column, scores, dtype=pl.Float64),
                                 pl.Series(f"{self.column}_compared", counts, dtype=pl.Int64))
        kept, rejected = split_by_reasons(out, reasons, details)
        return finish(kept, p, self.column), rejected

    def _score(self, rows, pairs, outcomes, reasons, details):
        """(scores, comparisons counted) per row; fills reasons for rows left unscored."""
        p = self.params
        n = len(rows)
        # Per counted comparison: (i, j, s) with s = i's share of the win.
        results: dict[str, list[tuple[int, int, float]]] = {}
        failed_at: dict[int, tuple[str, str]] = {}
        dropped_at: dict[int, str] = {}
        consistent = inconsistent = failed = first_pos = decisive = 0
        for (i, j), o1, o2 in zip(pairs, outcomes[0::2], outcomes[1::2]):
            if o1.failed or o2.failed:
                failed += 1
                bad = o1 if o1.failed else o2
                failed_at.setdefault(i, (failure_reason(bad), raw_detail(bad)))
                failed_at.setdefault(j, (failure_reason(bad), raw_detail(bad)))
                continue
            for v in (o1.value, o2.value):
                if v != "tie":
                    decisive += 1
                    first_pos += v == "A"
            # Map both verdicts to i's share: order 1 has i as A, order 2 has i as B.
            s1 = {"A": 1.0, "B": 0.0, "tie": 0.5}[o1.value]
            s2 = {"A": 0.0, "B": 1.0, "tie": 0.5}[o2.value]
            if s1 == s2:
                consistent += 1
                s = s1
            else:
                inconsistent += 1
                if p.on_inconsistent == "drop":
                    why = (f"verdicts disagree across orders ({o1.value!r} with this answer "
                           f"first, {o2.value!r} with it second); on_inconsistent: drop")
                    dropped_at.setdefault(i, why)
                    dropped_at.setdefault(j, why)
                    continue
                s = 0.5
            results.setdefault(rows[i]["id"], []).append((i, j, s))

        scores: list[float | None] = [None] * n
        counts: list[int] = [0] * n
        for rid, res in results.items():
            members = sorted({k for i, j, _ in res for k in (i, j)})
            if p.scoring == "bradley_terry":
                local = {k: m for m, k in enumerate(members)}
                strengths = bradley_terry(len(members),
                                          [(local[i], local[j], s) for i, j, s in res])
                for k in members:
                    scores[k] = strengths[local[k]]
            for i, j, s in res:
                counts[i] += 1
                counts[j] += 1
                if p.scoring == "win_rate":
                    scores[i] = (scores[i] or 0.0) + s
                    scores[j] = (scores[j] or 0.0) + 1 - s
        if p.scoring == "win_rate":
            scores = [s / c if c else None for s, c in zip(scores, counts)]
        for k in range(n):
            if reasons[k] is None and counts[k] == 0:
                if k in failed_at:
                    reasons[k], details[k] = failed_at[k]
                else:
                    reasons[k], details[k] = INCONSISTENT, dropped_at.get(k, "no comparison")
        judged = consistent + inconsistent
        self.stats = {
            "pairs": len(pairs), "requests": len(outcomes), "parse_failures":
            sum(o.failed for o in outcomes), "parse_failure_rate":
            sum(o.failed for o in outcomes) / len(outcomes) if outcomes else 0.0,
            "pairs_failed": failed, "consistent": consistent, "inconsistent": inconsistent,
            "position_consistency_rate": consistent / judged if judged else None,
            "first_position_win_rate": first_pos / decisive if decisive else None,
        }
        return scores, counts
