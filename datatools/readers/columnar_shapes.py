"""The plain shapes the columnar reader takes without the per-line path, one function per format.

Each `plain(record)` returns the record's `Parsed` — exactly what the format's adapter
(`datatools.formats.<name>.parse`) returns for it — or None when the record is anything but
the plain shape (message content blocks, a seed task's `instances`, aspect ratings, a
non-string where a string goes, ...): the reader then sends the line through the per-line
path, which decides what it is. A `RecordError` raised by a shared helper (a bad label or
score) also means "not plain". The functions reuse the adapters' helpers (`pairwise`,
`single`, `pair_scores`, `with_system`, `shared_prompt`, ...) so a rule lives in one place;
only the message-list walk is a stricter, faster copy of `parse_messages` (string content only).
"""
from __future__ import annotations

from datatools.formats import alpaca, swift
from datatools.formats.base import (
    CANDIDATES, PAIR_SCORE_KEYS, PAIRWISE, SCORE_HOLDERS, Parsed, get_label, get_score, get_str,
    pairwise, single,
)
from datatools.formats.messages import SHAREGPT_ROLES, shared_prompt, split_answer, with_system
from datatools.formats.trl import _string_prefix
from datatools.formats.ultrafeedback import SCORE_KEYS, TEXT_KEYS


def _messages(value, role_key: str = "role", content_key: str = "content",
              role_map: dict | None = None) -> list | None:
    """`parse_messages` for a list of {role, content} objects with string content; None for
    anything else (the adapter either rejects it or reads it another way)."""
    if type(value) is not list:
        return None
    out = []
    for item in value:
        if type(item) is not dict:
            return None
        role, content = item.get(role_key), item.get(content_key)
        if type(role) is not str or type(content) is not str:
            return None
        out.append({"role": role_map.get(role, role) if role_map else role, "content": content})
    return out


def _prompt(value) -> list | None:
    """`trl.prompt_messages`: a string is one user turn, a list is messages."""
    if type(value) is str:
        return [{"role": "user", "content": value}]
    return _messages(value)


def _answer(value) -> str | None:
    """`trl.answer_text`: a string, or a list of exactly one assistant message."""
    if type(value) is str:
        return value
    messages = _messages(value)
    if messages is not None and len(messages) == 1 and messages[0]["role"] == "assistant":
        return messages[0]["content"]
    return None


# Keys where `pair_scores` looks for scores (top-level chosen/rejected are the answers): a
# record with none of them has no scores, and the pair gets the synthesised 1.0 / 0.0.
_SCORE_PLACES = frozenset({k for pair in PAIR_SCORE_KEYS for k in pair} - {"chosen", "rejected"}
                          | set(SCORE_HOLDERS))


def _pair(prompt: list, chosen: str, rejected: str, d: dict) -> Parsed:
    """`base.pairwise`, without its score search when the record has nowhere to keep scores."""
    if d.keys().isdisjoint(_SCORE_PLACES):
        return Parsed(PAIRWISE, prompt, [{"content": chosen, "score": 1.0},
                                         {"content": rejected, "score": 0.0}],
                      scores_synthesised=True)
    return pairwise(prompt, chosen, rejected, d)


def _kto_label(d: dict):
    label = get_label(d, "kto_tag")
    return get_label(d, "label") if label is None else label


def trl(d: dict) -> Parsed | None:
    chosen, rejected = d.get("chosen"), d.get("rejected")
    if chosen is not None or rejected is not None:
        if chosen is None or rejected is None:
            return None
        both_lists = type(chosen) is list and type(rejected) is list
        if d.get("prompt") is not None and not (both_lists and max(len(chosen), len(rejected)) > 1):
            prompt, c, r = _prompt(d["prompt"]), _answer(chosen), _answer(rejected)
            if prompt is None or c is None or r is None:
                return None
            return _pair(prompt, c, r, d)
        if both_lists:  # implicit prompt: two whole dialogues
            mc, mr = _messages(chosen), _messages(rejected)
            if mc is None or mr is None:
                return None
            return _pair(*shared_prompt(mc, mr), d)
        if type(chosen) is str and type(rejected) is str:
            prefix, c, r = _string_prefix(chosen, rejected)
            return _pair([{"role": "user", "content": prefix}] if prefix else [], c, r, d)
        return None
    if d.get("prompt") is not None:
        prompt, completion = _prompt(d["prompt"]), d.get("completion")
        text = None if completion is None else _answer(completion)
        if prompt is None or (completion is not None and text is None):
            return None
        return single(prompt, text, get_label(d, "label"))
    if d.get("messages") is not None:
        messages = _messages(d["messages"])
        if messages is None:
            return None
        return single(*split_answer(messages), get_label(d, "label"))
    if type(d.get("text")) is str:
        return single([], d["text"])
    return None


