"""Alpaca: {instruction, input?, output, system?, history?}.

LLaMA-Factory's preference form replaces `output` with `chosen`/`rejected` strings, and its KTO
form adds `kto_tag` (ms-swift calls it `label`). The user turn is instruction + "\\n" + input,
as LLaMA-Factory and ms-swift build it.
"""
from __future__ import annotations

from datatools.formats.base import Parsed, get_label, get_str, pairwise, single, wrong_type
from datatools.formats.messages import with_system
from datatools.formats.swift import history_messages

KEYS = {"instruction", "input", "output", "system", "history", "chosen", "rejected",
        "kto_tag", "label", "score_chosen", "score_rejected", "instances"}


def parse_many(record: dict) -> list[Parsed]:
    """Stanford-Alpaca seed tasks ({instruction, instances: [{input, output}]}): one record per
    instance, its input joined to the instruction. Other records: one."""
    instances = record.get("instances")
    if record.get("output") is None and isinstance(instances, list) and instances:
        out = []
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise wrong_type(f"instances[{i}]", "an object with input and output", instance)
            out.append(parse({**{k: v for k, v in record.items() if k != "instances"},
                              "input": instance.get("input"), "output": instance.get("output")}))
        return out
    return [parse(record)]


def parse(record: dict) -> Parsed:
    instruction = get_str(record, "instruction")
    extra_input = get_str(record, "input", required=False)
    query = f"{instruction}\n{extra_input}" if extra_input else instruction
    prompt = with_system(get_str(record, "system", required=False),
                         [*history_messages(record), {"role": "user", "content": query}])
    if record.get("chosen") is not None or record.get("rejected") is not None:
        return pairwise(prompt, get_str(record, "chosen"), get_str(record, "rejected"), record)
    label = get_label(record, "kto_tag")
    if label is None:
        label = get_label(record, "label")
    return single(prompt, get_str(record, "output", required=False), label)
