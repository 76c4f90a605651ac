"""Merge a LoRA adapter into its base model, and push an adapter or merged model to the Hub."""
from __future__ import annotations

import json
import os
from pathlib import Path

from datatools.loading import loading
from datatools.schemas.errors import Problem, UserError


def merge_adapter(adapter: str | Path, out: str | Path, base_model: str | None = None,
                  dtype: str = "auto") -> Path:
    """Load base + adapter, fold the LoRA deltas into the weights (W + α/r·BA), save to `out`.

    `base_model` defaults to the adapter's `base_model_name_or_path` (adapter_config.json).
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(adapter)
    cfg = adapter / "adapter_config.json"
    if not cfg.is_file():
        raise UserError(Problem(str(adapter), "not a LoRA adapter folder (no adapter_config.json)"))
    base_model = base_model or json.loads(cfg.read_text()).get("base_model_name_or_path")
    if not base_model:
        raise UserError(Problem(str(cfg), "no base_model_name_or_path: pass the base model"))
    torch_dtype = {"auto": "auto", "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    with loading("base model", base_model, "merge.base_model"):
        model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch_dtype)
    with loading("adapter", str(adapter), "merge.adapter"):
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else base_model
    with loading("tokenizer", str(tok_src), "merge.tokenizer"):  # before anything is written
        tokenizer = AutoTokenizer.from_pretrained(tok_src)
    out = Path(out)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def push(folder: str | Path, repo_id: str, private: bool = True) -> str:
    """Upload `folder` to the Hub model repo `repo_id`. Token from HF_TOKEN (never printed)."""
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise UserError(Problem("push_to", "set HF_TOKEN in the environment to push to the Hub"))
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             commit_message="Upload from datatools train")
    return getattr(info, "commit_url", str(info))
