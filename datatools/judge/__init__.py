"""Steps of the 'judge' family; add each new step class to JUDGE_STEPS."""
from __future__ import annotations

from datatools.step import Step

JUDGE_STEPS: dict[str, type[Step]] = {}
