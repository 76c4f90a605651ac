"""Secrets never reach what a build publishes (rows' meta, report.json, the dataset card).

Recipes name the environment variable holding a key, never the key; but a key also hides in a
URL (`http://user:key@host/v1`, `?api_key=...`), in a free-form field (`extra_body`), or under
any key name. So values are redacted by what they look like, not only by where they sit:
userinfo is stripped from URLs, secret-named query parameters and mapping keys are masked, and
strings shaped like well-known tokens are masked wherever they appear.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_NAME = re.compile(r"(^|[_-])(api[_-]?key|apikey|token|secret|password|passwd|auth|"
                          r"authorization|access[_-]?key|private[_-]?key|credential|sig|"
                          r"signature|session)s?($|[_-])", re.I)
_NOT_SECRET_NAMES = {"api_key_env", "max_tokens", "max_new_tokens", "new_tokens", "tokens",
                     "token_budget", "min_tokens", "tokenizer"}
_TOKEN_SHAPES = re.compile(
    r"\b(sk-[A-Za-z0-9_\-]{16,}|sk_(live|test)_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{20,}|"
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|"
    r"xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_\-]{30,}|"
    r"eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]{8,}", re.I)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")


def secret_name(name: str) -> bool:
    return name.lower() not in _NOT_SECRET_NAMES and bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """userinfo removed, secret-named query parameters masked; anything else unchanged."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK if "@" in url else url
    netloc = (f"[{host}]" if ":" in host else host) + port if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(secret_name(k) for k, _ in pairs):
            query = urlencode([(k, MASK if secret_name(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _TOKEN_SHAPES.sub(MASK, text)


def redact(value: Any) -> Any:
    """A copy of `value` (dicts, lists, strings) with every secret-looking part masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and secret_name(k) and isinstance(v, str) and v
                    else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
