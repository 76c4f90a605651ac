"""Steps of the 'labels' family: several labels per answer, and judges against references."""
from __future__ import annotations

from datatools.labels.aggregate import AggregateLabels
from datatools.labels.judge_agreement import JudgeAgreement
from datatools.step import Step

LABEL_STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (AggregateLabels, JudgeAgreement)}
