"""The one registry of training methods: name → `Method` (see base.py for what each declares).

Adding a method is one module in this folder plus one entry below (and its name in
`schemas.train.Method`, which a test keeps equal to this registry).
"""
from __future__ import annotations

from datatools.train.methods import dpo, grpo, kto, sft
from datatools.train.methods.base import Method

METHODS: dict[str, Method] = {m.name: m for m in (sft.METHOD, dpo.METHOD, kto.METHOD,
                                                  grpo.METHOD)}


def get_method(name: str) -> Method:
    from datatools.schemas.errors import ConfigError, Problem

    if name not in METHODS:
        raise ConfigError(Problem("train.method", f"unknown method {name!r}; use one of "
                                                  f"{', '.join(METHODS)}"))
    return METHODS[name]
