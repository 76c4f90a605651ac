"""The registry of constraint checks: name → kwargs model + a function (text, kwargs) → verdict.

A check returns `(passed, detail)`; the detail says what it saw, so a failed row in a dataset
card or a GRPO log can be read without rerunning anything. Kwargs are validated with pydantic
(`extra="forbid"`), so a misspelt kwarg in a recipe or a dataset row is an error, not a check
that silently uses a default.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, create_model

Relation = Literal["less than", "at least"]  # IFEval's two comparison relations


@dataclass(frozen=True)
class Check:
    name: str      # IFEval / TÜLU 3 id ("keywords:existence") or a legacy key ("max_words")
    kwargs: type[BaseModel]
    fn: Callable[..., tuple[bool, str]]
    family: str    # "ifeval" or "legacy"

    def __call__(self, text: str, kwargs: BaseModel) -> tuple[bool, str]:
        return self.fn(text, **kwargs.model_dump())


REGISTRY: dict[str, Check] = {}


def check(name: str, family: str = "ifeval", **fields: Any):
    """Register `fn(text, **kwargs)` under `name`; `fields` are pydantic field definitions
    (`keywords=(list[str], ...)`) of its kwargs."""

    def register(fn):
        model = create_model(f"{name}.kwargs", __config__=ConfigDict(extra="forbid"), **fields)
        if name in REGISTRY:
            raise ValueError(f"check {name!r} registered twice")
        REGISTRY[name] = Check(name, model, fn, family)
        return fn

    return register


def compare(actual: int, relation: str, threshold: int) -> bool:
    """IFEval's relations: 'less than' is actual < threshold, 'at least' is actual ≥ threshold."""
    return actual < threshold if relation == "less than" else actual >= threshold
