"""Backend configuration as recipes write it (`BackendSpec`) and the factory that builds one.

Generation policies and LLM judges share this spec, so any backend can serve either role.
Backend modules import their heavy libraries (torch, transformers, vllm, openai) lazily, so
validating a recipe never loads them.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datatools.generate.backend import Backend

BackendName = Literal["vllm", "openai", "transformers"]
VLLM_DEFAULT_ENGINE_ARGS: dict[str, Any] = {
    # Judge prompts and several samples of one prompt share long prefixes: reuse their KV cache.
    "enable_prefix_caching": True,
}


class BackendSpec(BaseModel):
    """How to reach a model. `extra="forbid"`: a typo in a recipe is an error, not a default."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    backend: BackendName = Field(
        "transformers", description="vllm (in-process, GPU default), openai (any OpenAI-"
        "compatible server), transformers (in-process generate, the CPU fallback)"
    )
    model: str = Field(..., min_length=1, description="Hub id or local folder; for `openai` "
                       "the model name the server expects")
    revision: str | None = Field(None, description="Hub branch, tag or commit of the model")
    adapter: str | None = Field(None, description="LoRA adapter folder (vllm, transformers)")
    # --- openai ---
    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000/v1 (openai)")
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the environment variable "
                             "holding the API key; the key itself never goes in a recipe")
    concurrency: int = Field(8, ge=1, le=1024, description="requests in flight at once (openai)")
    timeout: float = Field(120.0, gt=0, description="seconds per request (openai)")
    max_retries: int = Field(4, ge=0, le=20, description="retries per request, exponential "
                             "backoff (openai)")
    retry_backoff: float = Field(1.0, ge=0, description="first backoff in seconds; doubles "
                                 "each retry (openai)")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="extra JSON fields "
                                       "sent with every request (openai; server-specific)")
    # --- vllm ---
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="vllm.LLM arguments, e.g. tensor_parallel_size, "
        "gpu_memory_utilization, max_model_len; enable_prefix_caching defaults to true"
    )
    # --- transformers ---
    device: str | None = Field(None, description="transformers: cpu, cuda, cuda:1 ... "
                               "(default: cuda when available)")
    dtype: str = Field("auto", description="transformers: auto, float32, bfloat16, float16")
    batch_size: int = Field(8, ge=1, description="transformers: conversations per generate()")

    @model_validator(mode="after")
    def _check_backend_fields(self) -> "BackendSpec":
        problems = []
        if self.backend == "openai":
            if not self.base_url:
                problems.append("base_url is required for backend openai")
            if self.adapter:
                problems.append("adapter is not supported by backend openai (serve it instead)")
        if self.engine_args and self.backend != "vllm":
            problems.append("engine_args only apply to backend vllm")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def vllm_engine_args(self) -> dict[str, Any]:
        return {**VLLM_DEFAULT_ENGINE_ARGS, **self.engine_args}

    def problems(self, ctx, location: str) -> list:
        """What can be known before loading: local model and adapter folders exist. A model
        given to the pipeline under this name, or served by an OpenAI-compatible server (which
        names its own models), is not a local path."""
        from datatools.step import missing_file

        problems = []
        if self.backend != "openai" and self.model not in ctx.backends:
            problems += missing_file(ctx, self.model, f"{location}.model", "model", hub_ok=True)
        return problems + missing_file(ctx, self.adapter, f"{location}.adapter", "adapter")


def make_backend(spec: BackendSpec | dict[str, Any]) -> Backend:
    """Build the backend a spec names. Loading models happens lazily, on first use."""
    if isinstance(spec, dict):
        spec = BackendSpec.model_validate(spec)
    if spec.backend == "transformers":
        from datatools.generate.backends.hf import TransformersBackend

        return TransformersBackend(spec)
    if spec.backend == "openai":
        from datatools.generate.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(spec)
    if spec.backend == "vllm":
        from datatools.generate.backends.vllm_backend import VLLMBackend

        return VLLMBackend(spec)
    raise ValueError(f"unknown backend {spec.backend!r}")  # unreachable: Literal above


def resolved_spec(spec: BackendSpec, ctx) -> BackendSpec:
    """Local folders in a spec are relative to the recipe, like every other path in it."""
    for field in ("model", "adapter"):
        value = getattr(spec, field)
        if value and spec.backend != "openai" and ctx.resolve(value).exists():
            spec = spec.model_copy(update={field: str(ctx.resolve(value))})
    return spec


def backend_key(spec: BackendSpec, ctx):
    """The model-registry key of a spec's backend: generate policies and LLM judges that name
    the same model (and backend settings) share one loaded engine."""
    from datatools.models.registry import ModelKey

    spec = resolved_spec(spec, ctx)
    return ModelKey("generator", spec.model_dump_json(), label=f"{spec.backend}:{spec.model}")


def shared_backend(spec: BackendSpec, ctx) -> Backend:
    """The run's one backend for a spec, held in the model registry (ctx.models) under
    `backend_key`, which releases it after the last step that uses it."""
    spec = resolved_spec(spec, ctx)
    return ctx.models.acquire(backend_key(spec, ctx), lambda: make_backend(spec))


__all__ = ["BackendSpec", "BackendName", "backend_key", "make_backend", "shared_backend"]
