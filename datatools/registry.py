"""The registry: a plain mapping from recipe names to step classes, written here once.

Each entry names the class by import path, and the class is imported the first time a recipe,
`datatools steps` or an executor asks for it. A build imports only the steps its recipe uses, so
start-up does not pay for judges, generation or label aggregation it will never run (they pull
in pydantic models, regex tables and polars plans at import).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datatools.step import Step

# recipe name -> "module:Class"; add a new step here (its class's `name` must match).
STEP_CLASSES: dict[str, str] = {
    "validate": "datatools.core_steps:Validate",
    "exact_dedup": "datatools.core_steps:ExactDedup",
    "near_dedup": "datatools.filters.near_dedup:NearDedup",
    "toxicity": "datatools.filters.toxicity:Toxicity",
    "length": "datatools.filters.length:Length",
    "low_info": "datatools.filters.low_info:LowInfo",
    "decontaminate": "datatools.filters.decontaminate:Decontaminate",
    "generate": "datatools.generate.step:Generate",
    "judge_rubric": "datatools.judge.rubric:RubricJudge",
    "judge_pairwise": "datatools.judge.pairwise:PairwiseJudge",
    "reward_model": "datatools.judge.reward_model:RewardModel",
    "verifiable": "datatools.judge.verifiable:Verifiable",
    "combine_scores": "datatools.judge.combine:CombineScores",
    "aggregate_labels": "datatools.labels.aggregate:AggregateLabels",
    "judge_agreement": "datatools.labels.judge_agreement:JudgeAgreement",
    "constrain_prompts": "datatools.synth.constrain:ConstrainPrompts",
}


class StepRegistry(Mapping):
    """Read-only name -> Step class, importing each class on first access."""

    def __init__(self, where: dict[str, str]):
        self._where = where
        self._loaded: dict[str, type[Step]] = {}

    def __getitem__(self, name: str) -> type[Step]:
        if name not in self._loaded:
            module, _, attr = self._where[name].partition(":")  # KeyError for unknown names
            self._loaded[name] = getattr(import_module(module), attr)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where


STEPS: Mapping[str, type[Step]] = StepRegistry(STEP_CLASSES)
