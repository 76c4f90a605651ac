"""Preference labels: two answers and which one a judge or a person preferred.

alpaca_eval annotations: {instruction, output_1, output_2, preference, generator_1?,
generator_2?} with preference 1 or 2 (output_1 / output_2 preferred), fractions in between for
averaged annotators, and ties as 1.5 (or 0). Chatbot Arena / MT-Bench human judgments:
{conversation_a, conversation_b, model_a, model_b, winner} with winner model_a | model_b (or
the model's own name) | tie | tie (bothbad); the two conversations share the prompt.

The preferred answer gets the higher score (1 / 0; for a fractional preference p, output_1
gets 2 − p and output_2 p − 1, so `min_margin` can act on weak preferences). A tie cannot
make a pair and is a ledger row (`read.tie`). Other key names map onto these with `columns:`.
"""
from __future__ import annotations

import math

from datatools.formats.base import PAIRWISE, Parsed, RecordError, get_score, get_str, wrong_type
from datatools.formats.messages import parse_messages, shared_prompt, with_system

KEYS = {"instruction", "input", "prompt", "system", "output_1", "output_2", "preference",
        "generator_1", "generator_2", "conversation_a", "conversation_b", "winner", "model_a",
        "model_b"}
TIES = {"tie", "tie (bothbad)", "both_bad", "bothbad", "draw"}


def parse(record: dict) -> Parsed:
    if record.get("conversation_a") is not None or record.get("conversation_b") is not None:
        return _arena(record)
    return _alpaca_eval(record)


def _alpaca_eval(record: dict) -> Parsed:
    instruction = get_str(record, "instruction", required=False)
    if instruction is None:
        instruction = get_str(record, "prompt")
    extra = get_str(record, "input", required=False)
    query = f"{instruction}\n{extra}" if extra else instruction
    prompt = with_system(get_str(record, "system", required=False),
                         [{"role": "user", "content": query}])
    first, second = get_str(record, "output_1"), get_str(record, "output_2")
    p = get_score(record, "preference")
    if p is None:
        raise RecordError("read.missing_field", "preference: required number (1: output_1 "
                          "preferred, 2: output_2, 1.5 or 0: tie) is missing")
    if p == 0 or p == 1.5:
        raise RecordError("read.tie", f"preference {p:g}: a tie cannot make a pair")
    if math.isnan(p) or not 1 <= p <= 2:
        raise RecordError("read.bad_content", f"preference: expected a number in [1, 2] "
                          f"(or 0 for a tie), got {p:g}")
    return Parsed(PAIRWISE, prompt, [
        _answer(first, 2.0 - p, _model(record, "generator_1")),
        _answer(second, p - 1.0, _model(record, "generator_2")),
    ])


def _arena(record: dict) -> Parsed:
    a = parse_messages(record.get("conversation_a"), "conversation_a")
    b = parse_messages(record.get("conversation_b"), "conversation_b")
    prompt, answer_a, answer_b = shared_prompt(a, b, "conversation_a/conversation_b")
    winner = record.get("winner")
    if not isinstance(winner, str):
        raise wrong_type("winner", "model_a, model_b or tie", winner)
    model_a, model_b = _model(record, "model_a"), _model(record, "model_b")
    w = winner.strip().lower()
    if w in TIES:
        raise RecordError("read.tie", f"winner {winner!r}: a tie cannot make a pair")
    if w == "model_a" or (model_a is not None and winner == model_a):
        scores = (1.0, 0.0)
    elif w == "model_b" or (model_b is not None and winner == model_b):
        scores = (0.0, 1.0)
    else:
        raise RecordError("read.bad_content", f"winner: expected model_a, model_b, one of the "
                          f"two model names or tie, got {winner!r}")
    return Parsed(PAIRWISE, prompt, [
        _answer(answer_a, scores[0], model_a), _answer(answer_b, scores[1], model_b),
    ])


def _model(record: dict, key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value else None


def _answer(content: str, score: float, model: str | None) -> dict:
    return {"content": content, "score": score, **({"model": model} if model else {})}
