"""A persistent cache of finished model requests (generation and judging).

One sqlite row per finished request, keyed by a stable hash of everything that changes the
answer: the backend's identity (backend, model, revision, chat template, adapter), the
sampling parameters, the conversation, and any extra text (e.g. a judge template). Rows are
committed as each batch of results arrives, in WAL mode, so a run killed with SIGKILL keeps
everything that finished, and a rerun sends only what is missing. `INSERT OR IGNORE` on the
primary key makes repeated puts harmless: nothing is ever duplicated.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import xxhash
from datatools.schemas.errors import Problem, UserError

if TYPE_CHECKING:  # runtime import would cycle: datatools.generate's steps import this module
    from datatools.generate.backend import Backend, Conversation, Sampling

KEY_VERSION = 1  # bump when the key layout changes, so old rows are never misread
_SQL_CHUNK = 500  # stays under sqlite's host-parameter limit


def request_key(identity: dict[str, Any], sampling: Sampling | dict[str, Any],
                conversation: Conversation, extra: str = "") -> str:
    """Stable across runs, machines and dict orderings (keys are sorted before hashing)."""
    samp = dict(sampling) if isinstance(sampling, dict) else sampling.as_dict()
    payload = json.dumps(
        {"v": KEY_VERSION, "identity": identity, "sampling": samp,
         "conversation": conversation, "extra": extra},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return xxhash.xxh3_128_hexdigest(payload.encode())


class RequestCache:
    """sqlite key → JSON value store. Safe to share between threads and processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False,
                                       isolation_level=None)  # autocommit; explicit BEGIN below
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a process crash (SIGKILL) loses no committed row; only a power
            # cut may lose the last commits, which are then simply recomputed.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS requests ("
                " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute("SELECT key, value FROM requests LIMIT 1").fetchall()
        except sqlite3.DatabaseError as err:
            raise self._error(err) from None

    def _error(self, err: sqlite3.DatabaseError) -> UserError:
        """sqlite's own words → what happened to which file and what to do."""
        text = str(err)
        if "full" in text:
            return UserError(Problem(str(self.path), "disk is full: the request cache cannot "
                                     "store finished requests; free space on this disk and "
                                     "run again (requests already stored are kept)"))
        return UserError(Problem(str(self.path), f"the request cache is unreadable ({text}); "
                                 "delete this file to start it over (its requests are then "
                                 "sent again)"))

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        with self._lock:
            for i in range(0, len(keys), _SQL_CHUNK):
                chunk = keys[i:i + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                try:
                    rows = self._db.execute(
                        f"SELECT key, value FROM requests WHERE key IN ({marks})", chunk
                    ).fetchall()
                    found.update((k, json.loads(v)) for k, v in rows)
                except (sqlite3.DatabaseError, ValueError) as err:
                    raise self._error(sqlite3.DatabaseError(str(err))) from None
        return found

    def get(self, key: str, default: Any = None) -> Any:
        return self.get_many([key]).get(key, default)

    def put_many(self, items: dict[str, Any]) -> None:
        """All items in one transaction: a batch is either fully stored or not at all."""
        if not items:
            return
        now = time.time()
        rows = [(k, json.dumps(v, ensure_ascii=False), now) for k, v in items.items()]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR IGNORE INTO requests (key, value, created) VALUES (?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException as err:
                if self._db.in_transaction:  # sqlite may already have rolled back (disk full)
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.DatabaseError:
                        pass
                if isinstance(err, sqlite3.DatabaseError):
                    raise self._error(err) from None
                raise

    def put(self, key: str, value: Any) -> None:
        self.put_many({key: value})

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]

    def __contains__(self, key: str) -> bool:
        return bool(self.get_many([key]))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "RequestCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- sending only what is not cached ---------------------------------------------------------

@dataclass(frozen=True)
class RequestFailed:
    """A request that failed even on its own (after the backend's retries). Never cached, so a
    rerun tries it again."""

    error: str


def cached_chat_results(
    backend: Backend, cache: RequestCache | None, conversations: list[Conversation],
    sampling: Sampling, extra: str = "", batch_size: int = 64,
    on_batch: Callable[[int, list[list[str]]], None] | None = None,
) -> list[list[str] | RequestFailed]:
    """n completions per conversation, sending only uncached requests, in batches of
    `batch_size`; each finished batch is committed before the next is sent. A batch that
    raises is retried one conversation at a time, so one bad request cannot sink its
    neighbours; what still fails comes back as `RequestFailed`. For progress bars,
    `on_batch(requests_done, fresh_results)` is called once for the cache hits (with no
    results) and after each batch sent."""
    identity = backend.identity()
    keys = [request_key(identity, sampling, c, extra) for c in conversations]
    done: dict[str, Any] = cache.get_many(keys) if cache is not None else {}
    todo = {k: c for k, c in zip(keys, conversations) if k not in done}  # duplicates sent once
    pending = list(todo.items())
    if on_batch is not None:
        on_batch(len(keys) - sum(1 for k in keys if k in todo), [])
    for start in range(0, len(pending), max(1, batch_size)):
        batch = pending[start:start + batch_size]
        fresh = _send(backend, batch, sampling)
        stored = {k: v for k, v in fresh.items() if not isinstance(v, RequestFailed)}
        if cache is not None:
            cache.put_many(stored)
        done.update(fresh)
        if on_batch is not None:
            on_batch(sum(1 for k in keys if k in fresh), list(stored.values()))
    return [done[k] for k in keys]


def _send(backend: Backend, batch: list[tuple[str, Conversation]], sampling: Sampling
          ) -> dict[str, list[str] | RequestFailed]:
    """One batch → {key: completions | RequestFailed}. A backend with `chat_each` reports each
    request's outcome, so answered requests are kept and only failed ones are retried;
    otherwise a failed batch is retried one conversation at a time."""
    from datatools.generate.backend import BackendUnreachable

    if hasattr(backend, "chat_each"):
        outcomes = backend.chat_each([c for _, c in batch], sampling)
        return {k: (RequestFailed(f"{type(r).__name__}: {r}") if isinstance(r, BaseException)
                    else [str(t) for t in r]) for (k, _), r in zip(batch, outcomes)}
    try:
        results = backend.chat([c for _, c in batch], sampling)
        if len(results) != len(batch):
            raise RuntimeError(f"backend returned {len(results)} results for {len(batch)} "
                               "conversations")
        return {k: [str(t) for t in r] for (k, _), r in zip(batch, results)}
    except BackendUnreachable:
        raise
    except Exception as e:  # noqa: BLE001 - a bad request becomes a reported failure
        if len(batch) == 1:
            return {batch[0][0]: RequestFailed(f"{type(e).__name__}: {e}")}
    out: dict[str, list[str] | RequestFailed] = {}
    for item in batch:
        out.update(_send(backend, [item], sampling))
    return out


def cached_chat(
    backend: Backend, cache: RequestCache | None, conversations: list[Conversation],
    sampling: Sampling, extra: str = "", batch_size: int = 64,
) -> list[list[str]]:
    """Like `cached_chat_results`, but raises if any request failed. Everything that succeeded
    is already in the cache, so calling again retries only the failures."""
    results = cached_chat_results(backend, cache, conversations, sampling, extra, batch_size)
    failed = [r for r in results if isinstance(r, RequestFailed)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(results)} requests failed; first: "
                           f"{failed[0].error}")
    return results  # type: ignore[return-value]


__all__ = ["RequestCache", "RequestFailed", "request_key", "cached_chat", "cached_chat_results"]
