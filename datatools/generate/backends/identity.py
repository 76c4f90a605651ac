"""What identifies a model's outputs, computed without loading the model.

Cache keys fold this in, so a retrained model or adapter at the same path, a moved Hub branch
or a changed chat template never reuses stale generations (open-instruct's cache once ignored
the tokenizer and silently reused outputs). Computing it from files alone means a fully cached
rerun never has to start an engine.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xxhash

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
TEMPLATE_FILES = ("tokenizer_config.json", "chat_template.jinja", "chat_template.json")


def _hash_text(text: str) -> str:
    return xxhash.xxh3_64_hexdigest(text.encode())


def _weights_fingerprint(folder: Path) -> str:
    """Names, sizes and mtimes of weight files: cheap (no reading GBs) and changes whenever
    the weights are rewritten. A copy of a folder gets new mtimes: a cache miss, never stale."""
    parts = []
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in WEIGHT_SUFFIXES:
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return _hash_text("|".join(parts))


def _template_from_folder(folder: Path) -> str | None:
    texts = []
    for name in TEMPLATE_FILES:
        f = folder / name
        if not f.is_file():
            continue
        if name == "tokenizer_config.json":
            tpl = json.loads(f.read_text()).get("chat_template")
            if tpl is not None:
                texts.append(json.dumps(tpl, sort_keys=True))
        else:
            texts.append(f.read_text())
    return "\n".join(texts) if texts else None


def _hub_snapshot(model: str, revision: str | None) -> tuple[Path | None, str | None]:
    """The local snapshot folder of a Hub model and its commit sha (downloads config.json only
    when online; uses the local cache under HF_HUB_OFFLINE)."""
    try:
        from huggingface_hub import hf_hub_download

        cfg = Path(hf_hub_download(model, "config.json", revision=revision))
    except Exception:  # not downloadable / not cached: identity falls back to the name
        return None, None
    folder = cfg.parent
    sha = folder.name if folder.parent.name == "snapshots" else None
    for name in TEMPLATE_FILES:  # make sure the template files sit beside config.json
        try:
            hf_hub_download(model, name, revision=revision)
        except Exception:
            pass
    return folder, sha


def model_identity(model: str, revision: str | None = None) -> dict[str, Any]:
    """{model, revision, path?, weights?, chat_template} for a local folder or a Hub id."""
    local = Path(model).expanduser()
    ident: dict[str, Any] = {"model": model, "revision": revision}
    if local.is_dir():
        ident["path"] = str(local.resolve())
        ident["weights"] = _weights_fingerprint(local)
        folder = local
    else:
        folder, sha = _hub_snapshot(model, revision)
        # A branch name moves; the commit it resolved to is what produced the outputs.
        ident["revision"] = sha or revision
    tpl = _template_from_folder(folder) if folder is not None else None
    ident["chat_template"] = _hash_text(tpl) if tpl is not None else None
    return ident


def adapter_identity(adapter: str | None) -> dict[str, Any] | None:
    if not adapter:
        return None
    folder = Path(adapter).expanduser()
    if not folder.is_dir():
        return {"adapter": adapter}
    return {"adapter": str(folder.resolve()), "weights": _weights_fingerprint(folder)}


def local_identity(backend: str, spec) -> dict[str, Any]:
    """Identity of a backend that loads the weights itself (vllm, transformers): the resolved
    model, its chat template and the adapter, as `spec` (a PolicySpec) names them."""
    return {"backend": backend, **model_identity(spec.model, spec.revision),
            "adapter": adapter_identity(spec.adapter)}
