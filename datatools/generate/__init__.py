"""Steps of the 'generate' family; add each new step class to GENERATE_STEPS."""
from __future__ import annotations

from datatools.generate.step import Generate
from datatools.step import Step

GENERATE_STEPS: dict[str, type[Step]] = {"generate": Generate}
