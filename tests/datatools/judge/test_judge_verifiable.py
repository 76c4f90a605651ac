"""verifiable: math final answers and instruction constraints, per-check columns, reasons."""
import pytest
from pydantic import ValidationError

from datatools.judge.verifiable import Verifiable, VerifiableParams
from datatools.verifiers import score_completion
from datatools.verifiers.answers import answers_match, extract_answer, reference_answer
from datatools.verifiers.text import count_sentences, count_words
from datatools.step import StepContext


def run(frame, **params):
    step = Verifiable(VerifiableParams(**params), StepContext(quiet=True))
    kept, rejected = step(frame)
    assert kept.height + rejected.height == frame.height
    return step, kept, rejected


@pytest.mark.parametrize("text, answer, how", [
    ("She has 3 + 4 = 7 apples left.\n#### 7", "7", "####"),
    ("Total: 1,200 dollars\n####  1,200", "1,200", "####"),
    ("So the result is $\\boxed{\\frac{3}{4}}$.", "\\frac{3}{4}", "boxed"),
    ("x = \\boxed{{2}} and more", "{2}", "boxed"),
    ("Step 1 gives 10. The answer is 42.", "42", "phrase"),
    ("First 3, then 5, finally 12 apples", "12", "last number"),
    ("no digits here", None, "none"),
])
def test_extract_answer(text, answer, how):
    assert extract_answer(text) == (answer, how)


def test_reference_and_matching():
    assert reference_answer("Natalia sold 48/2 = 24 clips.\n#### 72") == "72"  # GSM8K solution
    assert reference_answer("so \\boxed{5}") == "5"
    assert reference_answer(42) == "42" and reference_answer(None) is None
    assert answers_match("1,200", "1200") and answers_match("72.0", "72")
    assert answers_match("\\frac{3}{4}", "0.75") and answers_match("3/4", "0.75")
    assert answers_match("$18", "18") and answers_match("50\\%", "50")
    assert not answers_match("71", "72") and not answers_match(None, "72")
    assert answers_match("\\text{(B)}", "(b)")


def test_constraint_checks():
    c = dict(max_words=5, min_words=2, max_sentences=1, keywords=["cat"],
             forbidden_words=["dog"], no_commas=True, max_chars=40)

    def check_constraints(text, spec):
        return score_completion(text, None, spec).results

    good = check_constraints("The cat sat down.", c)
    assert all(ok for ok, _ in good.values()) and len(good) == 7
    bad = check_constraints("A dog, a cat. Another sentence here, too long.", c)
    failed = {k for k, (ok, _) in bad.items() if not ok}
    assert failed == {"max_words", "max_sentences", "forbidden_words", "no_commas", "max_chars"}
    assert bad["max_words"][1] == "9 words, max 5"
    assert not check_constraints("concatenate", {"keywords": ["cat"]})["keywords"][0]
    js = {"json_format": True}
    assert check_constraints('```json\n{"a": 1}\n```', js)["json_format"][0]
    assert not check_constraints("{'a': 1}", js)["json_format"][0]
    assert count_words("It's a well-known fact.") == 4
    assert count_sentences("One. Two! Three?\n\nFour") == 4


def test_step_math_and_meta_constraints(frame_of):
    frame = frame_of([
        ("m1", "What is 6*7?", ["6*7 = 42\n#### 42", "I think 41.", "\\boxed{42}"],
         {"answer": "42"}),
        ("c1", "Describe a cat in under 5 words, no commas.",
         ["Small, furry cat.", "Small furry cat.", "A cat is a small furry animal."],
         {"constraints": {"max_words": 5, "no_commas": True, "keywords": ["cat"]}}),
    ])
    step, kept, rejected = run(frame)
    assert rejected.height == 0
    got = {r["completion"]: r for r in kept.to_dicts()}
    assert got["6*7 = 42\n#### 42"]["judge_verifiable"] == 1.0
    assert got["I think 41."]["score"] == 0.0
    assert got["I think 41."]["check_answer"] is False
    assert "expected '42'" in got["I think 41."]["judge_verifiable_failed"]
    assert got["\\boxed{42}"]["check_max_words"] is None  # not applicable → null, not False
    assert got["Small furry cat."]["score"] == 1.0
    assert got["Small, furry cat."]["score"] == pytest.approx(2 / 3)
    assert got["Small, furry cat."]["check_no_commas"] is False
    assert got["A cat is a small furry animal."]["check_max_words"] is False
    assert step.stats["pass_rate"]["answer"] == pytest.approx(2 / 3)


def test_params_constraints_all_or_nothing_and_answer_column(frame_of):
    frame = frame_of([("r1", "q", ["The answer is 7.", "The answer is 7, surely."],
                       {"constraints": {"no_commas": False}})])
    frame = frame.with_columns(frame["id"].map_elements(lambda _: "7", return_dtype=str)
                               .alias("gold"))
    # Record constraints override params: no_commas switched off for this record.
    _, kept, _ = run(frame, answer_column="gold", constraints={"max_words": 4, "no_commas": True},
                     scoring="all")
    assert kept["score"].to_list() == [1.0, 0.0]
    assert kept["check_no_commas"].to_list() == [None, None]
    _, kept, _ = run(frame, answer_column="gold", constraints={"max_words": 4},
                     constraints_key=None, scoring="fraction")
    assert kept["score"].to_list() == [1.0, 0.5]


def test_reasons_for_rows_that_cannot_be_verified(frame_of):
    frame = frame_of([
        ("a", "q", ["text"], {}),
        ("b", "q", ["text"], {"constraints": {"max_wrods": 3}}),
        ("c", "q", ["text"], {"constraints": ["max_words"]}),
        ("d", "q", [], {"answer": "1"}),
    ])
    _, kept, rejected = run(frame)
    assert kept.height == 0
    reasons = dict(zip(rejected["id"], rejected["reason"]))
    assert reasons == {"a": "judge.no_checks", "b": "judge.bad_constraints",
                       "c": "judge.bad_constraints", "d": "judge.missing_completion"}
    assert "max_wrods" in dict(zip(rejected["id"], rejected["detail"]))["b"]
    # on_no_checks: keep leaves the row, its judge column null, its score as it was.
    _, kept, rejected = run(frame.filter(frame["id"] == "a").with_columns(score=0.3),
                            on_no_checks="keep")
    assert kept["judge_verifiable"].to_list() == [None] and kept["score"].to_list() == [0.3]


def test_params_reject_typos():
    with pytest.raises(ValidationError):
        VerifiableParams(constraints={"max_wrods": 3})
    with pytest.raises(ValidationError):
        VerifiableParams(scoring="some")
    step = Verifiable(VerifiableParams(name="ifeval", answer_column="gold"))
    assert {"judge_ifeval", "check_answer", "score"} <= step.produced_columns()
    assert step.required_columns() == {"completion", "meta", "gold"}


def test_step_reads_ifeval_constraints_from_meta(frame_of):
    ifeval = {"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"],
              "kwargs": [{"num_words": None}, {}]}
    frame = frame_of([("i1", "Describe rain in lowercase, no commas.",
                       ["soft rain falls on the quiet town tonight", "Rain, soft rain."],
                       {"constraints": ifeval})])
    step, kept, rejected = run(frame, scoring="all")
    assert rejected.height == 0
    assert kept["score"].to_list() == [1.0, 0.0]
    assert kept["check_punctuation:no_comma"].to_list() == [True, False]
    assert kept["check_max_words"].to_list() == [None, None]
    assert step.stats["pass_rate"]["change_case:english_lowercase"] == 0.5
