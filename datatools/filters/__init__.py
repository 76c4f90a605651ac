"""Steps of the 'filters' family; add each new step class to FILTER_STEPS."""
from __future__ import annotations

from datatools.filters.decontaminate import Decontaminate
from datatools.filters.length import Length
from datatools.filters.low_info import LowInfo
from datatools.filters.near_dedup import NearDedup
from datatools.filters.toxicity import Toxicity
from datatools.step import Step

FILTER_STEPS: dict[str, type[Step]] = {
    cls.name: cls for cls in (NearDedup, Toxicity, Length, LowInfo, Decontaminate)
}
