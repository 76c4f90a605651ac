"""combine_scores: weighted mean of judge columns, normalisation, missing values."""
import polars as pl
import pytest

from datatools.judge.combine import CombineParams, CombineScores
from datatools.step import StepContext


def frame(frame_of, **cols):
    f = frame_of([("r1", "q", ["a", "b", "c"], {})])
    return f.with_columns(*[pl.Series(k, v, dtype=pl.Float64) for k, v in cols.items()])


def combine(f, **params):
    return CombineScores(CombineParams(**params), StepContext(quiet=True))(f)


def test_minmax_weighted_mean(frame_of):
    f = frame(frame_of, judge_rubric=[1.0, 3.0, 5.0], judge_verifiable=[1.0, 0.0, 1.0])
    kept, rejected = combine(f, weights={"rubric": 1, "verifiable": 3})
    assert rejected.height == 0
    # rubric → [0, .5, 1]; verifiable stays [1, 0, 1]; (1·r + 3·v) / 4
    assert kept["judge_combined"].to_list() == pytest.approx([0.75, 0.125, 1.0])
    assert kept["score"].to_list() == kept["judge_combined"].to_list()


def test_no_normalisation_and_full_column_names(frame_of):
    f = frame(frame_of, aspect_honesty=[2.0, 4.0, 4.0], judge_rm=[0.0, 1.0, 2.0])
    kept, _ = combine(f, weights={"aspect_honesty": 1, "rm": 1}, normalize="none", name="mix")
    assert kept["judge_mix"].to_list() == pytest.approx([1.0, 2.5, 3.0])


def test_missing_values(frame_of):
    f = frame(frame_of, judge_a=[1.0, None, None], judge_b=[0.0, 1.0, None])
    kept, rejected = combine(f, weights={"a": 1, "b": 1}, normalize="none")
    assert kept["completion"].to_list() == ["a"]
    assert rejected["reason"].to_list() == ["judge.missing_score"] * 2
    assert rejected["detail"].to_list() == ["no value in judge_a", "no value in judge_a, judge_b"]
    kept, rejected = combine(f, weights={"a": 1, "b": 1}, normalize="none",
                             missing="renormalize")
    assert kept["score"].to_list() == [0.5, 1.0] and rejected.height == 1


def test_required_columns_and_bad_weights():
    step = CombineScores(CombineParams(weights={"rubric": 1, "check_answer": 2}))
    assert step.required_columns() == {"judge_rubric", "check_answer"}
    with pytest.raises(ValueError):
        CombineParams(weights={"a": -1, "b": 1})
