"""The 25 IFEval checks: a hand-written answer that follows each instruction and one that does
not, plus the edge the rule is about (relations, dividers, markers)."""
import pytest

from datatools.verifiers import IFEVAL_CHECKS, score_completion

FOX = "The quick brown fox jumps over the lazy dog near the river bank today."
CASES = [
    # (id, kwargs, follows, does not follow)
    ("keywords:existence", {"keywords": ["river", "Fox"]}, FOX,
     "The quick brown foxes jump over a dog near the riverbank."),
    ("keywords:frequency", {"keyword": "tea", "frequency": 3, "relation": "at least"},
     "Tea first, tea later, and tea again: tea is life.", "Tea once, and steady tea again."),
    ("keywords:frequency", {"keyword": "tea", "frequency": 2, "relation": "less than"},
     "One tea, then coffee and a teapot.", "Tea and tea."),
    ("keywords:forbidden_words", {"forbidden_words": ["dog", "lazy"]},
     "A fox jumps over a sleepy hound; dogma aside.", FOX),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zany zebras zigzag.", "A lazy day."),
    ("keywords:letter_frequency", {"letter": "e", "let_frequency": 2, "let_relation": "less than"},
     "A big cat.", "Eleven."),
    ("language:response_language", {"language": "fr"},
     "Le renard brun rapide saute par-dessus le chien paresseux près de la rivière.", FOX),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "One sentence. Two sentences.", "One. Two. Three sentences here."),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"},
     "First one. Second one!", "Only one sentence here"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3},
     "First part.\n***\nSecond part.\n***\nThird part.",
     "First part.\n***\n\n***\nThird part.\n***\nFourth."),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"},
     "Four words are here.", "These are five words exactly."),
    ("length_constraints:number_words", {"num_words": 10, "relation": "at least"}, FOX,
     "Too short."),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "However"},
     "Intro text.\n\n\"However, the second begins so.\n\nThe end.",
     "Intro text.\n\nMoreover the second.\n\nThe end."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2},
     "Dear [name], meet me at [address].", "Dear [name], meet me downtown."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."},
     "Thanks for reading.\n\nP.S. Bring snacks.", "Thanks. I mentioned P.S. in passing."),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"},
     "Body.\nP.S. one\nP. P. S two", "Body.\nP.S. one"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2},
     "Items:\n* apples\n- pears\n", "Items:\n* apples\n* pears\n* plums\n**bold** line"),
    ("detectable_format:constrained_response", {},
     "My answer is maybe.", "Maybe, it depends."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     "This is *important* and **vital**.", "This is *important* and ** ** empty."),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2},
     "SECTION 1\nIntro.\nSECTION 2\nBody.", "SECTION 1\nEverything in one."),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', "{'a': 1}"),
    ("detectable_format:title", {}, "<<A Poem of Joy>>\nRoses are red.", "A Poem of Joy\n<< >>"),
    ("combination:two_responses", {},
     "Paris is the capital.\n******\nThe capital is Paris.",
     "Paris.\n******\nParis."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a haiku about rain."},
     "write a haiku about rain. Soft rain on the roof...", "Soft rain on the roof..."),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"},
     "Done.\nIs there anything else I can help with?",
     "Is there anything else I can help with? Done."),
    ("change_case:capital_word_frequency", {"capital_frequency": 2,
                                            "capital_relation": "at least"},
     "This is VERY IMPORTANT news.", "This is Very important NEWS."),
    ("change_case:capital_word_frequency", {"capital_frequency": 2,
                                            "capital_relation": "less than"},
     "Only ONE shouted word.", "TWO SHOUTED words."),
    ("change_case:english_capital", {},
     "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG NEAR THE RIVER.", FOX),
    ("change_case:english_lowercase", {},
     "the quick brown fox jumps over the lazy dog near the river bank.",
     "le renard brun rapide saute par-dessus le chien paresseux près de la rivière."),
    ("punctuation:no_comma", {}, "No commas here at all.", "Yes, one comma."),
    ("startend:quotation", {}, '"Wrapped in quotes."', 'Not "wrapped" at all.'),
]


@pytest.mark.parametrize("name, kwargs, good, bad", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_check_follows_and_breaks(name, kwargs, good, bad):
    spec = {name: kwargs}
    ok, _ = score_completion(good, None, spec).results[name]
    assert ok, f"{name} should pass: {good!r}"
    ok, detail = score_completion(bad, None, spec).results[name]
    assert not ok and detail, f"{name} should fail with a detail: {bad!r}"


def test_every_ifeval_type_has_cases():
    assert len(IFEVAL_CHECKS) == 25 and len(set(IFEVAL_CHECKS)) == 25
    assert {c[0] for c in CASES} == set(IFEVAL_CHECKS)


def test_empty_answer_fails_every_constraint():
    # an empty completion must never earn a reward (forbidden words, no_comma, ... pass vacuously)
    verdict = score_completion("  ", None, {"punctuation:no_comma": {},
                                            "keywords:forbidden_words": {"forbidden_words": ["x"]}})
    assert verdict.score == 0.0 and verdict.all_passed is False
