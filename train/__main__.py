"""`python -m train ...`: the trainer's commands without the rest of datatools."""
from __future__ import annotations

import typer

from datatools.cli_errors import UserErrorsGroup
from train.cli import register, register_bench

app = typer.Typer(cls=UserErrorsGroup, add_completion=False, no_args_is_help=True,
                  help="LoRA SFT / DPO / KTO trainer")
register(app)
bench = typer.Typer(add_completion=False, no_args_is_help=True, help="benchmarks")
register_bench(bench)
app.add_typer(bench, name="bench")

if __name__ == "__main__":
    app()
