"""Anthropic HH-RLHF: `chosen` and `rejected` are whole dialogues written as
"\\n\\nHuman: …\\n\\nAssistant: …". They share every turn but the last assistant answer, so
the shared turns become the prompt and the two final answers the candidates.
"""
from __future__ import annotations

import re

from datatools.formats.base import Parsed, RecordError, get_str, pairwise
from datatools.formats.messages import shared_prompt

KEYS = {"chosen", "rejected", "score_chosen", "score_rejected"}
SPEAKER = re.compile(r"(?:^|\n\n)(Human|Assistant):[ ]?")
ROLES = {"Human": "user", "Assistant": "assistant"}


def looks_like_dialogue(text: object) -> bool:
    return isinstance(text, str) and bool(SPEAKER.match(text.lstrip(" ")) or "\n\nHuman:" in text)


def dialogue_messages(text: str, where: str) -> list[dict[str, str]]:
    parts = SPEAKER.split(text)
    # split() with one group gives [before, speaker, text, speaker, text, ...]
    if parts[0].strip() or len(parts) < 3:
        raise RecordError("read.bad_content",
                          f"{where}: expected a dialogue of '\\n\\nHuman: ' / "
                          f"'\\n\\nAssistant: ' turns")
    return [{"role": ROLES[speaker], "content": content}
            for speaker, content in zip(parts[1::2], parts[2::2])]


def parse(record: dict) -> Parsed:
    chosen = dialogue_messages(get_str(record, "chosen"), "chosen")
    rejected = dialogue_messages(get_str(record, "rejected"), "rejected")
    prompt, c, r = shared_prompt(chosen, rejected)
    return pairwise(prompt, c, r, record)
