"""Files a step reads that are not in its frame: eval sets, tokenizers, local models,
checkpoints, constraint files. Their content goes into the step's cache key, so editing such a
file reruns the step instead of silently reusing a result computed from the old one.

Found generically: every string in a step's params that names an existing local file or folder
(relative to the recipe's folder, `~` expanded) is fingerprinted, so a new step cannot forget.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import xxhash

WHOLE_FILE = 64 << 20  # files up to this size are hashed whole
EDGE = 4 << 20  # bigger ones (model weights): size, mtime and their first and last 4 MiB
MAX_FILES = 10_000  # per folder named in params


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def named_paths(params: Any, workdir: Path) -> list[Path]:
    """Existing local files and folders named by string values anywhere in `params`."""
    found = []
    for text in _strings(params):
        if not text or len(text) > 4096 or "\n" in text or "\0" in text or "://" in text:
            continue
        path = Path(text).expanduser()
        path = path if path.is_absolute() else workdir / path
        try:
            if path.exists():
                found.append(path)
        except OSError:  # a name too long, a permission problem: not a file we can read
            continue
    return sorted(set(found))


def _file_digest(path: Path, h) -> None:
    st = path.stat()
    h.update(f"{st.st_size}".encode())
    with path.open("rb") as fh:
        if st.st_size <= WHOLE_FILE:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
            return
        h.update(f":{st.st_mtime_ns}".encode())
        h.update(fh.read(EDGE))
        fh.seek(-EDGE, 2)
        h.update(fh.read(EDGE))


def inputs_token(params: Any, workdir: Path) -> str:
    """One hash over the content of every local file a step's params name ("" when none)."""
    paths = named_paths(params, workdir)
    if not paths:
        return ""
    h = xxhash.xxh3_128()
    for path in paths:
        h.update(str(path).encode("utf-8", "surrogatepass"))
        files = ([path] if path.is_file() else
                 sorted(p for p in path.rglob("*") if p.is_file())[:MAX_FILES])
        for f in files:
            h.update(f.name.encode("utf-8", "surrogatepass"))
            try:
                _file_digest(f, h)
            except OSError as err:  # unreadable now: the step itself will say so
                h.update(repr(err).encode())
    return h.hexdigest()
