"""The lenient-but-honest parsers: good JSON, messy text, garbage → None (never −1)."""
from datatools.judge.parsing import json_objects, parse_ratings, parse_verdict

UF = ["helpfulness", "honesty", "instruction_following", "truthfulness"]


def test_clean_json():
    got, why = parse_ratings('{"helpfulness": 4, "honesty": 5, "instruction_following": 3, '
                             '"truthfulness": 5}', UF, 1, 5)
    assert got == {"helpfulness": 4, "honesty": 5, "instruction_following": 3, "truthfulness": 5}
    assert why == ""


def test_json_inside_prose_fence_nested_and_key_spelling():
    text = ('Sure! Here is my evaluation:\n```json\n{"ratings": {"Helpfulness": "4/5", '
            '"Honesty": {"rating": 5, "rationale": "ok"}, "Instruction-Following": 3, '
            '"truthfulness": 4.5}}\n```\nHope this helps {not json}.')
    got, _ = parse_ratings(text, UF, 1, 5)
    assert got == {"helpfulness": 4, "honesty": 5, "instruction_following": 3,
                   "truthfulness": 4.5}


def test_rating_lines():
    text = ("**Helpfulness**: 4\nHonesty rating - 5/5\nInstruction following: 2\n"
            "Truthfulness = 3")
    got, _ = parse_ratings(text, UF, 1, 5)
    assert got == {"helpfulness": 4, "honesty": 5, "instruction_following": 2, "truthfulness": 3}


def test_single_aspect_bare_rating_line():
    assert parse_ratings("The answer is fine.\nRating: 4", ["quality"], 1, 5)[0] == {"quality": 4}
    assert parse_ratings('{"score": 2}', ["quality"], 1, 5)[0] == {"quality": 2}


def test_partial_answer_is_a_failure_naming_the_missing_aspects():
    got, why = parse_ratings('{"helpfulness": 4, "honesty": 5}', UF, 1, 5)
    assert got is None
    assert "instruction_following" in why and "truthfulness" in why


def test_out_of_scale_is_a_failure_not_clamped():
    # UltraFeedback's 10-instead-of-1 bug: a wrong number must not slip through.
    got, why = parse_ratings('{"quality": 10}', ["quality"], 1, 5)
    assert got is None and "[1, 5]" in why
    assert parse_ratings('{"quality": -1}', ["quality"], 1, 5)[0] is None


def test_garbage():
    for text in ["", "the cat sat", "{broken json", "rating: excellent", "[1, 2, 3]"]:
        got, why = parse_ratings(text, UF, 1, 5)
        assert got is None and why


def test_json_objects_skips_non_json_braces():
    assert json_objects('x {a} {"k": 1} y {"j": {"n": 2}}') == [{"k": 1}, {"j": {"n": 2}}]


def test_verdicts():
    assert parse_verdict('{"winner": "A"}') == "A"
    assert parse_verdict('{"winner": "Response B", "reason": "..."}') == "B"
    assert parse_verdict('{"verdict": "tie"}') == "tie"
    assert parse_verdict("Assistant B is more accurate. [[B]]") == "B"
    assert parse_verdict("Both are equally good. [[C]]") == "tie"
    assert parse_verdict("Final verdict: Response A") == "A"
    assert parse_verdict("Winner: tie") == "tie"
    # Conflicting or absent signals are unclear, never a guess.
    assert parse_verdict("[[A]] ... actually [[B]]") is None
    assert parse_verdict("I like both of them") is None
    assert parse_verdict("") is None


def test_ratings_with_trailing_words_but_not_ambiguous_ranges():
    text = '{"quality": "4 - mostly helpful"}'
    assert parse_ratings(text, ["quality"], 1, 5)[0] == {"quality": 4}
    assert parse_ratings('{"quality": "3 or 4"}', ["quality"], 1, 5)[0] is None
    assert parse_ratings('{"quality": "between 3 and 4"}', ["quality"], 1, 5)[0] is None
    # A broken JSON object still yields its `"aspect": "n"` lines.
    assert parse_ratings('{"quality": "5",\n "note": oops', ["quality"], 1, 5)[0] == {"quality": 5}
    assert parse_ratings("Quality: 3-4", ["quality"], 1, 5)[0] is None
    assert parse_ratings("Quality: 34", ["quality"], 1, 5)[0] is None  # never read as 3
    assert parse_ratings("Overall it is fine.\nRating: 4.", ["quality"], 1, 5)[0] == {"quality": 4}
