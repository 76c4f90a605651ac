"""judge_rubric with an in-test backend: scores, aspect columns, retries, failures, the gate."""
import json

import pytest
from pydantic import ValidationError

from datatools.judge.rubric import RubricJudge, RubricParams
from datatools.step import StepContext
from datatools.schemas.errors import QualityGateError

UF = ["helpfulness", "honesty", "instruction_following", "truthfulness"]


def judge(backend, **params):
    params = {"backend": {"model": "j"}, **params}
    return RubricJudge(RubricParams(**params), StepContext(backends={"j": backend}, quiet=True))


def by_completion(answers):
    """Answer by the candidate's completion text, found in the judge prompt."""
    def answer(conv, sampling, call_no):
        user = conv[-1]["content"]
        for key, text in answers.items():
            if f"## Response\n{key}" in user:
                return text(call_no) if callable(text) else text
        raise AssertionError("unexpected prompt")
    return answer


def test_scores_aspects_and_mean(scripted, frame_of):
    backend = scripted(by_completion({
        "good": json.dumps(dict(zip(UF, [5, 5, 4, 4]))),
        "messy": "My ratings:\nHelpfulness: 2\nHonesty: 3\nInstruction following: 2\n"
                 "Truthfulness: 1\n",
    }))
    frame = frame_of([("r1", "What is 2+2?", ["good", "messy"], {})])
    step = judge(backend)
    kept, rejected = step(frame)
    assert rejected.height == 0
    row = {r["completion"]: r for r in kept.to_dicts()}
    assert row["good"]["aspect_helpfulness"] == 5 and row["good"]["aspect_truthfulness"] == 4
    assert row["good"]["judge_rubric"] == pytest.approx(4.5)
    assert row["good"]["score"] == pytest.approx(4.5)
    assert row["messy"]["judge_rubric"] == pytest.approx(2.0)
    # The request: one JSON-schema-constrained, greedy call per candidate.
    conv, sampling = backend.calls[0]
    assert sampling.temperature == 0 and sampling.json_schema["required"] == UF
    assert "What is 2+2?" in conv[-1]["content"] and conv[0]["role"] == "system"
    assert step.stats["parse_failures"] == 0


def test_garbage_is_parse_failure_with_raw_output_and_retries_are_bounded(scripted, frame_of):
    backend = scripted(by_completion({
        "ok": '{"helpfulness": 3, "honesty": 3, "instruction_following": 3, "truthfulness": 3}',
        "bad": lambda n: f"garbage output number {n}",
    }))
    frame = frame_of([("r1", "q", ["ok", "bad"], {})])
    step = judge(backend, max_retries=2, max_parse_failure_rate=None)
    kept, rejected = step(frame)
    assert kept["completion"].to_list() == ["ok"]
    assert rejected["reason"].to_list() == ["judge.parse_failure"]
    detail = rejected["detail"][0]
    assert "garbage output number" in detail and "3 tries" in detail
    # Never −1, never a silent None: the failed row is not in `kept` at all.
    assert kept["score"].to_list() == [3.0]
    bad_calls = [s for c, s in backend.calls if "## Response\nbad" in c[-1]["content"]]
    assert len(bad_calls) == 3  # first try + max_retries
    # Retries change temperature and seed, so they are not replays (or cache hits).
    assert [s.temperature for s in bad_calls] == [0.0, 0.7, 0.7]
    assert len({s.seed for s in bad_calls}) == 3
    assert step.stats == {"requests": 2, "parse_failures": 1, "parse_failure_rate": 0.5,
                          "retried": 1}


def test_retry_that_succeeds_keeps_the_row(scripted, frame_of):
    good = '{"helpfulness": 4, "honesty": 4, "instruction_following": 4, "truthfulness": 2}'
    backend = scripted(lambda conv, s, n: good if s.seed and s.seed > 0 else "no idea")
    kept, rejected = judge(backend)(frame_of([("r1", "q", ["a"], {})]))
    assert rejected.height == 0 and kept["judge_rubric"][0] == pytest.approx(3.5)


def test_gate_raises_with_rate_count_threshold_and_example(scripted, frame_of):
    backend = scripted(lambda conv, s, n: "I refuse to rate this")
    frame = frame_of([("r1", "q", ["a", "b", "c"], {})])
    with pytest.raises(QualityGateError) as err:
        judge(backend, max_retries=0, max_parse_failure_rate=0.05)(frame)
    msg = str(err.value)
    assert "3 of 3" in msg and "100.0%" in msg and "5.0%" in msg
    assert "I refuse to rate this" in msg and "max_parse_failure_rate" in msg


