"""UltraFeedback-style candidate sets: one prompt, several rated completions.

{instruction | prompt | messages, completions: [{response | text | content, model?,
overall_score | score | fine-grained_score | annotations{aspect: {Rating}} | ratings{aspect: n}}]}.
Each completion becomes one row; its score is the overall score when given, else the mean of
the aspect ratings ("N/A" ratings skipped). Aspect ratings are kept in that row's meta.
"""
from __future__ import annotations

from typing import Any

from datatools.formats.base import (
    CANDIDATES, Parsed, RecordError, get_label, get_list, get_score, get_str, mean_or_none,
    type_name,
)
from datatools.formats.messages import content_text, parse_messages, with_system
from datatools.formats.trl import prompt_messages

KEYS = {"instruction", "prompt", "messages", "system", "completions", "models"}
TEXT_KEYS = ("response", "text", "content", "completion")
SCORE_KEYS = ("overall_score", "score", "fine-grained_score")


def _aspect_ratings(completion: dict, where: str) -> dict[str, float]:
    ratings: dict[str, float] = {}
    for key in ("annotations", "ratings"):
        block = completion.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise RecordError("read.wrong_type",
                              f"{where}.{key}: expected an object of aspect ratings, "
                              f"got {type_name(block)}")
        for aspect, value in block.items():
            # UltraFeedback writes {"Rating": "4", "Rationale": ...}; others a bare number.
            raw = value.get("Rating") if isinstance(value, dict) else value
            try:
                ratings[aspect] = float(raw)
            except (TypeError, ValueError):
                continue  # "N/A" and missing ratings carry no score
    return ratings


def _completion(item: Any, where: str) -> dict[str, Any]:
    if isinstance(item, str):
        return {"content": item}
    if not isinstance(item, dict):
        raise RecordError("read.wrong_type", f"{where}: expected an object with a response, "
                          f"got {type_name(item)}")
    text_key = next((k for k in TEXT_KEYS if item.get(k) is not None), None)
    if text_key is None:
        raise RecordError("read.missing_field",
                          f"{where}: needs one of {', '.join(TEXT_KEYS)} (the answer text)")
    ratings = _aspect_ratings(item, where)
    score = next((get_score(item, k) for k in SCORE_KEYS if item.get(k) is not None), None)
    if score is None:
        score = mean_or_none(list(ratings.values()))
    out: dict[str, Any] = {"content": content_text(item[text_key], f"{where}.{text_key}"),
                           "score": score, "label": get_label(item, "label")}
    if isinstance(item.get("model"), str):
        out["model"] = item["model"]
    if ratings:
        out["meta"] = {"ratings": ratings}
    return out


def parse(record: dict) -> Parsed:
    if record.get("messages") is not None:
        prompt = parse_messages(record["messages"], "messages")
    elif record.get("prompt") is not None:
        prompt = prompt_messages(record["prompt"])
    elif record.get("instruction") is not None:
        prompt = [{"role": "user", "content": get_str(record, "instruction")}]
    else:
        raise RecordError("read.missing_field",
                          "instruction or prompt: required (the prompt of the candidates)")
    system = record.get("system")
    prompt = with_system(system if isinstance(system, str) else None, prompt)
    items = get_list(record, "completions")
    completions = [_completion(item, f"completions[{i}]") for i, item in enumerate(items)]
    return Parsed(CANDIDATES, prompt, completions)
