"""Typed user errors. The CLI prints each problem as `location: message` and exits 1."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    location: str  # e.g. "steps[1].exact_dedup.fields" or "data/prefs.jsonl:12"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class UserError(Exception):
    """A mistake the user can fix. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(UserError):
    """The recipe or the command line is wrong; raised before any work starts."""


class SourceError(UserError):
    """A source is unusable as a whole (missing file, unknown format, empty)."""


class QualityGateError(UserError):
    """A build finished a step whose output breaks a quality gate set in the recipe."""
