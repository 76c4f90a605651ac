"""A plain dict from recipe names to step classes.

Each group module keeps its own dict (so step families stay independent); importing them is
cheap because heavy libraries are imported inside the steps, not at module level.
"""
from __future__ import annotations

from datatools.step import Step


def _collect() -> dict[str, type[Step]]:
    from datatools.core_steps import CORE_STEPS
    from datatools.filters import FILTER_STEPS
    from datatools.generate import GENERATE_STEPS
    from datatools.judge import JUDGE_STEPS
    from datatools.labels import LABEL_STEPS

    steps: dict[str, type[Step]] = {}
    for group in (CORE_STEPS, FILTER_STEPS, GENERATE_STEPS, JUDGE_STEPS, LABEL_STEPS):
        for name, cls in group.items():
            assert name not in steps, f"step name {name!r} registered twice"
            steps[name] = cls
    return steps


STEPS: dict[str, type[Step]] = _collect()
