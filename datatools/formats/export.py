"""The reverse direction: canonical rows → records of a target format (for `convert`).

Rows are grouped back into records by `id`. A record's shape follows its rows: labelled rows
are unary examples; two or more scored rows make one pair (best vs worst; a tie is skipped);
other rows with an answer are SFT examples; a row without one is a prompt.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from datatools.builders.ranking import candidate_role
from datatools.formats.messages import TO_SHAREGPT_ROLES

TARGETS = ("trl", "swift", "sharegpt", "alpaca")
CONTENT_ID = re.compile(r"^[0-9a-f]{16}(~\d+)?$")  # ids the reader derived from the content
Messages = list[dict[str, str]]


def canonical_examples(frame: pl.DataFrame) -> Iterator[tuple[str, Messages, Any]]:
    """(kind, prompt, payload) per example; see `canonical_records`."""
    for kind, prompt, payload, _ in canonical_records(frame):
        yield kind, prompt, payload


def source_extras(record_id: str, meta: str | None) -> dict[str, Any]:
    """The source's own keys that no format field holds: its id (not an id derived from the
    content) and everything the reader kept in `meta`."""
    extras = {}
    if not CONTENT_ID.match(record_id):
        extras["id"] = record_id
    try:
        value = json.loads(meta) if meta else {}
    except ValueError:
        value = {}
    return {**extras, **(value if isinstance(value, dict) else {})}


def canonical_records(frame: pl.DataFrame) -> Iterator[tuple[str, Messages, Any, dict]]:
    """(kind, prompt, payload, source extras) per example; kind "skip:<reason>" for what
    cannot be written.

    payload: pairwise (chosen, rejected) · sft completion · unary (completion, label) · prompt None.
    Labelled rows are unary examples; the others are ranked by the builders' one rule
    (`candidate_role`): chosen vs worst makes a pair, a record whose scores all tie is skipped.
    """
    rows = frame.select("id", "prompt", "completion", "score", "label", "meta")
    unlabelled = pl.col("label").is_null() & pl.col("completion").is_not_null()
    scored = pl.col("score").is_not_null() & unlabelled
    # rank the unlabelled scored rows of a record among themselves (a label is not a score)
    rows = rows.with_columns(pl.struct("id", scored.alias("s")).alias("__group")).with_columns(
        pl.when(scored & (scored.sum().over("id") >= 2)).then(candidate_role("__group"))
        .alias("__role"))
    groups: dict[str, list[dict]] = {}
    for row in rows.iter_rows(named=True):
        groups.setdefault(row["id"], []).append(row)
    for group in groups.values():
        prompt = group[0]["prompt"]
        extras = source_extras(group[0]["id"], group[0]["meta"])
        answered = [r for r in group if r["completion"] is not None]
        if not answered:
            yield "prompt", prompt, None, extras
            continue
        for r in answered:
            if r["label"] is not None:
                yield "unary", prompt, (r["completion"], r["label"]), extras
        ranked = [r for r in answered if r["__role"] is not None]
        if ranked:
            chosen = next(r for r in ranked if r["__role"] == "chosen")
            worst = next((r for r in ranked if r["__role"] == "rejected"), None)
            if worst is None:
                yield "skip:tie", prompt, None, extras
            else:
                yield "pairwise", prompt, (chosen["completion"], worst["completion"]), extras
        for r in answered:
            if r["label"] is None and r["__role"] is None:
                yield "sft", prompt, r["completion"], extras


def _assistant(text: str) -> Messages:
    return [{"role": "assistant", "content": text}]


def to_trl(kind: str, prompt: Messages, payload: Any) -> dict | None:
    """TRL conversational: preference {prompt, chosen, rejected}, unpaired preference
    {prompt, completion, label}, language modelling {messages}, prompt-only {prompt}."""
    if kind == "pairwise":
        return {"prompt": prompt, "chosen": _assistant(payload[0]),
                "rejected": _assistant(payload[1])}
    if kind == "unary":
        return {"prompt": prompt, "completion": _assistant(payload[0]), "label": payload[1]}
    if kind == "sft":
        return {"messages": prompt + _assistant(payload)}
    return {"prompt": prompt}


def to_swift(kind: str, prompt: Messages, payload: Any) -> dict | None:
    """ms-swift: {messages} with `rejected_response` (DPO) or `label` (KTO)."""
    if kind == "pairwise":
        return {"messages": prompt + _assistant(payload[0]), "rejected_response": payload[1]}
    if kind == "unary":
        return {"messages": prompt + _assistant(payload[0]), "label": payload[1]}
    if kind == "sft":
        return {"messages": prompt + _assistant(payload)}
    return {"messages": prompt}


def _sharegpt_turns(messages: Messages) -> list[dict[str, str]]:
    return [{"from": TO_SHAREGPT_ROLES.get(m["role"], m["role"]), "value": m["content"]}
            for m in messages]


def to_sharegpt(kind: str, prompt: Messages, payload: Any) -> dict | None:
    """LLaMA-Factory ShareGPT: {conversations}; DPO adds `chosen`/`rejected` {from, value}
    objects after a conversation ending with the human turn; KTO adds `kto_tag`."""
    turns = _sharegpt_turns(prompt)
    if kind == "pairwise":
        return {"conversations": turns, "chosen": {"from": "gpt", "value": payload[0]},
                "rejected": {"from": "gpt", "value": payload[1]}}
    if kind == "unary":
        return {"conversations": turns + [{"from": "gpt", "value": payload[0]}],
                "kto_tag": payload[1]}
    if kind == "sft":
        return {"conversations": turns + [{"from": "gpt", "value": payload}]}
    return {"conversations": turns}


def to_alpaca(kind: str, prompt: Messages, payload: Any) -> dict | None:
    """Alpaca {instruction, input, output, system?, history?}. Preference pairs use
    LLaMA-Factory's alpaca ranking form (`chosen`/`rejected` strings instead of `output`),
    KTO its `kto_tag`. Prompts that are not [system] + (user, assistant)* + user → None."""
    turns = list(prompt)
    system = turns.pop(0)["content"] if turns and turns[0]["role"] == "system" else None
    if not turns or len(turns) % 2 == 0 or any(
            m["role"] != ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(turns)):
        return None
    record: dict[str, Any] = {"instruction": turns[-1]["content"], "input": ""}
    if kind == "pairwise":
        record.update(chosen=payload[0], rejected=payload[1])
    elif kind == "unary":
        record.update(output=payload[0], kto_tag=payload[1])
    elif kind == "sft":
        record["output"] = payload
    if system is not None:
        record["system"] = system
    if len(turns) > 1:
        record["history"] = [[turns[i]["content"], turns[i + 1]["content"]]
                             for i in range(0, len(turns) - 1, 2)]
    return record


EXPORTERS: dict[str, Callable[[str, Messages, Any], dict | None]] = {
    "trl": to_trl, "swift": to_swift, "sharegpt": to_sharegpt, "alpaca": to_alpaca,
}
