"""Fixtures for the generate tests: a frame of prompt-only records and a loaded tiny backend."""
from __future__ import annotations

import pytest

from datatools.frame import frame_from_rows, rows_from_record

PROMPTS = ["hello", "what is two plus two", "write one short sentence", "list three numbers",
           "explain python code", "is the cat good", "say yes or no", "sum of one and two"]


def prompt_frame(n: int = 4, with_completion: bool = False):
    rows = []
    for i, text in enumerate((PROMPTS * 4)[:n]):
        comps = [{"content": f"dataset answer {i}", "score": 1.0}] if with_completion else []
        rows += rows_from_record(f"r{i}", f"test:{i}",
                                 [{"role": "system", "content": "be brief"},
                                  {"role": "user", "content": f"{text} {i}"}], comps, {"i": i})
    return frame_from_rows(rows)


@pytest.fixture(name="prompt_frame")
def prompt_frame_fixture():
    """The `prompt_frame(n, with_completion)` builder."""
    return prompt_frame


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir):
    from datatools.generate.backends import make_backend

    return make_backend({"backend": "transformers", "model": str(tiny_model_dir),
                         "device": "cpu", "batch_size": 4})
