"""What a training method declares, so the runner, the CLI and pre-flight need no `if method ==`.

A method module (train/methods/<name>.py) builds one `Method` and the registry in
`train/methods/__init__.py` lists it. Heavy libraries (torch, trl, peft) are imported inside the
callables only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Method:
    name: str
    # the builder's output folder it trains on by default: OUT/<kind>
    kind: str
    # the columns the TRL trainer reads (everything else, e.g. id/source/meta, is dropped first)
    columns: tuple[str, ...]
    # accepted column sets, any one of which must be present (checked when data is loaded)
    required: tuple[tuple[str, ...], ...]
    # hyperparameter defaults for LoRA training; the evidence is in train/defaults.py
    defaults: dict[str, Any]
    # (model, tokenizer, train_ds, stage, out_dir, *, cpu, seed, **prepared) -> a TRL Trainer
    trainer: Callable[..., Any]
    # () -> the TRL config class, so `trainer_args:` can be checked against its fields
    config_class: Callable[[], type]
    # (model, tokenizer, held_out, train_ds, stage, out_dir, flag_threshold=) -> the eval report
    evaluate: Callable[..., dict | None] | None = None
    # (train_ds, data, stage, tokenizer) -> (train_ds, extra trainer kwargs, facts for the report)
    prepare: Callable[..., tuple[Any, dict, dict]] | None = None
    # row -> [(side, prompt, completion)]: what pre-flight tokenizes and checks for each row
    pieces: Callable[[dict], list] = field(default=lambda row: [])
    # pre-flight rules that apply to the whole run, not a row: (stage_values) -> [Problem]
    run_checks: Callable[[dict], list] = field(default=lambda values: [])
    # checks of the stage's own settings, before data or model load: (stage, where) -> [Problem]
    stage_checks: Callable[[Any, str], list] = field(default=lambda stage, where: [])

    def prompt_of(self, row: dict):
        """The row's prompt (what the held-out split hashes and samples answer): the first
        piece's, or the `prompt` column of a method that trains on prompts alone (grpo)."""
        pieces = self.pieces(row)
        return pieces[0][1] if pieces else row["prompt"]

    def has_columns(self, columns) -> bool:
        return any(set(alt) <= set(columns) for alt in self.required)
