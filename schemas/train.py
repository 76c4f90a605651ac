"""The recipe's `train:` section. `extra="forbid"` so a typo is an error, not a silent default.

Either one `method` (sft | dpo | kto | grpo) or `stages: [...]`. Hyperparameters given at the top of
the section are defaults for every stage; a stage's own values win. Unset values fall back to the
LoRA-appropriate defaults in `train.defaults` (documented there), never to TRL's full fine-tuning
defaults (1e-6 barely moves a LoRA adapter).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["sft", "dpo", "kto", "grpo"]
# DPO losses TRL 1.16 offers in DPOTrainer (stable API): sigmoid = DPO (Rafailov et al. 2023,
# Eq. 7); ipo = IPO (Azar et al. 2023, length-averaged in TRL); robust = noise-tolerant DPO
# (Chowdhury et al. 2024, label_smoothing = flip probability); sigmoid_norm = TÜLU 3's
# length-normalised DPO (Lambert et al. 2024). SimPO and ORPO live in `trl.experimental` in 1.16
# (CPOTrainer / ORPOTrainer), so they are left out on purpose.
DPOLoss = Literal["sigmoid", "ipo", "robust", "sigmoid_norm"]
PresetName = Literal["auto", "tiny", "small", "medium", "large"]
# β per stage position when a multi-stage recipe sets none (seed advice: 0.05 → 0.1 → 0.2).
BETA_SCHEDULE = (0.05, 0.1, 0.2)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Strict):
    """LoRA shape. `preset: auto` picks by model size (see train.lora.PRESETS); fields override."""

    preset: PresetName = "auto"
    r: int | None = Field(None, ge=1, description="rank")
    alpha: int | None = Field(None, ge=1, description="lora_alpha (scale = alpha / r)")
    dropout: float | None = Field(None, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] | None = None


class GRPOSettings(_Strict):
    """GRPO with the verifiers as rewards (train/methods/grpo.py)."""

    num_generations: int = Field(8, ge=2, description="completions per prompt (G); must divide "
                                 "batch_size × grad_accum")
    max_completion_length: int = Field(256, ge=1, description="tokens per sampled completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the rollouts")
    scoring: Literal["fraction", "all"] = Field(
        "fraction", description="constraint reward: share of constraints met, or 1 only when "
        "all are (TÜLU 3's binary reward)")
    kl_beta: float = Field(0.0, ge=0, description="KL coefficient to the reference (0: none)")
    loss_type: Literal["dapo", "grpo", "dr_grpo", "bnpo"] = Field(
        "dapo", description="TRL's loss aggregation (dapo: no length bias)")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="divide advantages by the group's std, the batch's, or not")
    steps_per_generation: int | None = Field(
        None, ge=1, description="optimizer steps per generation round (default grad_accum)")
    generation: Literal["transformers", "vllm_colocate", "vllm_server"] = Field(
        "transformers", description="who samples: transformers generate (CPU/GPU), vLLM in "
        "the trainer's process, or a `trl vllm-serve` server (GPU only)")
    vllm_server_base_url: str | None = Field(None, description="vllm_server: http://host:port")
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description="vllm_colocate")
    vllm_tensor_parallel_size: int = Field(1, ge=1, description="vllm_colocate")


class StageFields(_Strict):
    """Hyperparameters shared by the section (as defaults) and each stage (as overrides)."""

    data: str | None = Field(
        None, description="built dataset folder, any file the builder's readers accept, or a Hub "
        "id; default: the recipe's OUT/<kind> (sft | pairwise | unary)"
    )
    learning_rate: float | None = Field(None, gt=0, description="default per method: train.defaults")
    epochs: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimiser steps")
    batch_size: int | None = Field(None, ge=1, description="per-device batch size")
    grad_accum: int | None = Field(None, ge=1, description="gradient accumulation steps")
    max_length: int | None = Field(None, ge=8, description="tokens of prompt + completion")
    warmup_ratio: float | None = Field(None, ge=0, lt=1)
    beta: float | None = Field(None, gt=0, description="DPO/KTO β (IPO: τ)")
    loss_type: DPOLoss | None = Field(None, description="DPO loss variant (default sigmoid)")
    label_smoothing: float | None = Field(
        None, ge=0, lt=0.5, description="robust DPO: assumed label-flip probability (0.1 typical)"
    )
    sft_weight: float | None = Field(
        None, ge=0, description="DPO: weight of an added NLL term on chosen (RPO), against "
        "falling chosen rewards; 0 = off"
    )
    desirable_weight: float | None = Field(None, gt=0, description="KTO λ_D (default: metadata)")
    undesirable_weight: float | None = Field(None, gt=0, description="KTO λ_U (default: metadata)")
    lora: LoraSettings | None = None
    grpo: GRPOSettings | None = Field(None, description="GRPO: rollouts, reward, generation")
    report_to: Literal["none", "tensorboard", "wandb"] | None = Field(
        None, description="training logs: tensorboard (OUTDIR/runs), wandb (WANDB_MODE=offline "
        "works without a network), or none (default)")
    save_steps: int | None = Field(None, ge=1, description="write a checkpoint every N optimiser "
                                   "steps (the last 2 kept) so `--resume` can continue; default none")
    trainer_args: dict[str, Any] | None = Field(
        None, description="any other field of the method's TRL config (DPOConfig, KTOConfig, "
        "SFTConfig), checked against that class before any work starts")


class Stage(StageFields):
    method: Method


class TrainSection(StageFields):
    """`train:` — one `method` or a list of `stages`, each starting from the previous adapter."""

    model: str = Field(..., min_length=1, description="base model: local folder or Hub id")
    method: Method | None = None
    stages: list[Stage] | None = Field(None, min_length=1)
    output_dir: str = Field("train", description="relative paths resolve from the recipe")
    adapter: str | None = Field(
        None, description="start from this LoRA adapter (e.g. an SFT adapter); the reference "
        "model is then a frozen copy of it, not the base"
    )
    eval_fraction: float = Field(0.1, ge=0, lt=1, description="held-out share for eval.json")
    seed: int | None = Field(None, description="default: the recipe's seed")
    preflight: Literal["quarantine", "stop"] = Field(
        "quarantine", description="bad rows: drop them into preflight_rejects.parquet, or stop"
    )
    flag_threshold: float = Field(
        0.0, description="DPO: training pairs whose implicit-reward margin under the final adapter "
        "is below this are flagged as likely mislabelled (train_flags.parquet)"
    )
    samples: int = Field(3, ge=0, description="held-out prompts answered before and after "
                         "training (greedy) in eval.json and on the console; 0 = none")
    cpu: bool = Field(False, description="force CPU (fp32); default: CUDA with bf16 when present")
    quantization: Literal["none", "4bit"] = Field(
        "none", description="4bit = QLoRA: the base model in bitsandbytes NF4 (CUDA only)")
    merge: bool = Field(False, description="also write the LoRA merged into the base (merged/)")
    push_to: str | None = Field(None, description="Hub repo id for the final adapter (HF_TOKEN)")
    push_merged: bool = Field(False, description="push the merged model instead of the adapter")

    @model_validator(mode="after")
    def _method_or_stages(self) -> "TrainSection":
        if (self.method is None) == (self.stages is None):
            raise ValueError("give exactly one of `method` or `stages`")
        for i, stage in enumerate(self.stages or []):
            if i > 0 and stage.lora is not None:
                raise ValueError(f"stages[{i}].lora: only the first stage creates the adapter; "
                                 "later stages continue training it")
        return self

    def resolved_stages(self) -> list[Stage]:
        """Each stage with the section's values filled in and the β schedule applied."""
        shared = self.model_dump(
            include=set(StageFields.model_fields), exclude_none=True, exclude_unset=True
        )
        raw = self.stages or [Stage(method=self.method)]  # type: ignore[arg-type]
        out = []
        for i, stage in enumerate(raw):
            own = stage.model_dump(exclude_none=True, exclude_unset=True)
            merged = {**shared, **own}
            for nested in ("lora", "trainer_args", "grpo"):
                if nested in shared and nested in own:
                    merged[nested] = {**shared[nested], **own[nested]}
            if "beta" not in merged and self.stages is not None:
                merged["beta"] = BETA_SCHEDULE[min(i, len(BETA_SCHEDULE) - 1)]
            out.append(Stage(**merged))
        return out
