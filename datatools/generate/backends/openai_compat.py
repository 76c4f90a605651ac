"""`openai` backend: any OpenAI-compatible chat server (vllm serve, SGLang, hosted APIs).

Bounded concurrency (a thread pool of `concurrency` workers), our own retries with
exponential backoff on transient errors (connection, timeout, 408/409/429/5xx), a timeout per
request. The API key is read from the environment variable the recipe names and is kept only
inside the client: never printed, never in identity(), meta or cache keys.
"""
from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from datatools.generate.backend import BackendUnreachable, Conversation, Sampling
from datatools.generate.backends import BackendSpec
from datatools.redact import redact_url
from datatools.schemas.errors import Problem

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 60.0
CONNECT_TIMEOUT_S = 10.0  # a dead host fails in seconds even when requests may take minutes


def unreachable_after(concurrency: int) -> int:
    """Connection failures in a row (no success between) after which the server counts as
    down: every worker has failed about three times, i.e. a few seconds of backoff."""
    return max(10, 3 * concurrency)


class OpenAIBackend:
    def __init__(self, spec: BackendSpec):
        self.spec = spec
        self._client = None
        self._client_lock = threading.Lock()
        self.requests_sent = 0  # HTTP requests, retries included (tests and reports read it)
        self.generated_tokens = 0  # from the servers' `usage` (0 where a server omits it)
        self._count_lock = threading.Lock()
        self._failures_in_a_row = 0  # connection errors since the last answer
        self._down: str | None = None  # why the server counts as unreachable

    def identity(self) -> dict[str, Any]:
        # The server owns the weights and template; base_url distinguishes two servers that
        # serve different things under one model name. `revision` lets a recipe pin a version.
        # Credentials in the URL (user:key@host, ?api_key=) never reach a key, row or report.
        return {"backend": "openai", "model": self.spec.model, "revision": self.spec.revision,
                "base_url": redact_url(self.spec.base_url.rstrip("/")) if self.spec.base_url
                else None}

    def __repr__(self) -> str:  # never shows the key
        url = redact_url(self.spec.base_url) if self.spec.base_url else None
        return f"OpenAIBackend(model={self.spec.model!r}, base_url={url!r})"

    @property
    def client(self):
        with self._client_lock:
            if self._client is None:
                from openai import OpenAI

                # Local servers accept any key; hosted APIs fail loudly with 401 on a missing one.
                key = os.environ.get(self.spec.api_key_env) or "EMPTY"
                from openai import Timeout

                timeout = Timeout(self.spec.timeout,
                                  connect=min(CONNECT_TIMEOUT_S, self.spec.timeout))
                self._client = OpenAI(base_url=self.spec.base_url, api_key=key,
                                      timeout=timeout, max_retries=0)
            return self._client

    def chat(self, conversations: list[Conversation], sampling: Sampling) -> list[list[str]]:
        if not conversations:
            return []
        workers = min(self.spec.concurrency, len(conversations))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda c: self._one(c, sampling), conversations))

    def chat_each(self, conversations: list[Conversation], sampling: Sampling
                  ) -> list[list[str] | Exception]:
        """Like `chat`, but one outcome per conversation: a failed request (after its
        retries) is its exception, and its answered neighbours keep their answers."""
        def one(conversation):
            try:
                return self._one(conversation, sampling)
            except BackendUnreachable:
                raise
            except Exception as err:  # noqa: BLE001 - reported per request
                return err

        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=min(self.spec.concurrency, len(conversations))) as pool:
            return list(pool.map(one, conversations))

    def _one(self, conversation: Conversation, sampling: Sampling) -> list[str]:
        texts = self._request(conversation, sampling, sampling.n, sampling.seed)
        extra = 0
        # Some servers ignore `n` (transformers serve) or cap it: ask for the rest one at a
        # time. Each top-up gets its own seed, or a seeded server would repeat sample 0.
        while len(texts) < sampling.n:
            extra += 1
            seed = None if sampling.seed is None else sampling.seed + extra
            got = self._request(conversation, sampling, sampling.n - len(texts), seed)
            if not got:
                raise RuntimeError("server returned no choices")
            texts.extend(got)
        return texts[:sampling.n]

    def _request(self, conversation: Conversation, sampling: Sampling, n: int,
                 seed: int | None) -> list[str]:
        kwargs: dict[str, Any] = dict(
            model=self.spec.model, messages=conversation, n=n, temperature=sampling.temperature,
            top_p=sampling.top_p, max_tokens=sampling.max_tokens,
        )
        if seed is not None:
            kwargs["seed"] = seed
        if sampling.json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": sampling.json_schema, "strict": True},
            }
        if self.spec.extra_body:
            kwargs["extra_body"] = self.spec.extra_body
        attempt = 0
        while True:
            with self._count_lock:
                if self._down:
                    raise BackendUnreachable(Problem(self._where(), self._down))
                self.requests_sent += 1
            try:
                resp = self.client.chat.completions.create(**kwargs)
                usage = getattr(resp, "usage", None)
                with self._count_lock:
                    self.generated_tokens += getattr(usage, "completion_tokens", 0) or 0
                    self._failures_in_a_row = 0
                choices = sorted(resp.choices, key=lambda c: c.index)
                return [c.message.content or "" for c in choices]
            except Exception as e:  # noqa: BLE001 - classified just below
                self._count_connection_error(e)
                if attempt >= self.spec.max_retries or not _retryable(e):
                    raise
                delay = min(MAX_BACKOFF_S, self.spec.retry_backoff * 2**attempt)
                time.sleep(delay * (0.5 + random.random() / 2))  # jitter: no thundering herd
                attempt += 1


    def _where(self) -> str:
        return f"{self.spec.model} at {redact_url(self.spec.base_url or '')}"

    def _count_connection_error(self, e: Exception) -> None:
        import openai

        if not isinstance(e, openai.APIConnectionError):
            return
        with self._count_lock:
            self._failures_in_a_row += 1
            limit = unreachable_after(self.spec.concurrency)
            if self._failures_in_a_row >= limit and not self._down:
                cause = str(getattr(e, "__cause__", None) or e).splitlines()[0][:200]
                self._down = (f"server unreachable: {limit} connection attempts in a row "
                              f"failed ({type(e).__name__}: {cause}). Is it running? "
                              "Finished requests are cached; a rerun sends only the rest")
        if self._down:
            raise BackendUnreachable(Problem(self._where(), self._down)) from None


def _retryable(e: Exception) -> bool:
    import openai

    if isinstance(e, (openai.APIConnectionError, openai.APITimeoutError)):
        return True
    if isinstance(e, openai.APIStatusError):
        return e.status_code in RETRYABLE_STATUS
    return False
