"""Instruction templates for the 25 IFEval types: each draws kwargs from a seeded rng and says
the instruction in words, so a seed prompt can be turned into a verifiable one without an LLM
(TÜLU 3's constraint-attaching recipe for its IFEval-style RLVR prompts, Lambert et al. 2024).
The wording is ours; the kwargs are exactly what the checks in ifeval.py read.
"""
from __future__ import annotations

import random
import re
from typing import Callable

from datatools.verifiers.ifeval import CONSTRAINED_RESPONSES

WORDS = ("river", "garden", "history", "energy", "window", "market", "signal", "planet",
         "memory", "silver", "journey", "balance", "harbor", "pattern", "lantern", "forest",
         "engine", "thunder", "village", "compass", "mirror", "science", "winter", "bridge")
LANGUAGES = {"fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese"}
END_PHRASES = ("Is there anything else I can help with?", "Any other questions?",
               "That is all.", "Let me know if you have additional questions.")
Template = Callable[[random.Random, str], tuple[str, dict]]
TEMPLATES: dict[str, Template] = {}


def template(name: str):
    def register(fn):
        TEMPLATES[name] = fn
        return fn
    return register


def _relation(rng):
    return rng.choice(("less than", "at least"))


def _prompt_words(prompt: str) -> list[str]:
    return sorted({w.lower() for w in re.findall(r"[A-Za-z]{5,}", prompt)})


@template("keywords:existence")
def _(rng, prompt):
    a, b = rng.sample(WORDS, 2)
    return f"Make sure the words {a} and {b} both appear in your answer.", {"keywords": [a, b]}


@template("keywords:frequency")
def _(rng, prompt):
    w, n, rel = rng.choice(WORDS), rng.randint(2, 4), _relation(rng)
    return (f"Use the word {w} {rel} {n} times in your answer.",
            {"keyword": w, "frequency": n, "relation": rel})


@template("keywords:forbidden_words")
def _(rng, prompt):
    pool = _prompt_words(prompt) or list(WORDS)
    words = rng.sample(pool, min(2, len(pool)))
    return (f"Do not use the words {', '.join(words)} anywhere in your answer.",
            {"forbidden_words": words})


@template("keywords:letter_frequency")
def _(rng, prompt):
    letter, n, rel = rng.choice("aeionrst"), rng.randint(3, 10), _relation(rng)
    return (f"The letter {letter} should appear {rel} {n} times in your answer.",
            {"letter": letter, "let_frequency": n, "let_relation": rel})


@template("language:response_language")
def _(rng, prompt):
    code = rng.choice(sorted(LANGUAGES))
    return (f"Write your whole answer in {LANGUAGES[code]}, and in no other language.",
            {"language": code})


@template("length_constraints:number_sentences")
def _(rng, prompt):
    n, rel = rng.randint(2, 6), _relation(rng)
    return (f"Your answer should have {rel} {n} sentences.",
            {"num_sentences": n, "relation": rel})


@template("length_constraints:number_paragraphs")
def _(rng, prompt):
    n = rng.randint(2, 4)
    return (f"Write exactly {n} paragraphs, separated from each other by the markdown divider ***.",
            {"num_paragraphs": n})


@template("length_constraints:number_words")
def _(rng, prompt):
    n, rel = rng.choice((20, 40, 60, 100, 150)), _relation(rng)
    return f"Answer in {rel} {n} words.", {"num_words": n, "relation": rel}


@template("length_constraints:nth_paragraph_first_word")
def _(rng, prompt):
    n = rng.randint(2, 4)
    nth, w = rng.randint(1, n), rng.choice(WORDS)
    return (f"Write exactly {n} paragraphs separated by blank lines; paragraph {nth} must begin "
            f"with the word {w}.", {"num_paragraphs": n, "nth_paragraph": nth, "first_word": w})


@template("detectable_content:number_placeholders")
def _(rng, prompt):
    n = rng.randint(1, 3)
    return (f"Include at least {n} placeholders in square brackets, like [name].",
            {"num_placeholders": n})


@template("detectable_content:postscript")
def _(rng, prompt):
    marker = rng.choice(("P.S.", "P.P.S"))
    return (f"End with a postscript on its own line that starts with {marker}",
            {"postscript_marker": marker})


@template("detectable_format:number_bullet_lists")
def _(rng, prompt):
    n = rng.randint(2, 5)
    return (f"Your answer must have exactly {n} markdown bullet points, each line starting "
            "with '* '.", {"num_bullets": n})


@template("detectable_format:constrained_response")
def _(rng, prompt):
    options = ", ".join(f"({o})" for o in CONSTRAINED_RESPONSES)
    return f"Reply with one of these options: {options}", {}


@template("detectable_format:number_highlighted_sections")
def _(rng, prompt):
    n = rng.randint(1, 3)
    return (f"Highlight at least {n} parts of your answer with markdown, like *this part*.",
            {"num_highlights": n})


@template("detectable_format:multiple_sections")
def _(rng, prompt):
    n, word = rng.randint(2, 4), rng.choice(("Section", "SECTION", "Part"))
    return (f"Split your answer into {n} sections, each starting with '{word} N' ({word} 1, "
            f"{word} 2, ...).", {"section_spliter": word, "num_sections": n})


@template("detectable_format:json_format")
def _(rng, prompt):
    return "Give your whole answer as valid JSON (markdown ``` fences are fine).", {}


@template("detectable_format:title")
def _(rng, prompt):
    return "Give your answer a title in double angle brackets, like <<a title>>.", {}


@template("combination:two_responses")
def _(rng, prompt):
    return ("Give two different answers, separated only by a line of six asterisks: ******.", {})


@template("combination:repeat_prompt")
def _(rng, prompt):
    return ("First repeat the request above word for word, then answer it (do not repeat this "
            "sentence).", {"prompt_to_repeat": prompt})


@template("startend:end_checker")
def _(rng, prompt):
    phrase = rng.choice(END_PHRASES)
    return (f"End your answer with the exact phrase \"{phrase}\" and nothing after it.",
            {"end_phrase": phrase})


@template("startend:quotation")
def _(rng, prompt):
    return "Wrap your entire answer in double quotation marks.", {}


@template("change_case:capital_word_frequency")
def _(rng, prompt):
    n, rel = rng.randint(2, 8), _relation(rng)
    return (f"Use {rel} {n} words written in ALL CAPITAL letters.",
            {"capital_frequency": n, "capital_relation": rel})


@template("change_case:english_capital")
def _(rng, prompt):
    return "Write your whole answer in English, in capital letters only.", {}


@template("change_case:english_lowercase")
def _(rng, prompt):
    return "Write your whole answer in English, in lowercase letters only, no capitals.", {}


@template("punctuation:no_comma")
def _(rng, prompt):
    return "Do not use any commas in your answer.", {}


def compatible(chosen: list[str], candidate: str) -> bool:
    """One constraint per group (keywords, length_constraints, ...); JSON goes alone; case and
    language rules exclude each other (an all-caps French answer is not English)."""
    group = candidate.split(":")[0]
    groups = {c.split(":")[0] for c in chosen}
    if group in groups:
        return False
    if "detectable_format:json_format" in chosen + [candidate] and chosen:
        return False
    clash = {"change_case", "language"}
    return not (group in clash and groups & clash)
