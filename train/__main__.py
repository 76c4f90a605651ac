"""`python -m train ...`: the trainer's commands without the rest of datatools."""
from __future__ import annotations

import sys

import typer

from schemas.errors import UserError
from train.cli import register, register_bench

app = typer.Typer(add_completion=False, no_args_is_help=True, help="LoRA SFT / DPO / KTO trainer")
register(app)
bench = typer.Typer(add_completion=False, no_args_is_help=True, help="benchmarks")
register_bench(bench)
app.add_typer(bench, name="bench")


def main() -> None:
    try:
        app(standalone_mode=False)
    except UserError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors are printed by click itself
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
