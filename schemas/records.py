"""Record models with TRL's column names.

Every record carries `id` (stable: from the source, else derived from content), `source`
(file or Hub id plus row number) and `meta` (free-form, kept through the pipeline).
"""
from __future__ import annotations

from typing import Any, Literal

import json

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("meta", mode="before")
    @classmethod
    def _meta_from_json(cls, value: Any) -> Any:
        """Built datasets store meta as a JSON string (its keys differ per record)."""
        return json.loads(value) if isinstance(value, str) else value


class SFTRecord(_Record):
    """Either conversational `messages`, or standard `prompt` + `completion`."""

    messages: list[Message] | None = None
    prompt: list[Message] | None = None
    completion: list[Message] | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> "SFTRecord":
        if (self.messages is None) == (self.prompt is None or self.completion is None):
            raise ValueError("give either `messages`, or both `prompt` and `completion`")
        return self


class PairwiseRecord(_Record):
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    score_chosen: float | None = None
    score_rejected: float | None = None


class UnaryRecord(_Record):
    prompt: list[Message]
    completion: list[Message]
    label: bool


class Completion(BaseModel):
    """One candidate answer to a prompt, with its scores and who produced it."""

    model_config = ConfigDict(extra="forbid")
    content: str
    score: float | None = None
    label: bool | None = None
    model: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)  # per-aspect / per-judge scores


class CandidateRecord(_Record):
    """A prompt with n completions: what readers produce and builders consume."""

    prompt: list[Message]
    completions: list[Completion] = Field(default_factory=list)
