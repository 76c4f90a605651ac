"""Load a base model (and optionally an adapter to continue from) for training or evaluation.

Reference model (DPO/KTO): with a fresh adapter (`peft_config` given) TRL uses the base model
with the adapter disabled. When `model` is already a PeftModel (continuing from an SFT adapter)
TRL copies that adapter into a frozen "ref" adapter, so the reference is the SFT policy, not the
base — the mistake LLaMA-Factory #8974 users hit. `load_model` builds exactly that case.
"""
from __future__ import annotations

from train.methods.common import use_cuda


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
