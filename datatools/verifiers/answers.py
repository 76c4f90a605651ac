"""Final-answer verification for math problems (TÜLU 3's GSM8K / MATH verifiers, RLVR).

TÜLU 3 (Lambert et al. 2024) rewards a math completion only when its final answer equals the
reference: extracted from `#### 42` (GSM8K), the last `\\boxed{}` (MATH), an "answer is" phrase,
or else the last number.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

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
