"""judge_pairwise: both orders asked, consistency measured, inconsistency policy, scores."""
import re

import pytest

from datatools.judge.pairwise import PairwiseJudge, PairwiseParams, bradley_terry
from datatools.step import StepContext


def judge(backend, **params):
    return PairwiseJudge(PairwiseParams(backend={"model": "j"}, **params),
                         StepContext(backends={"j": backend}, quiet=True))


def responses(conv):
    text = conv[-1]["content"]
    a = re.search(r"## Response A\n(.*?)\n\n## Response B", text, re.S).group(1)
    b = re.search(r"## Response B\n(.*?)\n\nAnswer with", text, re.S).group(1)
    return a, b


def prefers_longer(conv, sampling, n):
    a, b = responses(conv)
    winner = "A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie"
    return f'{{"explanation": "longer is better", "winner": "{winner}"}}'


def always_a(conv, sampling, n):
    return "Response A is better. [[A]]"


def test_consistent_judge_win_rates_and_both_orders(scripted, frame_of):
    backend = scripted(prefers_longer)
    frame = frame_of([("r1", "q", ["a", "bbb", "cc"], {}), ("r2", "q2", ["x", "yy"], {})])
    step = judge(backend)
    kept, rejected = step(frame)
    assert rejected.height == 0
    score = dict(zip(kept["completion"], kept["judge_pairwise"]))
    assert score == {"a": 0.0, "bbb": 1.0, "cc": 0.5, "x": 0.0, "yy": 1.0}
    assert kept["score"].to_list() == kept["judge_pairwise"].to_list()
    assert dict(zip(kept["completion"], kept["judge_pairwise_compared"]))["cc"] == 2
    # 4 pairs, each asked in both orders.
    asked = [responses(c) for c, _ in backend.calls]
    assert len(asked) == 8 and ("a", "bbb") in asked and ("bbb", "a") in asked
    assert step.stats["position_consistency_rate"] == 1.0
    assert step.stats["first_position_win_rate"] == 0.5


def test_position_biased_judge_tie_policy(scripted, frame_of):
    step = judge(scripted(always_a), on_inconsistent="tie")
    kept, rejected = step(frame_of([("r1", "q", ["a", "bbb"], {})]))
    assert rejected.height == 0 and kept["judge_pairwise"].to_list() == [0.5, 0.5]
    assert step.stats["position_consistency_rate"] == 0.0
    assert step.stats["first_position_win_rate"] == 1.0
    assert step.stats["inconsistent"] == 1


def test_position_biased_judge_drop_policy(scripted, frame_of):
    step = judge(scripted(always_a), on_inconsistent="drop")
    kept, rejected = step(frame_of([("r1", "q", ["a", "bbb"], {})]))
    assert kept.height == 0
    assert rejected["reason"].to_list() == ["judge.inconsistent"] * 2
    assert "'A' with this answer first" in rejected["detail"][0]


def test_partly_inconsistent_drop_keeps_the_consistent_comparisons(scripted, frame_of):
    def judge_fn(conv, sampling, n):  # biased only when "zz" is involved
        a, b = responses(conv)
        return always_a(conv, sampling, n) if "zz" in (a, b) else prefers_longer(conv, sampling, n)
    kept, rejected = judge(scripted(judge_fn), on_inconsistent="drop")(
        frame_of([("r1", "q", ["a", "bbb", "zz"], {})]))
    assert dict(zip(kept["completion"], kept["judge_pairwise"])) == {"a": 0.0, "bbb": 1.0}
    assert rejected["reason"].to_list() == ["judge.inconsistent"]
    assert rejected["completion"].to_list() == ["zz"]


def test_unparsed_verdicts_and_single_candidates(scripted, frame_of):
    backend = scripted(lambda c, s, n: "hmm, hard to say")
    kept, rejected = judge(backend, max_retries=1, max_parse_failure_rate=None)(
        frame_of([("r1", "q", ["a", "b"], {}), ("r2", "q", ["only"], {})]))
    assert kept.height == 0
    reasons = dict(zip(rejected["completion"], rejected["reason"]))
    assert reasons == {"a": "judge.parse_failure", "b": "judge.parse_failure",
                       "only": "judge.single_candidate"}
    assert "hmm, hard to say" in rejected["detail"][0]
    assert len(backend.calls) == 4  # 2 orders × (1 try + 1 retry)


def test_bradley_terry_orders_candidates(scripted, frame_of):
    kept, _ = judge(scripted(prefers_longer), scoring="bradley_terry")(
        frame_of([("r1", "q", ["a", "bbb", "cc"], {})]))
    s = dict(zip(kept["completion"], kept["judge_pairwise"]))
    assert s["bbb"] > s["cc"] > s["a"]
    assert sum(s.values()) == pytest.approx(0.0, abs=1e-9)


def test_bradley_terry_fit():
    # 0 beats 1 three times out of four: strengths ratio near 3 (shrunk by the prior).
    s = bradley_terry(2, [(0, 1, 1.0)] * 3 + [(0, 1, 0.0)])
    assert 0 < s[0] - s[1] < 1.1
    assert bradley_terry(2, [(0, 1, 0.5)] * 4) == pytest.approx([0.0, 0.0])


def test_too_many_candidates_and_gate(scripted, frame_of):
    from datatools.schemas.errors import QualityGateError

    kept, rejected = judge(scripted(prefers_longer), max_candidates=2)(
        frame_of([("r1", "q", ["a", "bb", "ccc"], {}), ("r2", "q", ["x", "yy"], {})]))
    assert set(rejected["reason"]) == {"judge.too_many_candidates"}
    assert rejected.height == 3 and kept.height == 2
    with pytest.raises(QualityGateError, match="4 of 4"):
        judge(scripted(lambda c, s, n: "?"), max_retries=0)(
            frame_of([("r1", "q", ["a", "b"], {}), ("r2", "q", ["x", "y"], {})]))
