"""ms-swift's dataset formats.

{messages, system?} · {query, response, history?: [[q, a], ...], system?} · {response} alone
(pre-training text) · DPO adds `rejected_response` (or `rejected_messages`), KTO adds `label`.
"""
from __future__ import annotations

from datatools.formats.base import (
    Parsed, RecordError, get_label, get_list, get_str, missing, pairwise, single, wrong_type,
)
from datatools.formats.messages import parse_messages, shared_prompt, split_answer, with_system

KEYS = {"messages", "system", "query", "response", "history", "rejected_response",
        "rejected_messages", "label", "score_chosen", "score_rejected"}


def history_messages(record: dict, name: str = "history") -> list[dict[str, str]]:
    """[[user, assistant], ...] pairs → alternating turns (shared with Alpaca's `history`)."""
    turns: list[dict[str, str]] = []
    for i, pair in enumerate(get_list(record, name, required=False) or []):
        if hasattr(pair, "tolist"):
            pair = pair.tolist()
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise wrong_type(f"{name}[{i}]", "a [user, assistant] pair", pair)
        for role, text in zip(("user", "assistant"), pair):
            if not isinstance(text, str):
                raise wrong_type(f"{name}[{i}]", "a pair of strings", text)
            turns.append({"role": role, "content": text})
    return turns


def parse(record: dict) -> Parsed:
    system = get_str(record, "system", required=False)
    label = get_label(record, "label")
    if record.get("messages") is not None:
        messages = with_system(system, parse_messages(record["messages"], "messages"))
        if record.get("rejected_messages") is not None:
            rejected = with_system(system, parse_messages(record["rejected_messages"],
                                                          "rejected_messages"))
            prompt, chosen, other = shared_prompt(messages, rejected, "messages/rejected_messages")
            return pairwise(prompt, chosen, other, record)
        prompt, answer = split_answer(messages)
        return _finish(record, prompt, answer, label, "messages (last assistant turn)")
    if record.get("query") is not None:
        query = get_str(record, "query")
        prompt = with_system(system, [*history_messages(record),
                                      {"role": "user", "content": query}])
        return _finish(record, prompt, get_str(record, "response", required=False), label,
                       "response")
    if record.get("response") is not None:
        # Pre-training text: no prompt at all.
        return single([], get_str(record, "response"))
    raise RecordError("read.missing_field",
                      "messages, query or response: none present (ms-swift format)")


def _finish(record: dict, prompt, answer: str | None, label, answer_field: str) -> Parsed:
    rejected = get_str(record, "rejected_response", required=False)
    if rejected is None:
        return single(prompt, answer, label)
    if answer is None:
        raise missing(answer_field, "string (rejected_response needs a chosen answer)")
    return pairwise(prompt, answer, rejected, record)
