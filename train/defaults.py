"""LoRA presets by model size and LoRA-appropriate hyperparameter defaults per method.

Why not TRL's defaults: TRL's DPO/KTO learning rate (1e-6) is tuned for full fine-tuning. A LoRA
adapter starts as a zero delta (B = 0) in a low-rank subspace and needs a 10–100× larger step to
move in the same number of updates, so LoRA recipes in the wild use 1e-4–2e-4 for SFT and
~5e-6–5e-5 for DPO/KTO. We take the upper end for preference methods because the update is
additionally scaled by β inside the loss (β·Δlogπ) and LoRA's α/r scaling is fixed.

| method | learning rate | β   | epochs | batch | max_length | notes                                   |
|--------|---------------|-----|--------|-------|------------|-----------------------------------------|
| sft    | 2e-4          | –   | 1      | 8     | 1024       | assistant-only loss                     |
| dpo    | 5e-5          | 0.1 | 1      | 8     | 1024       | sigmoid loss (Rafailov et al. 2023, Eq. 7) |
| kto    | 5e-5          | 0.1 | 1      | 8     | 1024       | λ_D/λ_U from OUT/unary/metadata.json    |

Warm-up 10 %, cosine decay, AdamW, weight decay 0. Multi-stage β: 0.05 → 0.1 → 0.2.
"""
from __future__ import annotations

from typing import Any

COMMON_DEFAULTS: dict[str, Any] = {"grad_accum": 1, "warmup_ratio": 0.1}

# Seed advice (PEERS.md): 0.5–1B r32 α64 on q,v; ~7B r64 α128 all-linear; 70B r128 α256 q,k,v.
# "tiny" (test models, < 0.1B parameters) gets the smallest preset's targets with a small rank.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "v_proj"]},
    "small": {"r": 32, "alpha": 64, "target_modules": ["q_proj", "v_proj"]},
    "medium": {"r": 64, "alpha": 128, "target_modules": "all-linear"},
    "large": {"r": 128, "alpha": 256, "target_modules": ["q_proj", "k_proj", "v_proj"]},
}


def preset_for_size(n_params: int) -> str:
    """Preset name for a model with `n_params` parameters (embeddings included)."""
    if n_params < 100_000_000:
        return "tiny"
    if n_params < 3_000_000_000:
        return "small"
    if n_params < 30_000_000_000:
        return "medium"
    return "large"


def stage_value(stage, name: str) -> Any:
    """The stage's own value, else its method's default (train/methods/<name>.py), else the
    common default."""
    from train.methods import get_method

    value = getattr(stage, name, None)
    if value is not None:
        return value
    return get_method(stage.method).defaults.get(name, COMMON_DEFAULTS.get(name))


def lora_config(settings, n_params: int):
    """A peft.LoraConfig from LoraSettings (or None) and the model's size."""
    from peft import LoraConfig

    name = getattr(settings, "preset", "auto")
    preset = dict(PRESETS[preset_for_size(n_params) if name == "auto" else name])
    for key in ("r", "alpha", "target_modules"):
        if settings is not None and getattr(settings, key) is not None:
            preset[key] = getattr(settings, key)
    dropout = settings.dropout if settings is not None and settings.dropout is not None else 0.05
    return LoraConfig(
        r=preset["r"], lora_alpha=preset["alpha"], lora_dropout=dropout,
        target_modules=preset["target_modules"], bias="none", task_type="CAUSAL_LM",
    )
