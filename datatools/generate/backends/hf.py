"""`transformers` backend: in-process `generate`, batched, with the model's chat template.

The CPU fallback and what the tests use with a tiny model. The model loads on the first
`chat` call, not at construction: a fully cached rerun never loads it.
"""
from __future__ import annotations

from typing import Any

import xxhash

from datatools.generate.backend import Conversation, Sampling
from datatools.generate.backends import BackendSpec
from datatools.generate.backends.identity import local_identity
from datatools.loading import loading


class TransformersBackend:
    def __init__(self, spec: BackendSpec):
        self.spec = spec
        self._model = None
        self._tok = None
        self._identity: dict[str, Any] | None = None
        self.generated_tokens = 0  # running total, read for tokens/s

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = local_identity("transformers", self.spec)
        return self._identity

    # ---- loading ---------------------------------------------------------------------------
    def _load(self):
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        spec = self.spec
        device = spec.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype: Any = spec.dtype
        if dtype == "auto":
            # float32 on CPU: half precision there is slow and often unsupported.
            dtype = torch.float32 if device == "cpu" else "auto"
        else:
            dtype = getattr(torch, dtype)
        with loading("model", spec.model):
            tok = AutoTokenizer.from_pretrained(spec.model, revision=spec.revision)
            model = AutoModelForCausalLM.from_pretrained(spec.model, revision=spec.revision,
                                                         dtype=dtype)
        # Left padding: generated tokens must follow each prompt directly in a batch.
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if spec.adapter:
            from peft import PeftModel

            with loading("adapter", spec.adapter):
                model = PeftModel.from_pretrained(model, spec.adapter)
        model.to(device).eval()
        self._tok, self._model, self._device = tok, model, device

    def close(self) -> None:
        """Drop the weights (the model registry calls this after the last step that uses this
        backend); a later `chat` loads them again."""
        self._model = self._tok = None

    @property
    def tokenizer(self):
        self._load()
        return self._tok

    # ---- generation ------------------------------------------------------------------------
    def chat(self, conversations: list[Conversation], sampling: Sampling) -> list[list[str]]:
        # sampling.json_schema is not enforced here (no constrained decoding in plain
        # `generate`); judges parse free text leniently instead.
        self._load()
        out: list[list[str]] = []
        bs = self.spec.batch_size
        for i in range(0, len(conversations), bs):
            out.extend(self._generate(conversations[i:i + bs], sampling))
        return out

    def _generate(self, convs: list[Conversation], sampling: Sampling) -> list[list[str]]:
        import torch

        tok, model = self._tok, self._model
        texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                 for c in convs]
        # The template already carries any BOS it wants; adding special tokens would double it.
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self._device) for k, v in enc.items()}
        do_sample = sampling.temperature > 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_tokens, num_return_sequences=sampling.n,
            do_sample=do_sample, pad_token_id=tok.pad_token_id,
        )
        if do_sample:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        generator_state = None
        if sampling.seed is not None:
            # One RNG stream per batch, seeded from the seed and the batch's prompts: the same
            # request gives the same samples on every run, without touching the global stream.
            generator_state = torch.random.get_rng_state()
            torch.manual_seed(_batch_seed(sampling.seed, texts))
        try:
            with torch.inference_mode():
                seqs = model.generate(**enc, **kwargs)
        finally:
            if generator_state is not None:
                torch.random.set_rng_state(generator_state)
        new = seqs[:, enc["input_ids"].shape[1]:]
        self.generated_tokens += int((new != tok.pad_token_id).sum())
        decoded = tok.batch_decode(new, skip_special_tokens=True)
        n = sampling.n
        return [decoded[j * n:(j + 1) * n] for j in range(len(convs))]


def _batch_seed(seed: int, texts: list[str]) -> int:
    h = xxhash.xxh3_64(str(seed).encode())
    for t in texts:
        h.update(t.encode() + b"\x1f")
    return h.intdigest() % (2**63)
