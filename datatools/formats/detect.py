"""Format detection from the keys (and a peek at the values) of the first records.

Rules are tried in order and the first that matches wins; the order puts the most specific
shapes first (UltraFeedback's `completions`, hh-rlhf's dialogue strings, content blocks) so
the generic TRL shapes only catch what nothing narrower explains.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datatools.formats.hh_rlhf import looks_like_dialogue

SAMPLE_SIZE = 100
PROMPT_KEYS = {"prompt", "messages", "conversations", "conversation", "instruction", "query"}


class Sample:
    """Keys with a non-null value somewhere in the first records, and a first value per key."""

    def __init__(self, records: list[dict[str, Any]]):
        self.first: dict[str, Any] = {}
        for record in records[:SAMPLE_SIZE]:
            for key, value in record.items():
                if value is not None and key not in self.first:
                    self.first[key] = value
        self.keys = set(self.first)

    def has(self, *keys: str) -> bool:
        return all(k in self.keys for k in keys)

    def first_message(self, key: str) -> Any:
        value = self.first.get(key)
        if hasattr(value, "tolist") and not isinstance(value, str):
            value = value.tolist()
        return value[0] if isinstance(value, (list, tuple)) and len(value) else None


def _content_blocks(s: Sample) -> bool:
    for key in ("messages", "chosen_messages"):
        message = s.first_message(key)
        if isinstance(message, dict) and isinstance(message.get("content"), (list, tuple)):
            return True
    return s.has("chosen_messages")


def _sharegpt(s: Sample) -> bool:
    message = s.first_message("messages")
    return (s.has("conversations") or s.has("conversation")
            or (isinstance(message, dict) and "from" in message))


def _hh_rlhf(s: Sample) -> bool:
    return (s.has("chosen", "rejected") and not s.keys & PROMPT_KEYS
            and looks_like_dialogue(s.first["chosen"]))


def _swift(s: Sample) -> bool:
    if s.has("prompt"):  # TRL files mixing kinds have messages and label too
        return False
    return (s.has("query") or s.has("response") or s.has("rejected_response")
            or (s.has("messages") and bool(s.keys & {"label", "rejected_messages", "system"})))


def _trl(s: Sample) -> bool:
    return (s.has("prompt") or s.has("chosen", "rejected") or s.has("messages")
            or s.has("text"))


# (format, what it needs — for the error message, rule)
RULES: list[tuple[str, str, Callable[[Sample], bool]]] = [
    ("ultrafeedback", "completions (+ instruction | prompt)", lambda s: s.has("completions")),
    ("preference_label", "output_1 + output_2 (+ preference), or conversation_a + "
     "conversation_b (+ winner)",
     lambda s: s.has("output_1", "output_2") or s.has("conversation_a", "conversation_b")),
    ("hh_rlhf", "chosen + rejected as '\\n\\nHuman: …' dialogue strings", _hh_rlhf),
    ("llamafactory", "messages with content blocks, or chosen_messages + rejected_messages",
     _content_blocks),
    ("sharegpt", "conversations [{from, value}] (or conversation [{human, assistant}])",
     _sharegpt),
    ("alpaca", "instruction (+ input, output | chosen + rejected)", lambda s: s.has("instruction")),
    ("swift", "query/response, rejected_response, or messages + label/system",
     _swift),
    ("trl", "prompt, chosen + rejected, messages, or text", _trl),
]


def detect(records: list[dict[str, Any]]) -> str | None:
    """The format name of these records, or None when no rule matches."""
    sample = Sample(records)
    for name, _needs, rule in RULES:
        if rule(sample):
            return name
    return None


def explain_failure(records: list[dict[str, Any]]) -> str:
    keys = sorted(Sample(records).keys)
    tried = "; ".join(f"{name} needs {needs}" for name, needs, _ in RULES)
    return f"keys seen: {', '.join(keys) or '(none)'}. Formats tried: {tried}"

