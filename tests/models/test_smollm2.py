"""The offline SmolLM2 folder: a normal HF model that reloads without gguf and answers."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_converted_folder_is_a_plain_chat_model(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "gguf" not in json.dumps(config).lower()
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    assert 130e6 < model.num_parameters() < 140e6
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=10, do_sample=False)
    answer = tok.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer


def test_second_call_uses_the_cache(smollm2_dir, monkeypatch):
    from datatools.models import smollm2

    monkeypatch.setattr(smollm2, "convert", lambda *a: pytest.fail("converted again"))
    folder, seconds = smollm2.ensure_smollm2()
    assert folder == smollm2_dir and seconds == 0.0
