"""ShareGPT, as LLaMA-Factory and ms-swift write it.

{conversations: [{from, value}], system?} with speakers human/gpt/system/function_call/
observation; LLaMA-Factory's DPO form adds `chosen` / `rejected` message objects after a
conversation that ends with the human turn, its KTO form adds `kto_tag`. ms-swift's older
variant is {conversation: [{human, assistant}, ...], system?}.
"""
from __future__ import annotations

from datatools.formats.base import (
    Parsed, RecordError, get_label, get_list, get_str, pairwise, single, wrong_type,
)
from datatools.formats.messages import (
    SHAREGPT_ROLES, content_text, parse_messages, split_answer, with_system,
)

KEYS = {"conversations", "conversation", "messages", "system", "chosen", "rejected",
        "kto_tag", "label", "score_chosen", "score_rejected"}


def _turns(record: dict) -> list[dict[str, str]]:
    if record.get("conversation") is not None and record.get("conversations") is None:
        turns = []
        for i, pair in enumerate(get_list(record, "conversation")):
            if not isinstance(pair, dict):
                raise wrong_type(f"conversation[{i}]", "an object {human, assistant}", pair)
            for speaker, role in (("human", "user"), ("assistant", "assistant")):
                if pair.get(speaker) is not None:
                    where = f"conversation[{i}].{speaker}"
                    turns.append({"role": role, "content": content_text(pair[speaker], where)})
        return turns
    name = "conversations" if record.get("conversations") is not None else "messages"
    if record.get(name) is None:
        raise RecordError("read.missing_field", "conversations: required list of {from, value}")
    return parse_messages(record[name], name, role_key="from", content_key="value",
                          role_map=SHAREGPT_ROLES)


def _answer(record: dict, side: str) -> str:
    value = record.get(side)
    if isinstance(value, dict):
        return content_text(value.get("value"), f"{side}.value")
    if isinstance(value, str):
        return value
    if value is None:
        raise RecordError("read.missing_field", f"{side}: required {{from, value}} object")
    raise wrong_type(side, "a {from, value} object", value)


def parse(record: dict) -> Parsed:
    turns = with_system(get_str(record, "system", required=False), _turns(record))
    if record.get("chosen") is not None or record.get("rejected") is not None:
        return pairwise(turns, _answer(record, "chosen"), _answer(record, "rejected"), record)
    label = get_label(record, "kto_tag")
    if label is None:
        label = get_label(record, "label")
    prompt, answer = split_answer(turns)
    return single(prompt, answer, label)
