"""The small interface every generation backend (vllm, openai, transformers) implements.

Judges that call an LLM use the same interface, so any backend can serve as a judge.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from datatools.schemas.errors import UserError

Conversation = list[dict[str, str]]  # [{"role": ..., "content": ...}, ...]


@dataclass(frozen=True)
class Sampling:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    # JSON schema for structured output where the backend supports it (vLLM, OpenAI servers).
    json_schema: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backend(Protocol):
    def identity(self) -> dict[str, Any]:
        """Everything that changes outputs for the same request: backend, model, revision or
        path, chat template hash, adapter. Folded into every cache key."""

    def chat(self, conversations: list[Conversation], sampling: Sampling) -> list[list[str]]:
        """n completions (strings) for each conversation, in order."""

    # Optional: `chat_each(conversations, sampling) -> list[list[str] | Exception]`, one
    # outcome per conversation, so one failed request does not cost its answered neighbours
    # (the request cache commits those and retries only the failures).


class BackendUnreachable(UserError):
    """A backend that cannot be reached at all: the step stops instead of trying every
    request in turn (each with its full retries)."""
