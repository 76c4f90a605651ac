"""Rule-based checks with no model: TÜLU 3's verifiable rewards (RLVR, Lambert et al. 2024).

TÜLU 3 rewards a completion only when a program can verify it: the final answer of a GSM8K /
MATH problem, or IFEval-style instruction constraints (Zhou et al. 2023: word and sentence
limits, keywords, JSON format, no commas), and a maximum length. Each check here returns
(passed, detail) so a failure can say what it saw.
"""
from __future__ import annotations

import json
import math
import re
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

_NUM = r"-?\d+(?:,\d{3})*(?:\.\d+)?|-?\.\d+"  # 1,200 but never a trailing comma


def _boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    i = start = starts[-1]
    depth = 1
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i].strip()
        i += 1
    return None  # unbalanced: the answer was cut off


def extract_answer(text: str) -> tuple[str | None, str]:
    """The final answer and how it was found: `#### 42` (GSM8K's format), the last
    `\\boxed{}` (MATH / Minerva's format), an "answer is / Answer:" phrase, else the last
    number in the text (TÜLU 3's GSM8K verifier falls back the same way)."""
    if text is None:
        return None, "none"
    m = re.findall(r"####\s*([^\n]+)", text)
    if m:
        return m[-1].strip(), "####"
    boxed = _boxed(text)
    if boxed is not None:
        return boxed, "boxed"
    m = re.findall(r"(?i)(?:final answer|the answer)\s*(?:is|:)\s*\$?\s*(" + _NUM + ")", text)
    if not m:
        m = re.findall(r"(?im)^\W*answer\s*:\s*\$?\s*(" + _NUM + ")", text)
    if m:
        return m[-1], "phrase"
    nums = re.findall(_NUM, text)
    return (nums[-1], "last number") if nums else (None, "none")


def reference_answer(value) -> str | None:
    """A reference given as a number, a bare answer, or a full GSM8K / MATH solution."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    text = str(value)
    if "####" in text:
        return text.rsplit("####", 1)[1].strip()
    boxed = _boxed(text)
    return boxed if boxed is not None else text.strip()


def _as_number(s: str) -> Fraction | None:
    s = s.strip().rstrip(".").replace("$", "").replace("\\%", "").replace("%", "")
    s = re.sub(r"\\(?:text|mathrm)\{[^}]*\}", "", s).replace("\\!", "").replace(" ", "")
    m = re.fullmatch(r"\\[dt]?frac\{(-?\d+)\}\{(-?\d+)\}", s) or re.fullmatch(r"(-?\d+)/(-?\d+)", s)
    try:
        if m:
            return Fraction(int(m.group(1)), int(m.group(2)))
        if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # 1,000 but not "1,2"
            s = s.replace(",", "")
        return Fraction(s) if re.fullmatch(r"-?\d+(?:\.\d+)?|-?\.\d+", s) else None
    except (ValueError, ZeroDivisionError):
        return None


def _norm_text(s: str) -> str:
    s = re.sub(r"\\(?:text|mathrm|textbf)\{([^}]*)\}", r"\1", s)
    s = re.sub(r"\\left|\\right|\\!|\\,|\$|\s+", "", s)
    return s.rstrip(".").lower()


def answers_match(predicted: str | None, reference: str) -> bool:
    """Numbers compare by value (1,000 = 1000.0 = \\frac{2000}{2}); anything else compares as
    normalised text."""
    if predicted is None:
        return False
    a, b = _as_number(predicted), _as_number(reference)
    if a is not None and b is not None:
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return _norm_text(predicted) == _norm_text(reference)


class Constraints(BaseModel):
    """IFEval-style instruction constraints; every key is optional (`extra="forbid"`)."""

    model_config = ConfigDict(extra="forbid")

    max_words: int | None = Field(None, ge=0, description="at most this many words")
    min_words: int | None = Field(None, ge=0, description="at least this many words")
    max_sentences: int | None = Field(None, ge=0, description="at most this many sentences")
    min_sentences: int | None = Field(None, ge=0, description="at least this many sentences")
    keywords: list[str] | None = Field(None, description="each must appear (case-insensitive)")
    forbidden_words: list[str] | None = Field(None, description="none may appear")
    json_format: bool | None = Field(None, description="true: the whole answer is valid JSON "
                                     "(a ```json fence around it is allowed)")
    no_commas: bool | None = Field(None, description="true: no ',' anywhere in the answer")
    max_chars: int | None = Field(None, ge=0, description="at most this many characters")


CHECKS = ("answer",) + tuple(Constraints.model_fields)


def count_words(text: str) -> int:
    return len(re.findall(r"\w+(?:['’-]\w+)*", text))


def count_sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text.strip()) if re.search(r"\w", s)])


def _has_word(text: str, word: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text, re.I) is not None


def check_constraints(text: str, c: Constraints) -> dict[str, tuple[bool, str]]:
    """{check name: (passed, detail)} for every constraint that is set."""
    out: dict[str, tuple[bool, str]] = {}
    words = count_words(text)
    sentences = count_sentences(text)
    if c.max_words is not None:
        out["max_words"] = (words <= c.max_words, f"{words} words, max {c.max_words}")
    if c.min_words is not None:
        out["min_words"] = (words >= c.min_words, f"{words} words, min {c.min_words}")
    if c.max_sentences is not None:
        out["max_sentences"] = (sentences <= c.max_sentences,
                                f"{sentences} sentences, max {c.max_sentences}")
    if c.min_sentences is not None:
        out["min_sentences"] = (sentences >= c.min_sentences,
                                f"{sentences} sentences, min {c.min_sentences}")
    if c.keywords:
        missing = [k for k in c.keywords if not _has_word(text, k)]
        out["keywords"] = (not missing, f"missing keywords {missing}")
    if c.forbidden_words:
        found = [k for k in c.forbidden_words if _has_word(text, k)]
        out["forbidden_words"] = (not found, f"forbidden words present {found}")
    if c.json_format:
        body = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text)
        try:
            json.loads(body)
            out["json_format"] = (True, "")
        except ValueError as err:
            out["json_format"] = (False, f"not valid JSON ({err})")
    if c.no_commas:
        out["no_commas"] = ("," not in text, f"{text.count(',')} commas")
    if c.max_chars is not None:
        out["max_chars"] = (len(text) <= c.max_chars, f"{len(text)} chars, max {c.max_chars}")
    return out
