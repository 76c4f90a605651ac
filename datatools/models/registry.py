"""A typed registry of loaded models: each is loaded once, shared by its users, and released as
soon as the last expected user is done — a GPU cannot hold vLLM at 0.85 of its memory and then a
reward model too, so the first must go before the second loads.

    registry.expect(key, users=2)           # planned before work starts
    model = registry.acquire(key, loader)   # loads on first use, shared afterwards
    registry.done(key)                      # one user finished; the last one releases it

A planned user that never acquires (its step's output came from the cache) still calls `done`,
so the count stays right and a model is never loaded for nobody. Every hold (the loader ran;
a generation backend's weights load on its first request while held) and every release is
recorded in `events`, in order (the build report lists them under `models`).
"""
from __future__ import annotations

import gc
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

# "generator": a text-generation backend (vLLM, transformers, an OpenAI client); LLM judges use
# the same ones, so a generate step and a judge naming one model share it.
ModelKind = Literal["policy", "generator", "judge", "reward_model", "toxicity", "tokenizer"]


@dataclass(frozen=True)
class ModelKey:
    kind: ModelKind
    name: str  # model id or folder, plus anything that changes what is loaded (adapter, dtype)
    label: str = field(default="", compare=False)  # what reports show (default: name)


@dataclass
class ModelRegistry:
    _users: dict[ModelKey, int] = field(default_factory=dict)
    _loaded: dict[ModelKey, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def expect(self, key: ModelKey, users: int = 1) -> None:
        self._users[key] = self._users.get(key, 0) + users

    def acquire(self, key: ModelKey, loader: Callable[[], Any]) -> Any:
        if key not in self._loaded:
            self._loaded[key] = loader()
            self._users.setdefault(key, 1)  # an unplanned user: released by its own done()
            self._log("hold", key)
        return self._loaded[key]

    def done(self, key: ModelKey) -> None:
        left = self._users.get(key, 0) - 1
        if left > 0:
            self._users[key] = left
            return
        self._users.pop(key, None)
        self.release(key)

    def release(self, key: ModelKey) -> None:
        """Drop the model now: its own close/shutdown first (vLLM engines, servers), then the
        reference, a collection, and the CUDA cache when torch is loaded."""
        model = self._loaded.pop(key, None)
        if model is None:
            return
        for name in ("close", "shutdown"):
            closer = getattr(model, name, None)
            if callable(closer):
                closer()
                break
        del model
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
        self._log("release", key)

    def release_all(self) -> None:
        for key in list(self._loaded):
            self.release(key)
        self._users.clear()

    def _log(self, event: str, key: ModelKey) -> None:
        self.events.append({"event": event, "kind": key.kind, "model": key.label or key.name})

    @property
    def loaded(self) -> set[ModelKey]:
        return set(self._loaded)
