"""The transformers backend with a real (tiny, random) model built offline."""
from __future__ import annotations

import shutil

import pytest

from datatools.generate.backend import Sampling
from datatools.generate.backends import BackendSpec, make_backend

CONV = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
CONV2 = [{"role": "user", "content": "what is two plus two"}]


def test_n_samples_and_seed_determinism(tiny_backend):
    s = Sampling(n=3, temperature=1.0, max_tokens=12, seed=7)
    a = tiny_backend.chat([CONV, CONV2], s)
    b = tiny_backend.chat([CONV, CONV2], s)
    assert [len(x) for x in a] == [3, 3]
    assert all(isinstance(t, str) for x in a for t in x)
    assert a == b, "same seed, same requests → same samples"
    assert len(set(a[0])) > 1, "n samples of a random model at T=1 should differ"
    c = tiny_backend.chat([CONV, CONV2], Sampling(n=3, temperature=1.0, max_tokens=12, seed=8))
    assert c != a


def test_chat_template_is_applied(tiny_backend):
    """Greedy output equals generate() on exactly the chat-templated prompt."""
    import torch

    out = tiny_backend.chat([CONV], Sampling(n=1, temperature=0.0, max_tokens=10))[0][0]
    tok, model = tiny_backend.tokenizer, tiny_backend._model
    text = tok.apply_chat_template(CONV, add_generation_prompt=True, tokenize=False)
    assert text.startswith("<|im_start|>system\nbe brief<|im_end|>")
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        seq = model.generate(**ids, max_new_tokens=10, do_sample=False,
                             pad_token_id=tok.pad_token_id)
    assert out == tok.decode(seq[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_batching_keeps_order(tiny_backend):
    s = Sampling(n=1, temperature=0.0, max_tokens=6)
    convs = [[{"role": "user", "content": f"number {i}"}] for i in range(6)]
    together = tiny_backend.chat(convs, s)  # batch_size 4 → two generate() calls, padded
    alone = [tiny_backend.chat([c], s)[0] for c in convs[:2]]
    assert together[:2] == alone


def test_identity_tracks_template_and_weights(tiny_model_dir, tmp_path):
    import json

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    base = make_backend({"backend": "transformers", "model": str(copy)}).identity()
    assert base["backend"] == "transformers" and base["chat_template"]
    tpl_file = copy / "chat_template.jinja"
    if tpl_file.exists():
        tpl_file.write_text(tpl_file.read_text() + " ")
    else:
        cfg = json.loads((copy / "tokenizer_config.json").read_text())
        cfg["chat_template"] += " "
        (copy / "tokenizer_config.json").write_text(json.dumps(cfg))
    changed = make_backend({"backend": "transformers", "model": str(copy)}).identity()
    assert changed["chat_template"] != base["chat_template"]
    assert changed["weights"] == base["weights"]


def test_spec_is_strict():
    with pytest.raises(ValueError):
        BackendSpec.model_validate({"backend": "transformers", "model": "m", "modle": "x"})
    with pytest.raises(ValueError, match="base_url"):
        BackendSpec(backend="openai", model="m")
    with pytest.raises(ValueError, match="engine_args"):
        BackendSpec(backend="transformers", model="m", engine_args={"max_model_len": 8})
    assert BackendSpec(backend="vllm", model="m").vllm_engine_args()["enable_prefix_caching"]
