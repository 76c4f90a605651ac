"""LoRA SFT / DPO / KTO over TRL, straight from `datatools build` outputs.

Modules: data (load + split), defaults (LoRA presets, per-method hyperparameters), preflight,
methods (one trainer builder per method), run (stages), evaluate (held-out accuracy, margins,
mislabel flags), merge (merge + Hub push), bench (GPU benchmark), cli (typer commands).
Nothing heavy is imported here.
"""
