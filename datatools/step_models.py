"""Which step uses which model: the pipeline's plan for the model registry (`ctx.models`).

Before any work, every step names the models it will load (`Step.model_keys`); each step counts
as one expected user of each. After a step (computed or taken from the cache) the pipeline calls
`done` for its keys, so a model is released right after the last step that names it: vLLM
generation followed by a reward model never holds both. Steps only acquire; nothing per step
releases.
"""
from __future__ import annotations

from datatools.models.registry import ModelKey


def plan_models(loaded, ctx) -> list[list[ModelKey]]:
    """Each step's distinct model keys, in recipe order, registered as expected users."""
    from datatools.registry import STEPS

    plan = []
    for spec in loaded.steps:
        keys = list(dict.fromkeys(STEPS[spec.name](spec.params, ctx).model_keys()))
        for key in keys:
            ctx.models.expect(key)
        plan.append(keys)
    return plan


def step_finished(ctx, keys: list[ModelKey], location: str, first_event: int) -> None:
    """One step is done with its models; its loads and releases are tagged with its location
    (the build report's `models` list)."""
    for key in keys:
        ctx.models.done(key)
    for event in ctx.models.events[first_event:]:
        event.setdefault("step", location)
