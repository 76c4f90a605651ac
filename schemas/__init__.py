"""Pydantic models only, no I/O: records, the recipe, and the typed user errors."""
from schemas.errors import ConfigError, Problem, SourceError, UserError
from schemas.records import (
    CandidateRecord,
    Completion,
    Message,
    PairwiseRecord,
    SFTRecord,
    UnaryRecord,
)

__all__ = [
    "CandidateRecord", "Completion", "ConfigError", "Message", "PairwiseRecord", "Problem",
    "SFTRecord", "SourceError", "UnaryRecord", "UserError",
]
