"""The short constraint keys recipes used first (`max_words: 50`, `no_commas: true`, ...).

Each key is one check whose only kwarg is the key's value. They stay beside the IFEval
checks (ifeval.py) because recipes and datasets already carry them.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from datatools.verifiers.checks import check
from datatools.verifiers.text import count_sentences, count_words, has_word, json_error


class Constraints(BaseModel):
    """The short constraint keys; every key is optional (`extra="forbid"`). A false or null
    value switches a check off."""

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


LEGACY_KEYS = tuple(Constraints.model_fields)
_COUNT = (NonNegativeInt, ...)


@check("max_words", "legacy", value=_COUNT)
def _max_words(text, value):
    n = count_words(text)
    return n <= value, f"{n} words, max {value}"


@check("min_words", "legacy", value=_COUNT)
def _min_words(text, value):
    n = count_words(text)
    return n >= value, f"{n} words, min {value}"


@check("max_sentences", "legacy", value=_COUNT)
def _max_sentences(text, value):
    n = count_sentences(text)
    return n <= value, f"{n} sentences, max {value}"


@check("min_sentences", "legacy", value=_COUNT)
def _min_sentences(text, value):
    n = count_sentences(text)
    return n >= value, f"{n} sentences, min {value}"


@check("keywords", "legacy", value=(list[str], ...))
def _keywords(text, value):
    missing = [k for k in value if not has_word(text, k)]
    return not missing, f"missing keywords {missing}"


@check("forbidden_words", "legacy", value=(list[str], ...))
def _forbidden(text, value):
    found = [k for k in value if has_word(text, k)]
    return not found, f"forbidden words present {found}"


@check("json_format", "legacy", value=(bool, True))
def _json(text, value):
    err = json_error(text)
    return err is None, f"not valid JSON ({err})" if err else ""


@check("no_commas", "legacy", value=(bool, True))
def _no_commas(text, value):
    return "," not in text, f"{text.count(',')} commas"


@check("max_chars", "legacy", value=_COUNT)
def _max_chars(text, value):
    return len(text) <= value, f"{len(text)} chars, max {value}"