def test_custom_rubric_template_and_columns(scripted, frame_of):
    template = 'Q: {instruction}\nA: {completion}\nReply as {"clarity": n} with n in 0..10.'
    backend = scripted(lambda conv, s, n: "clarity: 7")
    step = judge(backend, name="clar", aspects={"clarity": "is it clear"}, scale_min=0,
                 scale_max=10, template=template, system=None, set_score=False)
    kept, _ = step(frame_of([("r1", "hi", ["hello"], {})]))
    assert kept["judge_clar"][0] == 7 and kept["aspect_clarity"][0] == 7
    assert kept["score"][0] is None  # set_score: false leaves score alone
    conv, _ = backend.calls[0]
    assert conv == [{"role": "user", "content": 'Q: hi\nA: hello\nReply as {"clarity": n} '
                     "with n in 0..10."}]
    assert step.produced_columns() == {"judge_clar", "aspect_clarity", "score"}


def test_missing_completion_is_rejected_not_judged(scripted, frame_of):
    backend = scripted(lambda *a: "unused")
    kept, rejected = judge(backend)(frame_of([("r1", "q", [], {})]))
    assert kept.height == 0 and rejected["reason"].to_list() == ["judge.missing_completion"]
    assert backend.calls == []


def test_params_are_checked():
    with pytest.raises(ValidationError, match="completion"):
        RubricParams(backend={"model": "j"}, template="only {instruction}")
    with pytest.raises(ValidationError):
        RubricParams(backend={"model": "j"}, scale_min=5, scale_max=1)
    with pytest.raises(ValidationError):
        RubricParams(backend={"model": "j"}, tempurature=0)  # typo → error, not a default
    spec = RubricParams(backend={"backend": "transformers", "model": "some/model"})
    assert spec.backend.model == "some/model"


GOOD = '{"helpfulness": 4, "honesty": 4, "instruction_following": 4, "truthfulness": 4}'


def test_cache_rerun_recomputes_nothing_and_template_change_rejudges(scripted, frame_of,
                                                                     tmp_path):
    frame = frame_of([("r1", "q", ["a", "b"], {})])
    backend = scripted(lambda *a: GOOD)

    def run(**params):
        ctx = StepContext(backends={"j": backend}, quiet=True, cache_dir=tmp_path)
        return RubricJudge(RubricParams(backend={"model": "j"}, **params), ctx)(frame)

    first, _ = run()
    assert len(backend.calls) == 2
    again, _ = run()
    assert len(backend.calls) == 2 and again.equals(first)
    run(template="Rate it.\n{instruction}\n{completion}\n{json_example}")
    assert len(backend.calls) == 4  # the template is part of the cache key


def test_failed_requests_are_retried_then_rejected(scripted, frame_of):
    def answer(conv, sampling, n):
        if "## Response\nboom" in conv[-1]["content"]:
            raise ConnectionError("server went away")
        return GOOD
    kept, rejected = judge(scripted(answer), max_parse_failure_rate=None)(
        frame_of([("r1", "q", ["ok", "boom"], {})]))
    assert kept["completion"].to_list() == ["ok"]
    assert rejected["reason"].to_list() == ["judge.request_failed"]
    assert "server went away" in rejected["detail"][0]


def test_real_tiny_model_garbage_becomes_parse_failures(tiny_model_dir, frame_of, tmp_path):
    """A random tiny chat model through the real transformers backend: its answers are
    garbage, which is what exercises the failure path end to end."""
    frame = frame_of([("r1", "What is two plus two?", ["four", "five"], {})])
    spec = {"backend": "transformers", "model": str(tiny_model_dir)}

    def run(**params):
        ctx = StepContext(quiet=True, cache_dir=tmp_path)
        step = RubricJudge(RubricParams(backend=spec, max_tokens=12, max_retries=1, **params),
                           ctx)
        return step, step(frame)

    step, (kept, rejected) = run(max_parse_failure_rate=None)
    assert kept.height == 0 and rejected.height == 2
    assert set(rejected["reason"]) == {"judge.parse_failure"}
    assert all("raw output (2 tries)" in d for d in rejected["detail"])
    assert step.stats["parse_failure_rate"] == 1.0
    with pytest.raises(QualityGateError, match="2 of 2"):
        run()  # default gate 0.05; answers now come from the cache


def test_per_aspect_mode_asks_each_aspect_alone(scripted, frame_of):
    def answer(conv, sampling, n):
        user = conv[-1]["content"]
        aspect = next(a for a in UF if f"- {a}:" in user)
        assert sum(f"- {a}:" in user for a in UF) == 1  # only that aspect's rubric is shown
        assert sampling.json_schema["required"] == [aspect]
        if aspect == "honesty" and "## Response\nbad" in user:
            return "I cannot say"
        return f"{aspect}: {UF.index(aspect) + 1}"
    backend = scripted(answer)
    kept, rejected = judge(backend, mode="per_aspect", max_retries=0,
                           max_parse_failure_rate=None)(frame_of([("r1", "q", ["ok", "bad"], {})]))
    assert len(backend.calls) == 8
    assert kept["completion"].to_list() == ["ok"]
    assert [kept[f"aspect_{a}"][0] for a in UF] == [1, 2, 3, 4]
    assert kept["judge_rubric"][0] == pytest.approx(2.5)
    assert rejected["reason"].to_list() == ["judge.parse_failure"]
    assert "honesty" in rejected["detail"][0] and "I cannot say" in rejected["detail"][0]
