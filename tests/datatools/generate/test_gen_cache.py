"""The request cache: hits and misses, what the key covers, failures never cached."""
from __future__ import annotations

import sqlite3

import pytest

from datatools.cache import RequestCache, RequestFailed, cached_chat, cached_chat_results, request_key
from datatools.generate.backend import Sampling

CONVS = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]


class Counting:
    """Wraps a real backend and records every conversation actually sent to it."""

    def __init__(self, inner, fail_on: str | None = None):
        self.inner, self.fail_on, self.sent, self.calls = inner, fail_on, [], 0

    def identity(self):
        return self.inner.identity()

    def chat(self, convs, sampling):
        self.calls += 1
        if self.fail_on and any(c[-1]["content"] == self.fail_on for c in convs):
            raise RuntimeError(f"cannot answer {self.fail_on}")
        self.sent += [c[-1]["content"] for c in convs]
        return self.inner.chat(convs, sampling)


def test_hits_and_misses(tiny_backend, tmp_path):
    s = Sampling(n=2, max_tokens=6, seed=1)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        b = Counting(tiny_backend)
        first = cached_chat(b, cache, CONVS[:3], s, batch_size=2)
        assert b.sent == ["q0", "q1", "q2"] and b.calls == 2 and len(cache) == 3
        again = cached_chat(b, cache, CONVS, s, batch_size=2)
        assert b.sent[3:] == ["q3", "q4"], "only the uncached requests are sent"
        assert again[:3] == first
        # a duplicate conversation in one call is sent once
        b2 = Counting(tiny_backend)
        cached_chat(b2, cache, [CONVS[0], [{"role": "user", "content": "new"}]] * 2, s)
        assert b2.sent == ["new"]
    # persisted: a new handle sees everything
    with RequestCache(tmp_path / "c.sqlite") as cache:
        b3 = Counting(tiny_backend)
        assert cached_chat(b3, cache, CONVS, s) == again and b3.calls == 0
    db = sqlite3.connect(tmp_path / "c.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_key_covers_sampling_model_template_and_extra(tiny_backend):
    ident = tiny_backend.identity()
    s = Sampling(n=2, max_tokens=6, seed=1)
    k = request_key(ident, s, CONVS[0])
    assert k == request_key(dict(reversed(list(ident.items()))), s, CONVS[0]), "order-free"
    variants = [
        request_key(ident, Sampling(n=2, max_tokens=6, seed=2), CONVS[0]),
        request_key(ident, Sampling(n=3, max_tokens=6, seed=1), CONVS[0]),
        request_key(ident, Sampling(n=2, max_tokens=6, seed=1, temperature=0.5), CONVS[0]),
        request_key(ident, Sampling(n=2, max_tokens=6, seed=1, json_schema={"type": "object"}),
                    CONVS[0]),
        request_key({**ident, "model": "other"}, s, CONVS[0]),
        request_key({**ident, "chat_template": "changed"}, s, CONVS[0]),
        request_key({**ident, "adapter": {"adapter": "/a"}}, s, CONVS[0]),
        request_key(ident, s, CONVS[1]),
        request_key(ident, s, CONVS[0], extra="judge template v2"),
    ]
    assert k not in variants and len(set(variants)) == len(variants)


def test_failures_are_isolated_and_not_cached(tiny_backend, tmp_path):
    s = Sampling(n=1, max_tokens=4, seed=0)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        b = Counting(tiny_backend, fail_on="q2")
        res = cached_chat_results(b, cache, CONVS, s, batch_size=5)
        assert isinstance(res[2], RequestFailed) and "cannot answer q2" in res[2].error
        assert all(isinstance(r, list) for i, r in enumerate(res) if i != 2)
        assert len(cache) == 4, "the failed batch was retried one by one; q2 is not cached"
        with pytest.raises(RuntimeError, match="1 of 5 requests failed"):
            cached_chat(b, cache, CONVS, s)
        ok = Counting(tiny_backend)
        cached_chat(ok, cache, CONVS, s)
        assert ok.sent == ["q2"]


def test_put_is_idempotent(tmp_path):
    with RequestCache(tmp_path / "c.sqlite") as cache:
        cache.put("k", ["a"])
        cache.put_many({"k": ["b"], "j": ["c"]})
        assert cache.get("k") == ["a"] and cache.get_many(["j", "x"]) == {"j": ["c"]}
        assert len(cache) == 2 and "j" in cache
