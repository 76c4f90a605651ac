"""Pieces every method's trainer factory shares: TrainingArguments, the LoRA config, column
selection, and saving only the trained adapter."""
from __future__ import annotations

from pathlib import Path

from datatools.train.defaults import lora_config, stage_value


def use_cuda(cpu: bool) -> bool:
    import torch

    return torch.cuda.is_available() and not cpu


def checkpointing_arg() -> str:
    """transformers 5 renamed `gradient_checkpointing` to `activation_checkpointing` (the old
    name warns and goes in v6); older versions only know the old one."""
    from transformers import TrainingArguments

    new = "activation_checkpointing"
    return new if new in TrainingArguments.__dataclass_fields__ else "gradient_checkpointing"


def common_args(stage, out_dir: Path, cpu: bool, seed: int, model=None) -> dict:
    """TrainingArguments shared by every method. On the CPU: fp32, no pinned memory, no
    activation checkpointing (measured 3–4× faster there than the GPU-oriented defaults).
    The stage's `trainer_args` (checked in train/checks.py) are applied last."""
    cuda = use_cuda(cpu)
    n_params = model.num_parameters() if model is not None else None
    args = dict(
        output_dir=str(out_dir), seed=seed, report_to=stage.report_to or "none",
        save_strategy="steps" if stage.save_steps else "no", save_steps=stage.save_steps or 500,
        save_total_limit=2,
        learning_rate=stage_value(stage, "learning_rate", n_params),
        num_train_epochs=stage_value(stage, "epochs"), max_steps=stage.max_steps or -1,
        per_device_train_batch_size=stage_value(stage, "batch_size"),
        per_device_eval_batch_size=stage_value(stage, "batch_size"),
        gradient_accumulation_steps=stage_value(stage, "grad_accum"),
        warmup_steps=stage_value(stage, "warmup_ratio"), lr_scheduler_type="cosine",
        max_length=stage_value(stage, "max_length"), logging_steps=10,
        bf16=cuda, use_cpu=not cuda, dataloader_pin_memory=cuda, **{checkpointing_arg(): cuda},
    )
    return {**args, **(stage.trainer_args or {})}


def last_checkpoint(out_dir: Path) -> str | None:
    """The newest complete checkpoint-<step>/ folder under `out_dir`, if any. A run killed while
    saving leaves a newest folder without its trainer state or weights; it is passed over."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return None
    complete = [p for p in out_dir.glob("checkpoint-*")
                if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
                and any(p.glob("*.safetensors")) and any(p.glob("optimizer.*"))]
    return str(max(complete, key=lambda p: int(p.name.split("-")[-1]))) if complete else None


def peft_for(model, stage):
    """A LoraConfig for a plain model; None when `model` already carries an adapter (TRL then
    trains it and keeps a frozen "ref" copy as the reference)."""
    if hasattr(model, "peft_config"):
        return None
    return lora_config(stage.lora, model.num_parameters())


def keep_columns(ds, columns):
    """Only the columns TRL reads: `id`/`source`/`meta` would be tokenized or trip collators."""
    return ds.select_columns([c for c in columns if c in ds.column_names])


def save_adapter(trainer, out_dir: Path) -> Path:
    """Save only the trained "default" adapter (not TRL's frozen "ref" copy) and the tokenizer."""
    out_dir = Path(out_dir)
    trainer.model.save_pretrained(out_dir, selected_adapters=["default"])
    trainer.processing_class.save_pretrained(out_dir)
    return out_dir
