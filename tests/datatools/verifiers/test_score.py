"""Constraint specs in the shapes real datasets carry, and score_completion's verdicts."""
import json

import pytest

from datatools.verifiers import ConstraintError, parse_constraints, score_completion

# google/IFEval's rows: every kwarg of every type, null where it does not apply
IFEVAL_ROW = {
    "prompt": "Write a riddle about a cat. Do not use commas. Use at least 2 placeholders.",
    "instruction_id_list": ["punctuation:no_comma", "detectable_content:number_placeholders"],
    "kwargs": [{"num_highlights": None, "keywords": None, "num_placeholders": None},
               {"num_highlights": None, "keywords": None, "num_placeholders": 2}],
}


def names(spec):
    return [name for name, _ in parse_constraints(spec)]


def test_ifeval_columns_read_directly():
    spec = {k: IFEVAL_ROW[k] for k in ("instruction_id_list", "kwargs")}
    assert names(spec) == ["punctuation:no_comma", "detectable_content:number_placeholders"]
    verdict = score_completion("I purr at [place] near [time].", None, spec)
    assert verdict.score == 1.0 and verdict.all_passed
    verdict = score_completion("I purr, at [place].", None, spec)
    assert verdict.score == 0.0
    assert "1 commas" in verdict.failures() and "1 [placeholders]" in verdict.failures()


def test_tulu_ground_truth_string_and_other_shapes():
    # TÜLU 3's RLVR-IFeval ground truth: a Python-literal list holding one JSON object
    truth = str([json.dumps({"instruction_id": ["keywords:existence"],
                             "kwargs": [{"keywords": ["moon"]}]})])
    assert names(truth) == ["keywords:existence"]
    assert score_completion("The moon rises.", None, truth).all_passed
    listed = [{"type": "startend:quotation"}, "punctuation:no_comma",
              {"id": "length_constraints:number_words",
               "kwargs": {"num_words": 3, "relation": "less than"}}]
    assert len(names(listed)) == 3
    assert score_completion('"Hi there"', None, listed).all_passed
    mixed = {"max_words": 5, "detectable_format:title": True, "no_commas": False}
    assert names(mixed) == ["max_words", "detectable_format:title", "no_commas"]
    verdict = score_completion("<<T>> short", None, mixed)
    assert set(verdict.results) == {"max_words", "detectable_format:title"}  # no_commas off
    assert names(json.dumps({"max_chars": 10})) == ["max_chars"]


def test_every_problem_is_listed_with_its_place():
    with pytest.raises(ConstraintError) as err:
        parse_constraints({"max_wrods": 3, "keywords:existence": {"keyword": ["x"]},
                           "length_constraints:number_words": {"num_words": 5,
                                                               "relation": "at most"}})
    text = str(err.value)
    assert "constraints.max_wrods: unknown constraint" in text
    assert "keywords:existence.keywords: Field required" in text
    assert "keywords:existence.keyword: Extra inputs" in text
    assert "number_words.relation" in text and "'less than' or 'at least'" in text
    with pytest.raises(ConstraintError, match="one length"):
        parse_constraints({"instruction_id_list": ["punctuation:no_comma"], "kwargs": []})
    with pytest.raises(ConstraintError, match="not JSON"):
        parse_constraints("{max_words: 3")
    with pytest.raises(ConstraintError, match="given twice"):
        parse_constraints(["punctuation:no_comma", "punctuation:no_comma"])


def test_answer_and_constraints_together():
    verdict = score_completion("So 6*7 = 42.\n#### 42", "Six sevens.\n#### 42",
                               {"punctuation:no_comma": {}})
    assert verdict.results["answer"][0] and verdict.score == 1.0
    assert score_completion("#### 41", 42, None).score == 0.0
    assert score_completion("anything", None, None).score is None  # nothing to check


def test_reward_functions_in_trl_signature():
    from datatools.verifiers.rewards import make_reward_functions

    answer_reward, constraint_reward = make_reward_functions()
    completions = [[{"role": "assistant", "content": "It is 4.\n#### 4"}],
                   [{"role": "assistant", "content": "Maybe five, or so."}],
                   [{"role": "assistant", "content": "no commas here"}]]
    answers = ["4", "5", None]
    constraints = [None, json.dumps({"punctuation:no_comma": {}}),
                   json.dumps({"punctuation:no_comma": {}, "startend:quotation": {}})]
    logged = {}
    kwargs = dict(prompts=[[]] * 3, completions=completions, completion_ids=None, answer=answers,
                  constraints=constraints, log_metric=logged.__setitem__, trainer_state=None)
    assert answer_reward(**kwargs) == [1.0, 0.0, None]
    assert constraint_reward(**kwargs) == [None, 0.0, 0.5]
    assert logged == {"pass_rate/punctuation:no_comma": 0.5, "pass_rate/startend:quotation": 0.0}
    strict = make_reward_functions(scoring="all")[1]
    assert strict(**kwargs) == [None, 0.0, 0.0]
