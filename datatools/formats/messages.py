"""Message lists in every dialect the formats use → [{role, content}] with string content.

Unknown roles pass through unchanged on purpose: `validate` rejects them with
`validate.bad_role`, so they show up in the ledger under a step that explains them.
"""
from __future__ import annotations

from typing import Any

from datatools.formats.base import RecordError, missing, type_name, wrong_type

# ShareGPT speakers (LLaMA-Factory's names, plus the plain ones some exports use).
SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "function_call": "assistant",
    "system": "system",
    "observation": "tool", "tool": "tool", "function": "tool",
}
TO_SHAREGPT_ROLES = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}


def content_text(value: Any, where: str) -> str:
    """String content as is; a list of text blocks ({type: text, text|value}) joined; else an error.

    Blocks are pieces of one message, so they are concatenated without a separator, as chat
    templates render them.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(block, dict) for block in value):
        parts = []
        for i, block in enumerate(value):
            block_type = block.get("type", "text")
            if block_type != "text":
                raise RecordError(
                    "read.bad_content",
                    f"{where}[{i}]: only text content blocks are supported, "
                    f"got type {block_type!r}",
                )
            text = block.get("text", block.get("value"))
            if not isinstance(text, str):
                raise RecordError(
                    "read.bad_content",
                    f"{where}[{i}]: a text block needs a string `text` (or `value`), "
                    f"got {type_name(text)}",
                )
            parts.append(text)
        return "".join(parts)
    raise RecordError(
        "read.bad_content",
        f"{where}: expected a string or a list of text blocks, got {type_name(value)}",
    )


def as_list(value: Any, where: str, expected: str) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple) or (hasattr(value, "tolist") and not isinstance(value, str)):
        return list(value.tolist() if hasattr(value, "tolist") else value)
    raise wrong_type(where, expected, value)


def parse_messages(
    value: Any,
    where: str,
    *,
    role_key: str = "role",
    content_key: str = "content",
    role_map: dict[str, str] | None = None,
) -> list[dict[str, str]]:
    """A list of message objects → canonical messages; `where` names the field in errors."""
    if value is None:
        raise missing(where, "list of messages")
    items = as_list(value, where, f"a list of {{{role_key}, {content_key}}} messages")
    messages = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise wrong_type(here, f"an object with {role_key!r} and {content_key!r}", item)
        role = item.get(role_key)
        if role is None:
            raise missing(f"{here}.{role_key}", "string")
        if not isinstance(role, str):
            raise wrong_type(f"{here}.{role_key}", "a string", role)
        if content_key not in item:
            raise missing(f"{here}.{content_key}", "string")
        if role_map:
            role = role_map.get(role, role)
        content = content_text(item[content_key], f"{here}.{content_key}")
        messages.append({"role": role, "content": content})
    return messages


def with_system(system: str | None, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Prepend a separate `system` field as the first turn (unless the dialogue already has one)."""
    if system is None or system == "" or (messages and messages[0]["role"] == "system"):
        return messages
    return [{"role": "system", "content": system}, *messages]


def split_answer(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], str | None]:
    """(turns before the last assistant turn, its content) — or (all, None) for a prompt only."""
    if messages and messages[-1]["role"] == "assistant":
        return messages[:-1], messages[-1]["content"]
    return messages, None


def shared_prompt(
    chosen: list[dict[str, str]], rejected: list[dict[str, str]], where: str = "chosen/rejected"
) -> tuple[list[dict[str, str]], str, str]:
    """Implicit prompt: two whole dialogues that differ only in their final assistant turn.

    Returns (shared prefix, chosen answer, rejected answer). Identical dialogues are passed
    through (validate rejects chosen == rejected with its own reason).
    """
    n = 0
    limit = min(len(chosen), len(rejected))
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    if n == len(chosen) == len(rejected) and n:
        n -= 1
    rest_c, rest_r = chosen[n:], rejected[n:]
    if (len(rest_c) == 1 == len(rest_r) and rest_c[0]["role"] == "assistant"
            and rest_r[0]["role"] == "assistant"):
        return chosen[:n], rest_c[0]["content"], rest_r[0]["content"]
    raise RecordError(
        "read.bad_content",
        f"{where}: the two dialogues must share every turn but a final assistant turn; they "
        f"differ from turn {n} ({len(rest_c)} vs {len(rest_r)} turns left, roles "
        f"{[m['role'] for m in rest_c]} vs {[m['role'] for m in rest_r]})",
    )
