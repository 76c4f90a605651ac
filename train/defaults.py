"""LoRA presets by model size and LoRA-appropriate hyperparameter defaults per method.

Why not TRL's defaults: TRL's DPO/KTO learning rate (1e-6) is tuned for full fine-tuning. A LoRA
adapter starts as a zero delta (B = 0) in a low-rank subspace and needs a 10–100× larger step to
move in the same number of updates. The learning rate is picked by model size (PREFERENCE_LR,
SFT_LR below): narrower models take larger Adam steps (μP).

Evidence (tests/train/test_learns.py's planted preference on the 64-wide tiny test model: 256
pairs, 25% of prompts held out, 2 epochs, batch 8, LoRA r8 α16 on q,v; policy preference =
share of held-out pairs with log π(chosen) > log π(rejected), base 0.25):

| DPO learning rate | policy preference | implicit-reward accuracy |
|-------------------|-------------------|--------------------------|
| 5e-5 (old default) | 0.25 → 0.52      | 1.00                     |
| 1e-4              | 0.25 → 0.81       | 1.00                     |
| 5e-4 (tiny preset) | 0.25 → 1.00      | 1.00                     |

The implicit reward β·log π/π_ref reads 1.00 at every rate: it only needs the log-ratio to move
the right way, not the policy to prefer the chosen answer — why eval.json's headline is the
policy preference. KTO at the tiny preset's 5e-4: 0.29 → 1.00. The same data with different
bodies per side (a random base, 0.55) reached 0.61 at 5e-5 and 1.00 at 5e-4.

| method | learning rate (tiny/small/medium/large) | β | epochs | batch | max_length |
|--------|------------------------------------------|---|--------|-------|------------|
| sft    | 2e-4 / 2e-4 / 1e-4 / 1e-4               | – | 1      | 8     | 1024       |
| dpo    | 5e-4 / 1e-4 / 5e-5 / 2e-5               | 0.1 (sigmoid_norm: 5) | 1 | 8 | 1024 |
| kto    | 5e-4 / 1e-4 / 5e-5 / 2e-5               | 0.1 | 1    | 8     | 1024       |

Warm-up 10 %, cosine decay, AdamW, weight decay 0. Multi-stage β: 0.05 → 0.1 → 0.2.
"""
from __future__ import annotations

from typing import Any

COMMON_DEFAULTS: dict[str, Any] = {"grad_accum": 1, "warmup_ratio": 0.1}
# Learning rates by LoRA preset (model size). Under Adam the best step shrinks as models widen
# (μP, Yang et al. 2022: hidden-layer lr ∝ 1/width), so one number cannot serve a 64-wide test
# model and a 4096-wide 7B. "tiny" is measured (see the table above); the others are the usual
# LoRA values in the wild (ms-swift 1e-4, alignment recipes 5e-6–5e-5), not measured here.
PREFERENCE_LR: dict[str, float] = {"tiny": 5e-4, "small": 1e-4, "medium": 5e-5, "large": 2e-5}
SFT_LR: dict[str, float] = {"tiny": 2e-4, "small": 2e-4, "medium": 1e-4, "large": 1e-4}
# Length-normalised DPO divides log-ratios by the completion length, so β must be ~50× larger for
# the same pressure: TÜLU 3 (Lambert et al. 2024, Table 15) and open-instruct use β = 5 with it.
BETA_BY_LOSS: dict[str, float] = {"sigmoid_norm": 5.0}

# Common LoRA sizing practice: 0.5–1B r32 α64 on q,v; ~7B r64 α128 all-linear; 70B r128 α256 q,k,v.
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


def stage_value(stage, name: str, n_params: int | None = None) -> Any:
    """The stage's own value, else its method's default (train/methods/<name>.py), else the
    common default. A default given per LoRA preset (the learning rate) is picked by the model's
    size (`n_params`; "small" when unknown). DPO's β defaults to BETA_BY_LOSS for its loss."""
    from datatools.train.methods import get_method

    value = getattr(stage, name, None)
    if value is not None:
        return value
    defaults = get_method(stage.method).defaults
    if name == "beta" and stage.method == "dpo":
        loss = stage_value(stage, "loss_type")
        if loss in BETA_BY_LOSS:
            return BETA_BY_LOSS[loss]
    value = defaults.get(name, COMMON_DEFAULTS.get(name))
    if isinstance(value, dict):
        return value[preset_for_size(n_params) if n_params else "small"]
    return value


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
