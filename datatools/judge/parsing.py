"""Turning an LLM judge's free text into numbers, or into an explicit failure.

Judges do not always follow the requested format, even with structured output. The parsers
here accept the forms judges actually produce — a JSON object anywhere in the text (often
inside a ```json fence or after a preamble), `Helpfulness: 4` / `Rating: 4/5` lines, MT-Bench's
`[[A]]` verdicts — and return None when nothing trustworthy is found. The caller turns None
into a `judge.parse_failure` ledger entry with the raw output. Never −1 and never a missing
aspect averaged away: TÜLU 3's pipeline stored unparsed ratings as −1 and averaged them in,
and UltraFeedback silently dropped an aspect after its retries.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

_DECODER = json.JSONDecoder()
_NUMBER = r"(-?\d+(?:\.\d+)?)"
# In `Aspect: 4` lines a dash may be the separator ("Honesty - 5"), so the number itself is
# unsigned and must not directly follow a dash: "Honesty: -1" must fail, not read as 1.
_LINE_NUMBER = r"(?<![\d.-])(\d+(?:\.\d+)?)"
# The whole number ("34" never reads as 3), and not a range ("3 or 4", "3-4": no one rating).
_NOT_A_RANGE = r"(?!\.?\d|\s*(?:or|to|and|-|–)\s*\d)"


def norm_key(key: str) -> str:
    """`Instruction-Following`, `instruction_following`, `instruction following` → one key."""
    return re.sub(r"[^a-z0-9]+", "", key.lower())


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object embedded anywhere in `text`, in order of appearance."""
    found: list[dict[str, Any]] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = text.find("{", end)
    return found


def _as_number(value: Any) -> float | None:
    """4, 4.0, "4", "4/5", "Rating: 4", {"rating": 4} → 4.0; anything else → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        # "4", "4/5", "Rating: 4", "4 - mostly helpful"; not "3 or 4", not "4 to 5".
        m = re.match(r"\s*(?:rating|score)?\s*[:=]?\s*" + _NUMBER + r"\s*(?:/\s*\d+)?"
                     r"(?:\s*[-–:,(.]\s*[^\d\s][^\d]*)?\s*$", value, re.I)
        return float(m.group(1)) if m else None
    if isinstance(value, dict):
        for k, v in value.items():
            if norm_key(k) in ("rating", "score", "value"):
                return _as_number(v)
    return None


def _in_scale(x: float | None, lo: float, hi: float) -> float | None:
    # Out-of-scale numbers are failures, not clamped: UltraFeedback's 10-instead-of-1 bug
    # (2,628 overall scores, a `>` vs `>=` slip) is exactly a wrong number that looked plausible downstream.
    return x if x is not None and lo <= x <= hi else None


def parse_ratings(
    text: str, aspects: list[str], lo: float, hi: float
) -> tuple[dict[str, float] | None, str]:
    """Ratings for every aspect, or (None, why). Partial results are failures by design."""
    wanted = {norm_key(a): a for a in aspects}
    best: dict[str, float] = {}
    # 1. JSON objects (possibly nested one level, e.g. {"ratings": {...}}).
    for obj in json_objects(text):
        candidates = [obj] + [v for v in obj.values() if isinstance(v, dict)]
        for cand in candidates:
            got: dict[str, float] = {}
            for k, v in cand.items():
                name = wanted.get(norm_key(str(k)))
                x = _in_scale(_as_number(v), lo, hi) if name else None
                if name and x is not None:
                    got[name] = x
            if len(got) == len(aspects):
                return got, ""
            if len(got) > len(best):
                best = got
        if len(aspects) == 1:  # {"rating": 4} for a single-aspect rubric
            x = _in_scale(_as_number(obj), lo, hi)
            if x is not None:
                return {aspects[0]: x}, ""
    # 2. `Aspect: 4` / `**Aspect** rating - 4/5` lines.
    got = dict(best)
    for key, name in wanted.items():
        if name in got:
            continue
        words = r"[\W_]*".join(re.escape(w) for w in re.findall(r"[a-z0-9]+", name.lower()))
        m = re.search(r"(?im)^[\W_]*" + words + r"[\W_]*(?:rating|score)?[\W_]*?[:=\-]\s*\**\s*\"?"
                      + _LINE_NUMBER + r"(?:\s*/\s*\d+)?" + _NOT_A_RANGE, text)
        x = _in_scale(float(m.group(1)), lo, hi) if m else None
        if x is not None:
            got[name] = x
    if len(aspects) == 1 and aspects[0] not in got:
        # 3. A bare `Rating: 4` line for a single-aspect rubric.
        m = re.search(r"(?im)^[\W_]*(?:rating|score)[\W_]*[:=]\s*\**\s*" + _LINE_NUMBER
                      + _NOT_A_RANGE, text)
        x = _in_scale(float(m.group(1)), lo, hi) if m else None
        if x is not None:
            got[aspects[0]] = x
    if len(got) == len(aspects):
        return got, ""
    missing = [a for a in aspects if a not in got]
    return None, f"no rating in [{lo:g}, {hi:g}] for: {', '.join(missing)}"


_VERDICT_WORDS = {"a": "A", "b": "B", "tie": "tie", "c": "tie", "draw": "tie", "equal": "tie",
                  "both": "tie", "neither": "tie"}


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie' from a pairwise judge's answer; None when unclear.

    Accepts {"winner": "A"}, MT-Bench's `[[A]]` / `[[C]]` (Zheng et al. 2023 use C for a tie),
    and `Winner: Response B` lines. Conflicting signals in one answer count as unclear.
    """
    for obj in reversed(json_objects(text)):
        for k, v in obj.items():
            if norm_key(str(k)) in ("winner", "verdict", "better", "preferred", "choice"):
                verdict = _VERDICT_WORDS.get(norm_key(str(v)).removeprefix("response")
                                             .removeprefix("output").removeprefix("assistant"))
                if verdict:
                    return verdict
    brackets = {_VERDICT_WORDS.get(m.lower()) for m in re.findall(r"\[\[\s*(A|B|C|tie)\s*\]\]",
                                                                 text, re.I)}
    brackets.discard(None)
    if len(brackets) == 1:
        return brackets.pop()
    if brackets:
        return None
    m = re.findall(r"(?im)^[\W_]*(?:winner|verdict|better response|final verdict)[\W_]*[:=]\s*"
                   r"\**\s*(?:response|output|assistant)?\s*\(?\s*(a|b|tie|draw|c)\b", text)
    found = {_VERDICT_WORDS[x.lower()] for x in m}
    return found.pop() if len(found) == 1 else None
