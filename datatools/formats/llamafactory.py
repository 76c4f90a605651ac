"""LLaMA-Factory's v1 data: OpenAI-style messages whose content is a list of blocks.

{messages: [{role, content: [{type: text, value|text}], loss_weight?}]} for SFT, and
{chosen_messages, rejected_messages} (whole dialogues sharing all but the answer) for DPO.
Non-text blocks (images, ...) are `read.bad_content`: the frame holds text only.
"""
from __future__ import annotations

from datatools.formats.base import Parsed, RecordError, get_label, pairwise, single
from datatools.formats.messages import parse_messages, shared_prompt, split_answer

KEYS = {"messages", "chosen_messages", "rejected_messages", "label", "kto_tag",
        "score_chosen", "score_rejected"}


def parse(record: dict) -> Parsed:
    if record.get("chosen_messages") is not None or record.get("rejected_messages") is not None:
        for side in ("chosen_messages", "rejected_messages"):
            if record.get(side) is None:
                raise RecordError("read.missing_field", f"{side}: required list of messages")
        prompt, chosen, rejected = shared_prompt(
            parse_messages(record["chosen_messages"], "chosen_messages"),
            parse_messages(record["rejected_messages"], "rejected_messages"),
            "chosen_messages/rejected_messages",
        )
        return pairwise(prompt, chosen, rejected, record)
    if record.get("messages") is None:
        raise RecordError("read.missing_field",
                          "messages or chosen_messages+rejected_messages: none present")
    prompt, answer = split_answer(parse_messages(record["messages"], "messages"))
    label = get_label(record, "kto_tag")
    return single(prompt, answer, label if label is not None else get_label(record, "label"))
