"""A model, tokenizer or checkpoint that cannot be loaded is the user's to fix: one line that
names it and says why (offline and not cached, not a model folder, a typo in a Hub id), not a
hundred-line traceback from inside transformers."""
from __future__ import annotations

from contextlib import contextmanager

from datatools.schemas.errors import ConfigError, Problem


def first_line(err: BaseException, limit: int = 300) -> str:
    text = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    text = text or type(err).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


@contextmanager
def loading(what: str, name: str, location: str = ""):
    """`with loading("reward model", path): from_pretrained(...)` — any failure inside
    becomes a ConfigError `location: cannot load <what> '<name>': <reason>`."""
    try:
        yield
    except (KeyboardInterrupt, MemoryError, ConfigError):
        raise
    except Exception as err:  # noqa: BLE001 - every loading failure reads the same to a user
        raise ConfigError(Problem(location, f"cannot load {what} {name!r}: "
                                  f"{first_line(err)}")) from err
