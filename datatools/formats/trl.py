"""TRL's dataset types, standard (strings) and conversational (message lists).

prompt-only {prompt} · prompt-completion {prompt, completion} · preference {prompt, chosen,
rejected} or implicit {chosen, rejected} · unpaired preference {prompt, completion, label} ·
language modelling {text} or {messages}. Optional `score_chosen` / `score_rejected`.
"""
from __future__ import annotations

from datatools.formats.base import (
    Parsed, RecordError, get_label, pairwise, single, type_name, wrong_type,
)
from datatools.formats.messages import parse_messages, shared_prompt, split_answer

KEYS = {"prompt", "completion", "chosen", "rejected", "label", "messages", "text",
        "score_chosen", "score_rejected"}


def prompt_messages(value, where: str = "prompt") -> list[dict[str, str]]:
    """Standard prompt (a string, one user turn) or conversational (a message list)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list):
        return parse_messages(value, where)
    raise wrong_type(where, "a string or a list of messages", value)


def answer_text(value, where: str) -> str:
    """A completion: a string, or a conversational completion of exactly one assistant turn."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        messages = parse_messages(value, where)
        if len(messages) == 1 and messages[0]["role"] == "assistant":
            return messages[0]["content"]
        raise RecordError(
            "read.bad_content",
            f"{where}: expected one assistant message, got roles {[m['role'] for m in messages]}",
        )
    raise wrong_type(where, "a string or a list with one assistant message", value)


def _string_prefix(chosen: str, rejected: str) -> tuple[str, str, str]:
    """TRL's rule for implicit standard prompts: the common prefix, cut back to a word boundary."""
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    while n and not chosen[n - 1].isspace() and n < max(len(chosen), len(rejected)):
        n -= 1
    return chosen[:n], chosen[n:], rejected[n:]


def parse(record: dict) -> Parsed:
    if record.get("chosen") is not None or record.get("rejected") is not None:
        return _preference(record)
    if record.get("prompt") is not None:
        prompt = prompt_messages(record["prompt"])
        completion = record.get("completion")
        text = None if completion is None else answer_text(completion, "completion")
        return single(prompt, text, get_label(record, "label"))
    if record.get("messages") is not None:
        prompt, answer = split_answer(parse_messages(record["messages"], "messages"))
        return single(prompt, answer, get_label(record, "label"))
    if record.get("text") is not None:
        if not isinstance(record["text"], str):
            raise wrong_type("text", "a string", record["text"])
        # Language modelling: no prompt; validate rejects it unless the recipe allows it.
        return single([], record["text"])
    raise RecordError(
        "read.missing_field",
        "prompt, messages, text or chosen+rejected: none present (TRL format)",
    )


def _preference(record: dict) -> Parsed:
    for side in ("chosen", "rejected"):
        if record.get(side) is None:
            raise RecordError("read.missing_field", f"{side}: required with "
                              f"{'rejected' if side == 'chosen' else 'chosen'} (preference)")
    chosen, rejected = record["chosen"], record["rejected"]
    whole_dialogues = (isinstance(chosen, list) and isinstance(rejected, list)
                       and max(len(chosen), len(rejected)) > 1)
    if record.get("prompt") is not None and not whole_dialogues:
        prompt = prompt_messages(record["prompt"])
        return pairwise(prompt, answer_text(chosen, "chosen"), answer_text(rejected, "rejected"),
                        record)
    # Implicit prompt: whole dialogues (or texts) that share everything but the answer. Files
    # like UltraFeedback-binarized also give the prompt as a string: the dialogues hold it.
    if isinstance(chosen, list) and isinstance(rejected, list):
        prompt, c, r = shared_prompt(parse_messages(chosen, "chosen"),
                                     parse_messages(rejected, "rejected"))
        return pairwise(prompt, c, r, record)
    if isinstance(chosen, str) and isinstance(rejected, str):
        prefix, c, r = _string_prefix(chosen, rejected)
        prompt = [{"role": "user", "content": prefix}] if prefix else []
        return pairwise(prompt, c, r, record)
    raise RecordError("read.wrong_type", f"chosen/rejected: expected two strings or two message "
                      f"lists, got {type_name(chosen)} and {type_name(rejected)}")

