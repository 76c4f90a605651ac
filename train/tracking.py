"""Experiment trackers around one training stage (`report_to:`). TensorBoard writes under the
stage's output folder by itself; wandb writes under WANDB_DIR (default: the current folder), so
the stage points it at its own folder unless the user chose one, and finishes the run when the
stage ends (transformers leaves it open), so each stage is one complete wandb run.
`WANDB_MODE=offline` works without a network: `wandb sync` uploads the folder later."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


@contextlib.contextmanager
def tracking(report_to: str | None, stage_dir: Path):
    uses_wandb = "wandb" in (report_to or "")
    chose = os.environ.get("WANDB_DIR")
    if uses_wandb and chose is None:
        Path(stage_dir).mkdir(parents=True, exist_ok=True)
        os.environ["WANDB_DIR"] = str(stage_dir)
    try:
        yield
    finally:
        wandb = sys.modules.get("wandb")
        if uses_wandb and wandb is not None and wandb.run is not None:
            wandb.finish()
        if uses_wandb and chose is None:
            os.environ.pop("WANDB_DIR", None)
