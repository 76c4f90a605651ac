"""The verifiers as GRPO reward functions, in TRL's reward-function signature.

TRL's GRPOTrainer calls `f(prompts=..., completions=..., completion_ids=..., **columns)` with
every dataset column as a list, plus `log_metric`; a reward of None means "does not apply to
this row" (TRL turns it into NaN and leaves it out of the sum). One function per verifier, so
TRL logs `rewards/<name>/mean` for each; the constraint reward also logs the pass rate of each
constraint type (`pass_rate/<type>`) for the batch.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Literal

from datatools.verifiers.score import ANSWER, ConstraintError, parse_constraints, score_completion


def completion_text(completion: Any) -> str:
    """A TRL completion: a string (standard) or a list of messages (conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        return last.get("content") or "" if isinstance(last, dict) else str(last)
    return ""


def _column(kwargs: dict, name: str, n: int) -> list:
    values = kwargs.get(name)
    return list(values) if values is not None else [None] * n


def make_reward_functions(scoring: Literal["fraction", "all"] = "fraction",
                          answer_column: str = "answer",
                          constraints_column: str = "constraints") -> list[Callable]:
    """[verifier_answer, verifier_constraints]: the math final-answer check and the instruction
    constraints, each scored by `score_completion`. `scoring: all` gives TÜLU 3's binary
    reward (1 only when every constraint holds); `fraction` the share of constraints met."""

    def verifier_answer(prompts, completions, **kwargs) -> list[float | None]:
        answers = _column(kwargs, answer_column, len(completions))
        out: list[float | None] = []
        for completion, answer in zip(completions, answers):
            verdict = score_completion(completion_text(completion), answer, None)
            out.append(None if ANSWER not in verdict.results else float(verdict.results[ANSWER][0]))
        return out

    def verifier_constraints(prompts, completions, log_metric=None, **kwargs):
        specs = _column(kwargs, constraints_column, len(completions))
        out: list[float | None] = []
        passed: dict[str, list[bool]] = defaultdict(list)
        for completion, spec in zip(completions, specs):
            try:
                parsed = parse_constraints(spec)
            except ConstraintError:
                out.append(None)  # the data's pre-flight reports these; no reward either way
                continue
            verdict = score_completion(completion_text(completion), None, parsed)
            if verdict.score is None:
                out.append(None)
                continue
            for name, (ok, _) in verdict.results.items():
                passed[name].append(ok)
            out.append(verdict.score if scoring == "fraction" else float(verdict.all_passed))
        if log_metric is not None:
            for name, oks in passed.items():
                log_metric(f"pass_rate/{name}", sum(oks) / len(oks))
        return out

    verifier_answer.__name__ = "verifier_answer"
    verifier_constraints.__name__ = "verifier_constraints"
    return [verifier_answer, verifier_constraints]
