"""One function per method, each a thin, readable layer over TRL 1.16's trainer.

Reference model (DPO/KTO): with a fresh adapter (`peft_config` given) TRL uses the base model
with the adapter disabled. When `model` is already a PeftModel (continuing from an SFT adapter)
TRL copies that adapter into a frozen "ref" adapter, so the reference is the SFT policy, not the
base — the mistake LLaMA-Factory #8974 users hit. `load_model` builds exactly that case.
Configs are built fresh each time (a config rebuilt from `to_dict()` loses the pad token).
"""
from __future__ import annotations

from pathlib import Path

from train.defaults import lora_config, stage_value


def use_cuda(cpu: bool) -> bool:
    import torch

    return torch.cuda.is_available() and not cpu


def load_model(model_id: str, adapter: str | None = None, cpu: bool = False):
    """(model, tokenizer). With `adapter`, a trainable PeftModel continuing from it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_id)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if use_cuda(cpu) else torch.float32  # bf16 on CUDA: fp16 NaNs in DPO
    model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype)
    if use_cuda(cpu):
        model = model.to("cuda")
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
    return model, tokenizer


def common_args(stage, out_dir: Path, cpu: bool, seed: int) -> dict:
    """TrainingArguments shared by every method; CPU flags per STACK.md (3–4× faster there)."""
    cuda = use_cuda(cpu)
    return dict(
        output_dir=str(out_dir), seed=seed, report_to="none", save_strategy="no",
        learning_rate=stage_value(stage, "learning_rate"),
        num_train_epochs=stage_value(stage, "epochs"), max_steps=stage.max_steps or -1,
        per_device_train_batch_size=stage_value(stage, "batch_size"),
        per_device_eval_batch_size=stage_value(stage, "batch_size"),
        gradient_accumulation_steps=stage_value(stage, "grad_accum"),
        warmup_steps=stage_value(stage, "warmup_ratio"), lr_scheduler_type="cosine",
        max_length=stage_value(stage, "max_length"), logging_steps=10,
        bf16=cuda, use_cpu=not cuda, dataloader_pin_memory=cuda, **{checkpointing_arg(): cuda},
    )


def checkpointing_arg() -> str:
    """transformers 5 renamed `gradient_checkpointing` to `activation_checkpointing` (the old
    name warns and goes in v6); older versions only know the old one."""
    from transformers import TrainingArguments

    new = "activation_checkpointing"
    return new if new in TrainingArguments.__dataclass_fields__ else "gradient_checkpointing"


def _peft(model, stage):
    """A LoraConfig for a plain model; None when `model` already carries an adapter."""
    if hasattr(model, "peft_config"):
        return None
    return lora_config(stage.lora, model.num_parameters())


def sft_trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0):
    """SFT with the loss on assistant tokens only (chat template `{% generation %}` markers)."""
    from trl import SFTConfig, SFTTrainer

    conversational = "messages" in train_ds.column_names
    args = SFTConfig(**common_args(stage, out_dir, cpu, seed), assistant_only_loss=conversational)
    return SFTTrainer(model=model, args=args, train_dataset=_keep(train_ds, "sft"),
                      processing_class=tokenizer,
                      peft_config=_peft(model, stage))


def dpo_trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0,
                precompute_ref=False):
    """DPO (Rafailov et al. 2023, Eq. 7) and variants: ipo (Azar et al. 2023), robust
    (Chowdhury et al. 2024; label_smoothing = flip rate), sigmoid_norm (TÜLU 3, length-normalised).
    `sft_weight` > 0 adds TRL's "sft" loss (NLL on chosen, as in RPO, Pang et al. 2024) so the
    chosen log-probs do not fall while the margin grows."""
    from trl import DPOConfig, DPOTrainer

    loss = stage_value(stage, "loss_type")
    extra = {"loss_type": [loss]}
    if stage_value(stage, "sft_weight"):
        extra = {"loss_type": [loss, "sft"], "loss_weights": [1.0, stage_value(stage, "sft_weight")]}
    if loss == "robust":
        extra["label_smoothing"] = stage_value(stage, "label_smoothing")
    args = DPOConfig(**common_args(stage, out_dir, cpu, seed), beta=stage_value(stage, "beta"),
                     precompute_ref_log_probs=precompute_ref, **extra)
    return DPOTrainer(model=model, args=args, train_dataset=_keep(train_ds, "dpo"),
                      processing_class=tokenizer,
                      peft_config=_peft(model, stage))


def kto_trainer(model, tokenizer, train_ds, stage, out_dir, cpu=False, seed=0,
                weights=(1.0, 1.0)):
    """KTO (Ethayarajh et al. 2024). λ_D, λ_U come from the builder's metadata (Eq. 8) unless the
    stage overrides them. Needs per-device batch ≥ 2 (checked in pre-flight)."""
    from trl import KTOConfig, KTOTrainer

    args = KTOConfig(**common_args(stage, out_dir, cpu, seed), beta=stage_value(stage, "beta"),
                     desirable_weight=stage.desirable_weight or weights[0],
                     undesirable_weight=stage.undesirable_weight or weights[1])
    return KTOTrainer(model=model, args=args, train_dataset=_keep(train_ds, "kto"),
                      processing_class=tokenizer,
                      peft_config=_peft(model, stage))


TRAINERS = {"sft": sft_trainer, "dpo": dpo_trainer, "kto": kto_trainer}


def _keep(ds, method):
    """Only the columns TRL reads: `id`/`source`/`meta` would be tokenized or trip collators."""
    cols = {"sft": ("messages", "prompt", "completion"), "dpo": ("prompt", "chosen", "rejected"),
            "kto": ("prompt", "completion", "label")}[method]
    return ds.select_columns([c for c in cols if c in ds.column_names])


def save_adapter(trainer, out_dir: Path) -> Path:
    """Save only the trained "default" adapter (not TRL's frozen "ref" copy) and the tokenizer."""
    model = trainer.model
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, selected_adapters=["default"])
    trainer.processing_class.save_pretrained(out_dir)
    return out_dir
