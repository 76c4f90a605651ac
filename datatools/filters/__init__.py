"""Steps of the 'filters' family; add each new step class to FILTER_STEPS."""
from __future__ import annotations

from datatools.step import Step

FILTER_STEPS: dict[str, type[Step]] = {}
