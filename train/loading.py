"""Load a base model (and optionally an adapter to continue from) for training or evaluation.

Reference model (DPO/KTO): with a fresh adapter (`peft_config` given) TRL uses the base model
with the adapter disabled. When `model` is already a PeftModel (continuing from an SFT adapter)
TRL copies that adapter into a frozen "ref" adapter, so the reference is the SFT policy, not the
base — the mistake LLaMA-Factory #8974 users hit. `load_model` builds exactly that case.
"""
from __future__ import annotations

from datatools.loading import loading
from datatools.train.methods.common import use_cuda


def load_model(model_id: str, adapter: str | None = None, cpu: bool = False,
               quantization: str = "none"):
    """(model, tokenizer). With `adapter`, a trainable PeftModel continuing from it (its frozen
    copy is then the reference, also under 4-bit). `quantization="4bit"`: QLoRA (Dettmers et al.
    2023) — the base in NF4 with double quantization, bf16 compute; CUDA only (train/checks.py
    refuses it on the CPU before any work)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with loading("tokenizer", model_id, "train.model"):
        tokenizer = AutoTokenizer.from_pretrained(model_id)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if use_cuda(cpu) else torch.float32  # bf16 on CUDA: fp16 NaNs in DPO
    if quantization == "4bit":
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                 bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)
        with loading("model", model_id, "train.model"):
            model = AutoModelForCausalLM.from_pretrained(
                model_id, quantization_config=bnb, dtype=torch.bfloat16, device_map={"": 0})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        with loading("model", model_id, "train.model"):
            model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype)
        if use_cuda(cpu):
            model = model.to("cuda")
    if adapter:
        from peft import PeftModel

        with loading("adapter", adapter, "train.adapter"):
            model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
    return model, tokenizer
