"""reward_model with a tiny random LlamaForSequenceClassification built offline."""
import pytest

from datatools.judge.reward_model import RewardModel, RewardModelParams
from datatools.step import StepContext


@pytest.fixture(scope="module")
def tiny_rm_dir(tmp_path_factory):
    from tests.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny-rm"))


def step_for(model_dir, tmp_path=None, **params):
    ctx = StepContext(quiet=True, cache_dir=tmp_path)
    return RewardModel(RewardModelParams(model=str(model_dir), **params), ctx)


def test_scores_batched_equal_unbatched_and_cached(tiny_rm_dir, tmp_path, frame_of):
    frame = frame_of([("r1", "What is 2+2?", ["4", "four, because two plus two is four", "5"],
                       {}), ("r2", "Say hello", ["hello there", "hi"], {})])
    step = step_for(tiny_rm_dir, tmp_path, batch_size=2)
    kept, rejected = step(frame)
    assert rejected.height == 0 and kept.height == 5
    scores = kept["judge_reward_model"].to_list()
    assert all(isinstance(s, float) for s in scores) and len(set(scores)) == 5
    assert kept["score"].to_list() == scores
    # Padding must not change a score: one at a time gives the same numbers.
    single, _ = step_for(tiny_rm_dir, batch_size=1)(frame)
    assert single["judge_reward_model"].to_list() == pytest.approx(scores, abs=1e-4)
    # A rerun over the same cache dir reads every score back without touching the model.
    again = step_for(tiny_rm_dir, tmp_path)
    again._load = lambda: pytest.fail("model loaded although every score was cached")
    kept2, _ = again(frame)
    assert kept2["judge_reward_model"].to_list() == scores
    assert again.stats["cache_hits"] == 5


def test_too_long_rejected_or_truncated(tiny_rm_dir, frame_of):
    frame = frame_of([("r1", "q", ["short", "word " * 200], {})])
    kept, rejected = step_for(tiny_rm_dir, max_length=64)(frame)
    assert kept["completion"].to_list() == ["short"]
    assert rejected["reason"].to_list() == ["judge.too_long"]
    assert "max_length 64" in rejected["detail"][0]
    kept, rejected = step_for(tiny_rm_dir, max_length=64, on_too_long="truncate",
                              name="rm", set_score=False)(frame)
    assert rejected.height == 0 and kept["judge_rm"].null_count() == 0
    assert kept["score"].null_count() == 2  # set_score: false
