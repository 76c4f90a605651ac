"""One place where user errors become `error: location: message` lines and exit code 1.

A click group that catches `UserError` from any command under it (build, train, push, bench ...),
so no command needs its own handler and none can leak a traceback for a user's mistake.
"""
from __future__ import annotations

import typer
from typer.core import TyperGroup

from datatools.schemas.errors import UserError


class UserErrorsGroup(TyperGroup):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as err:
            for problem in err.problems:
                typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(1) from None
