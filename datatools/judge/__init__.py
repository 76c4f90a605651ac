"""Steps of the 'judge' family; add each new step class to JUDGE_STEPS.

One registry name per judge type (not one `judge` step with a `type:` key): each type has its
own params, so a recipe typo is reported against the right key set, `datatools schema` shows
one clean params object per step, and required columns are known per step before any model
loads. Every judge writes `judge_<name>` and (unless `set_score: false`) `score`.
"""
from __future__ import annotations

from datatools.judge.combine import CombineScores
from datatools.judge.pairwise import PairwiseJudge
from datatools.judge.reward_model import RewardModel
from datatools.judge.rubric import RubricJudge
from datatools.judge.verifiable import Verifiable
from datatools.step import Step

JUDGE_STEPS: dict[str, type[Step]] = {
    cls.name: cls for cls in (RubricJudge, PairwiseJudge, RewardModel, Verifiable, CombineScores)
}
