"""`python -m datatools.train ...`: the trainer's commands without the rest of datatools."""
from __future__ import annotations

import typer

from datatools.cli_errors import UserErrorsGroup
from datatools.train.cli import register, register_bench

# Plain help and plain errors, as the `datatools` app: no rich import at start-up.
app = typer.Typer(cls=UserErrorsGroup, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="LoRA SFT / DPO / KTO trainer")
register(app)
bench = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                    help="benchmarks")
register_bench(bench)
app.add_typer(bench, name="bench")

if __name__ == "__main__":
    app()
