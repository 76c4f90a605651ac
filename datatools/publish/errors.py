"""User errors of `datatools push` / `datatools report`: printed as one clear line, exit 1."""
from __future__ import annotations

from pathlib import Path

from datatools.schemas.errors import Problem, UserError


class NotABuildError(UserError):
    def __init__(self, folder: Path, why: str = "no report.json"):
        super().__init__(Problem(str(folder), f"not a datatools build folder ({why}); run "
                                 "`datatools build RECIPE` first"))


class PushError(UserError):
    """The Hub refused or could not be reached; the message never contains the token."""


class NoTokenError(PushError):
    def __init__(self):
        super().__init__("no Hugging Face token found: set HF_TOKEN or run `hf auth login` "
                         "(a token with write access to the target namespace)")
