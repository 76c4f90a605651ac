"""The 25 IFEval instruction types (Zhou et al. 2023), the set TÜLU 3 uses for RLVR.

Names and kwargs are IFEval's own (`keywords:existence` with `keywords`, `length_constraints:
number_words` with `num_words` + `relation`, ...), so a dataset carrying IFEval-style
`instruction_id_list` + `kwargs` is checked directly. The rules follow IFEval's definitions,
with two deliberate differences: keywords match as whole words ("cat" is not found in
"concatenate"), and text whose language cannot be detected fails a language check instead of
passing it (an empty answer must not earn a reward).
"""
from __future__ import annotations

import re

from pydantic import PositiveInt

from datatools.verifiers.checks import Relation, check, compare
from datatools.verifiers.text import (count_sentences, count_word, count_words, has_word,
                                      json_error, words)

_N = (PositiveInt, ...)
_REL = (Relation, ...)
CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def detect_language(text: str) -> str | None:
    """ISO 639-1 code by langdetect (offline profiles, seeded so the answer is stable)."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    try:
        return detect(text)
    except LangDetectException:
        return None


# -- keywords ------------------------------------------------------------------------------
@check("keywords:existence", keywords=(list[str], ...))
def keywords_existence(text, keywords):
    missing = [k for k in keywords if not has_word(text, k)]
    return not missing, f"missing {missing}"


@check("keywords:frequency", keyword=(str, ...), frequency=(int, ...), relation=_REL)
def keywords_frequency(text, keyword, frequency, relation):
    n = count_word(text, keyword)
    return compare(n, relation, frequency), f"{keyword!r} {n} times, want {relation} {frequency}"


@check("keywords:forbidden_words", forbidden_words=(list[str], ...))
def keywords_forbidden(text, forbidden_words):
    found = [w for w in forbidden_words if has_word(text, w)]
    return not found, f"forbidden words present {found}"


@check("keywords:letter_frequency", letter=(str, ...), let_frequency=(int, ...),
       let_relation=_REL)
def letter_frequency(text, letter, let_frequency, let_relation):
    n = text.lower().count(letter.lower())
    return (compare(n, let_relation, let_frequency),
            f"letter {letter!r} {n} times, want {let_relation} {let_frequency}")


# -- language ------------------------------------------------------------------------------
@check("language:response_language", language=(str, ...))
def response_language(text, language):
    got = detect_language(text)
    return got == language, f"detected {got!r}, want {language!r}"


# -- length --------------------------------------------------------------------------------
@check("length_constraints:number_sentences", num_sentences=(int, ...), relation=_REL)
def number_sentences(text, num_sentences, relation):
    n = count_sentences(text)
    return compare(n, relation, num_sentences), f"{n} sentences, want {relation} {num_sentences}"


@check("length_constraints:number_words", num_words=(int, ...), relation=_REL)
def number_words(text, num_words, relation):
    n = count_words(text)
    return compare(n, relation, num_words), f"{n} words, want {relation} {num_words}"


def _divided_paragraphs(text: str) -> list[str] | None:
    """Paragraphs separated by the markdown divider ***; None when one in the middle is empty."""
    parts = re.split(r"\s?\*\*\*\s?", text)
    inner = [p for p in parts[1:-1]]
    if any(not p.strip() for p in inner):
        return None
    return [p for p in parts if p.strip()]


@check("length_constraints:number_paragraphs", num_paragraphs=_N)
def number_paragraphs(text, num_paragraphs):
    paragraphs = _divided_paragraphs(text)
    if paragraphs is None:
        return False, "an empty paragraph between two *** dividers"
    return (len(paragraphs) == num_paragraphs,
            f"{len(paragraphs)} paragraphs (split by ***), want {num_paragraphs}")


@check("length_constraints:nth_paragraph_first_word", num_paragraphs=_N, nth_paragraph=_N,
       first_word=(str, ...))
def nth_paragraph_first_word(text, num_paragraphs, nth_paragraph, first_word):
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) != num_paragraphs:
        return False, f"{len(paragraphs)} paragraphs (split by blank lines), want {num_paragraphs}"
    if nth_paragraph > len(paragraphs):
        return False, f"no paragraph {nth_paragraph}"
    found = words(paragraphs[nth_paragraph - 1])
    got = found[0].lower() if found else ""
    return got == first_word.strip().lower(), f"paragraph {nth_paragraph} starts {got!r}"


# -- detectable content --------------------------------------------------------------------
@check("detectable_content:number_placeholders", num_placeholders=(int, ...))
def number_placeholders(text, num_placeholders):
    n = len(re.findall(r"\[[^\[\]\n]*?\]", text))
    return n >= num_placeholders, f"{n} [placeholders], want at least {num_placeholders}"


@check("detectable_content:postscript", postscript_marker=(str, "P.S."))
def postscript(text, postscript_marker):
    # "P.S." also matches "P. S."; the marker must begin a line
    marker = r"\.\s?".join(re.escape(part) for part in postscript_marker.strip().split("."))
    found = re.search(r"^\s*" + marker, text, flags=re.I | re.M)
    return found is not None, f"no line starting with {postscript_marker!r}"


# -- detectable format ---------------------------------------------------------------------
@check("detectable_format:number_bullet_lists", num_bullets=(int, ...))
def number_bullet_lists(text, num_bullets):
    stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.M)
    dashes = re.findall(r"^\s*-.*$", text, flags=re.M)
    n = len(stars) + len(dashes)
    return n == num_bullets, f"{n} bullet points (* or -), want exactly {num_bullets}"


@check("detectable_format:constrained_response")
def constrained_response(text):
    ok = any(option in text for option in CONSTRAINED_RESPONSES)
    return ok, f"none of {list(CONSTRAINED_RESPONSES)}"


@check("detectable_format:number_highlighted_sections", num_highlights=(int, ...))
def number_highlighted_sections(text, num_highlights):
    single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h.strip("*").strip()]
    n = len(single) + len(double)
    return n >= num_highlights, f"{n} *highlighted* sections, want at least {num_highlights}"


@check("detectable_format:multiple_sections", section_spliter=(str, "Section"),
       num_sections=_N)
def multiple_sections(text, section_spliter, num_sections):
    parts = re.split(r"\s?" + re.escape(section_spliter.strip()) + r"\s?\d+\s?", text)
    n = len(parts) - 1
    return n >= num_sections, f"{n} sections marked '{section_spliter} N', want {num_sections}"


@check("detectable_format:json_format")
def json_format(text):
    err = json_error(text)
    return err is None, f"not valid JSON ({err})" if err else ""


@check("detectable_format:title")
def title(text):
    found = [t for t in re.findall(r"<<([^\n]+)>>", text) if t.strip("<> ")]
    return bool(found), "no <<title>>"


# -- combination ---------------------------------------------------------------------------
@check("combination:two_responses")
def two_responses(text):
    parts = text.split("******")
    if any(not p.strip() for p in parts[1:-1]):
        return False, "an empty response between ****** separators"
    answers = [p.strip() for p in parts if p.strip()]
    ok = len(answers) == 2 and answers[0] != answers[1]
    return ok, f"{len(answers)} responses separated by ******, want 2 different ones"


@check("combination:repeat_prompt", prompt_to_repeat=(str, ...))
def repeat_prompt(text, prompt_to_repeat):
    ok = text.strip().lower().startswith(prompt_to_repeat.strip().lower())
    return ok, "does not start with the request, repeated word for word"


# -- start / end ---------------------------------------------------------------------------
@check("startend:end_checker", end_phrase=(str, ...))
def end_checker(text, end_phrase):
    tail = text.strip().strip('"').lower()
    return tail.endswith(end_phrase.strip().lower()), f"ends {tail[-40:]!r}"


@check("startend:quotation")
def quotation(text):
    t = text.strip()
    return len(t) > 1 and t[0] == '"' and t[-1] == '"', "not wrapped in double quotes"


# -- change case ---------------------------------------------------------------------------
@check("change_case:capital_word_frequency", capital_frequency=(int, ...),
       capital_relation=_REL)
def capital_word_frequency(text, capital_frequency, capital_relation):
    n = sum(1 for w in words(text) if w.isupper())
    return (compare(n, capital_relation, capital_frequency),
            f"{n} ALL-CAPS words, want {capital_relation} {capital_frequency}")


@check("change_case:english_capital")
def english_capital(text):
    lang = detect_language(text)
    return text.isupper() and lang == "en", f"upper={text.isupper()}, language {lang!r}"


@check("change_case:english_lowercase")
def english_lowercase(text):
    lang = detect_language(text)
    return text.islower() and lang == "en", f"lower={text.islower()}, language {lang!r}"


# -- punctuation ---------------------------------------------------------------------------
@check("punctuation:no_comma")
def no_comma(text):
    return "," not in text, f"{text.count(',')} commas"


IFEVAL_CHECKS = (
    "keywords:existence", "keywords:frequency", "keywords:forbidden_words",
    "keywords:letter_frequency", "language:response_language",
    "length_constraints:number_sentences", "length_constraints:number_paragraphs",
    "length_constraints:number_words", "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders", "detectable_content:postscript",
    "detectable_format:number_bullet_lists", "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections", "detectable_format:multiple_sections",
    "detectable_format:json_format", "detectable_format:title", "combination:two_responses",
    "combination:repeat_prompt", "startend:end_checker", "change_case:capital_word_frequency",
    "change_case:english_capital", "change_case:english_lowercase", "punctuation:no_comma",
    "startend:quotation",
)