def _sharegpt_answer(value) -> str | None:
    if type(value) is dict:
        text = value.get("value")
        return text if type(text) is str else None
    return value if type(value) is str else None


def sharegpt(d: dict) -> Parsed | None:
    system = d.get("system")
    if system is not None and type(system) is not str:
        return None
    if d.get("conversations") is None:
        return None  # `messages` or the older `conversation` pairs: the per-line path
    turns = _messages(d["conversations"], "from", "value", SHAREGPT_ROLES)
    if turns is None:
        return None
    turns = with_system(system, turns)
    if d.get("chosen") is not None or d.get("rejected") is not None:
        c, r = _sharegpt_answer(d.get("chosen")), _sharegpt_answer(d.get("rejected"))
        return None if c is None or r is None else _pair(turns, c, r, d)
    label = _kto_label(d)
    return single(*split_answer(turns), label)


_ALPACA_PLAIN = frozenset({"instruction", "input", "output"})


def plain_alpaca(d: dict) -> Parsed | None:
    instances = d.get("instances")
    if d.get("output") is None and type(instances) is list and instances:
        return None  # a seed task expands into several records: the per-line path
    instruction, extra, output = d.get("instruction"), d.get("input"), d.get("output")
    if type(instruction) is not str:
        return None
    if d.keys() <= _ALPACA_PLAIN and type(output) is str and (extra is None or type(extra) is str):
        query = f"{instruction}\n{extra}" if extra else instruction  # as alpaca.parse joins them
        return single([{"role": "user", "content": query}], output)
    return alpaca.parse(d)  # system, history, pairs, labels: the adapter itself


def plain_swift(d: dict) -> Parsed | None:
    if d.get("messages") is None:
        return swift.parse(d) if d.get("query") is not None else None
    system = get_str(d, "system", required=False)
    label = get_label(d, "label")
    messages = _messages(d["messages"])
    if messages is None:
        return None
    messages = with_system(system, messages)
    if d.get("rejected_messages") is not None:
        rejected = _messages(d["rejected_messages"])
        if rejected is None:
            return None
        prompt, c, r = shared_prompt(messages, with_system(system, rejected),
                                     "messages/rejected_messages")
        return _pair(prompt, c, r, d)
    prompt, answer = split_answer(messages)
    return swift._finish(d, prompt, answer, label, "messages (last assistant turn)")


def _candidate(item) -> dict | None:
    """`ultrafeedback._completion` for an answer without aspect ratings."""
    if type(item) is str:
        return {"content": item}
    if type(item) is not dict or item.get("annotations") is not None \
            or item.get("ratings") is not None:
        return None
    text = item.get(TEXT_KEYS[0])  # "response", the first key the adapter looks at
    if text is None:
        text_key = next((k for k in TEXT_KEYS if item.get(k) is not None), None)
        text = None if text_key is None else item[text_key]
    if type(text) is not str:
        return None
    score = item.get(SCORE_KEYS[0])  # "overall_score"
    if score is None:
        score = next((get_score(item, k) for k in SCORE_KEYS if item.get(k) is not None), None)
    elif type(score) is float or type(score) is int:
        score = float(score)
    else:
        score = get_score(item, SCORE_KEYS[0])
    out = {"content": text, "score": score,
           "label": None if item.get("label") is None else get_label(item, "label")}
    if type(item.get("model")) is str:
        out["model"] = item["model"]
    return out


def ultrafeedback(d: dict) -> Parsed | None:
    if d.get("messages") is not None:
        prompt = _messages(d["messages"])
    elif d.get("prompt") is not None:
        prompt = _prompt(d["prompt"])
    elif type(d.get("instruction")) is str:
        prompt = [{"role": "user", "content": d["instruction"]}]
    else:
        return None
    items = d.get("completions")
    if prompt is None or type(items) is not list:
        return None
    system = d.get("system")
    prompt = with_system(system if type(system) is str else None, prompt)
    completions = []
    for item in items:
        c = _candidate(item)
        if c is None:
            return None
        completions.append(c)
    return Parsed(CANDIDATES, prompt, completions)


# format name → its plain-shape function (the formats the columnar reader takes)
PLAIN = {"trl": trl, "sharegpt": sharegpt, "alpaca": plain_alpaca, "swift": plain_swift,
         "ultrafeedback": ultrafeedback}
