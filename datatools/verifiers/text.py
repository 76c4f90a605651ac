"""Counting words, sentences and paragraphs the same way in every check."""
from __future__ import annotations

import re

_WORD = re.compile(r"\w+(?:['’-]\w+)*")  # "it's" and "well-known" are one word each


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def count_words(text: str) -> int:
    return len(words(text))


def count_sentences(text: str) -> int:
    """Sentences end at . ! ? followed by space, or at a blank line; pieces with no word
    character (a lone "..." or a bullet mark) are not sentences."""
    return len([s for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text.strip()) if re.search(r"\w", s)])


def word_pattern(word: str) -> re.Pattern:
    """`word` as a whole word or phrase, case-insensitive ("cat" is not in "concatenate")."""
    return re.compile(r"(?<!\w)" + re.escape(word.strip()) + r"(?!\w)", re.I)


def has_word(text: str, word: str) -> bool:
    return word_pattern(word).search(text) is not None


def count_word(text: str, word: str) -> int:
    return len(word_pattern(word).findall(text))


def json_error(text: str) -> str | None:
    """None when the whole answer is valid JSON (a ``` or ```json fence around it is allowed),
    else the parser's complaint."""
    import json

    body = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text, flags=re.I)
    try:
        json.loads(body)
        return None
    except ValueError as err:
        return str(err)
