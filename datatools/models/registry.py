"""A typed registry of loaded models: each is loaded once, shared by its users, and released as
soon as the last expected user is done — a GPU cannot hold vLLM at 0.85 of its memory and then a
reward model too, so the first must go before the second loads.

    registry.expect(key, users=2)           # planned before work starts
    model = registry.acquire(key, loader)   # loads on first use, shared afterwards
    registry.done(key)                      # one user finished; the last one releases it
"""
from __future__ import annotations

import gc
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

ModelKind = Literal["policy", "generator", "judge", "reward_model", "toxicity", "tokenizer"]


@dataclass(frozen=True)
class ModelKey:
    kind: ModelKind
    name: str  # model id or folder, plus anything that changes what is loaded (adapter, dtype)


@dataclass
class _Entry:
    model: Any
    users_left: int


@dataclass
class ModelRegistry:
    _planned: dict[ModelKey, int] = field(default_factory=dict)
    _loaded: dict[ModelKey, _Entry] = field(default_factory=dict)

    def expect(self, key: ModelKey, users: int = 1) -> None:
        self._planned[key] = self._planned.get(key, 0) + users

    def acquire(self, key: ModelKey, loader: Callable[[], Any]) -> Any:
        if key not in self._loaded:
            self._loaded[key] = _Entry(loader(), max(self._planned.pop(key, 1), 1))
        return self._loaded[key].model

    def done(self, key: ModelKey) -> None:
        entry = self._loaded.get(key)
        if entry is None:
            return
        entry.users_left -= 1
        if entry.users_left <= 0:
            self.release(key)

    def release(self, key: ModelKey) -> None:
        """Drop the model now: its own close/shutdown first (vLLM engines, servers), then the
        reference, a collection, and the CUDA cache when torch is loaded."""
        entry = self._loaded.pop(key, None)
        if entry is None:
            return
        for name in ("close", "shutdown"):
            closer = getattr(entry.model, name, None)
            if callable(closer):
                closer()
                break
        del entry
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def release_all(self) -> None:
        for key in list(self._loaded):
            self.release(key)

    @property
    def loaded(self) -> set[ModelKey]:
        return set(self._loaded)
