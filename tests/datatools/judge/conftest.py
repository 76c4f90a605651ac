"""Helpers for the judge tests: a deterministic in-test Backend and small frames."""
from __future__ import annotations

import pytest

from datatools.frame import frame_from_rows, rows_from_record


class ScriptedBackend:
    """Implements the Backend protocol: `answer(conversation, sampling, call_no)` → text.

    Records every request so tests can assert how often (and at what temperature) it was asked.
    """

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[tuple[list, object]] = []

    def identity(self) -> dict:
        return {"backend": "scripted", "model": "test"}

    def chat(self, conversations, sampling):
        out = []
        for conv in conversations:
            self.calls.append((conv, sampling))
            out.append([self.answer(conv, sampling, len(self.calls)) for _ in range(sampling.n)])
        return out


@pytest.fixture
def scripted():
    return ScriptedBackend


def make_frame(records: list[tuple[str, str, list[str], dict]]):
    """[(id, question, [completions], meta)] → canonical frame, one row per completion."""
    rows = []
    for rid, question, completions, meta in records:
        rows += rows_from_record(rid, "test", [{"role": "user", "content": question}],
                                 [{"content": c} for c in completions], meta)
    return frame_from_rows(rows)


@pytest.fixture
def frame_of():
    return make_frame
