"""OUT as a folder the build owns: who may write it, what it may replace, and one atomic switch.

Layout. OUT itself is a symlink to the published build, `.<name>.datatools/builds/<id>/`, in
the folder that holds OUT (the build store). A build is staged whole in a new `builds/<id>/`
and published by one atomic `rename` of a new OUT link over the old one, so readers see the
previous build or the new one and never parts of both, and a reader that globs OUT/** only
ever sees the published build (staging lives outside OUT). The step and request caches live in
the store (`cache/`), visible as OUT/.cache. Every other build folder is deleted after the
switch and at the start of the next build, so a killed build's leftovers go too.

Ownership. A build writes only where OUT is missing, an empty folder, a link into its own store,
or a folder written by an older datatools (nothing but build names and a build report.json).
Any other folder is refused unless `force=True`, and even then it is not deleted: it is moved
into the store as `kept-<id>/` and its new path is printed. `/`, the home folder, the recipe's
folder and every folder above them are refused always. Removing never follows a symlink: a link
inside a folder being replaced is removed as a link, its target untouched.

Lock. One build writes an OUT at a time (an flock on the store's `lock`, which the kernel
releases when the holder dies, even by SIGKILL).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from pathlib import Path

from datatools.schemas.errors import ConfigError, Problem, UserError

MANIFEST = ".datatools.json"  # in every build folder, so OUT/.datatools.json says who wrote it
BUILD_NAMES = ("sft", "pairwise", "unary", "prompts", "rejects", "candidates", "report.json", "README.md",
               "report.html", ".cache", MANIFEST)
_OLD_LEFTOVERS = (".staging-", ".old-")  # staging folders of the layout before this one


class BuildLockedError(UserError):
    """Another build holds OUT's lock."""


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def store_of(out: Path) -> Path:
    return out.parent / f".{out.name}.datatools"


def _resolve_out(path: Path) -> Path:
    """OUT's absolute path: a user's symlink is followed, a link into OUT's own store is not."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    for _ in range(40):
        path = path.parent.resolve() / path.name
        if not path.is_symlink() or _is_our_link(path):
            return path
        path = Path(os.path.abspath(path.parent / os.readlink(path)))
    raise ConfigError(Problem(str(path), "too many levels of symbolic links"))


def _is_our_link(path: Path) -> bool:
    target = Path(os.readlink(path))
    return (not target.is_absolute() and len(target.parts) == 3
            and target.parts[:2] == (store_of(path).name, "builds"))


def _remove(path: Path) -> None:
    """Delete a file, a folder, or a symlink itself (rmtree unlinks links inside a folder)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


class OutFolder:
    """Claim OUT (checks + lock), stage a build beside it, publish it with one switch."""

    def __init__(self, out_dir: Path, recipe_dir: Path | None = None, force: bool = False):
        self.dir = _resolve_out(out_dir)
        self.store = store_of(self.dir)
        self.builds = self.store / "builds"
        self.cache_dir = self.store / "cache"
        self.recipe_dir = Path(recipe_dir).resolve() if recipe_dir else None
        self.force = force
        self.replace: str | None = None  # what OUT is now: None (link/missing), old, empty, foreign
        self.staging: Path | None = None
        self._lock_fd: int | None = None
        self._new_store = False

    # -- claiming -------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse an OUT that is not ours to write (ConfigError saying why); change nothing."""
        loc = f"outputs.dir ({self.dir})"
        guarded = [(Path("/"), "the root folder"), (Path.home().resolve(), "your home folder")]
        if self.recipe_dir is not None:
            guarded.append((self.recipe_dir, "the recipe's own folder"))
        for folder, what in guarded:
            if _is_within(folder, self.dir):
                raise ConfigError(Problem(loc, f"is {what}" if folder == self.dir else
                                          f"contains {what}; a build needs a folder of its "
                                          "own (e.g. outputs.dir: out/my-build)"))
        if self.store.exists() and not (self.store / "lock").exists():
            raise ConfigError(Problem(str(self.store), "exists and is not a datatools build "
                                      "store; move it away or choose another outputs.dir"))
        if self.dir.is_symlink():  # ours (a user's link was followed): dangling is fine too
            return
        if not self.dir.exists():
            return
        if not self.dir.is_dir():
            raise ConfigError(Problem(loc, "exists and is not a folder"))
        entries = sorted(p.name for p in self.dir.iterdir())
        if not entries:
            self.replace = "empty"
        elif self._is_old_build(entries):
            self.replace = "old"
        elif self.force:
            self.replace = "foreign"
        else:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise ConfigError(Problem(loc, f"is not empty and was not written by datatools (it "
                                      f"holds {shown}); nothing was changed. Choose a new or "
                                      "empty folder, or pass --force to move this folder "
                                      f"aside (kept, not deleted, under {self.store.name}/)"))

    def _is_old_build(self, entries: list[str]) -> bool:
        """A folder written by an older datatools: only build names and a build report."""
        if any(e not in BUILD_NAMES and not e.startswith(_OLD_LEFTOVERS) for e in entries):
            return False
        try:
            report = json.loads((self.dir / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return isinstance(report, dict) and {"steps", "ledger", "version"} <= set(report)

    def __enter__(self) -> "OutFolder":
        self.check()
        self._new_store = not self.store.exists()
        self.builds.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(exist_ok=True)
        self._lock()
        self.clean()
        return self

    def __exit__(self, *exc) -> None:
        if self.staging is not None:  # not published: the build failed or was interrupted
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if self._new_store and self.current() is None and not any(self.cache_dir.iterdir()):
            shutil.rmtree(self.store, ignore_errors=True)  # a build that stopped before any work
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self) -> None:
        fd = os.open(self.store / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BuildLockedError(Problem(str(self.dir), f"another build is writing OUT "
                                           f"(pid {holder}); wait for it or choose another "
                                           "outputs.dir")) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def current(self) -> Path | None:
        """The published build folder (OUT's target), if OUT is our link."""
        if self.dir.is_symlink() and _is_our_link(self.dir):
            return self.builds / Path(os.readlink(self.dir)).name
        return None

    def clean(self) -> None:
        """Delete every build folder but the published one (and the one being staged)."""
        keep = {self.current(), self.staging}
        for folder in self.builds.iterdir():
            if folder not in keep:
                _remove(folder)
        for entry in self.store.iterdir():
            if entry.name.startswith(("next-link", "old-")):
                _remove(entry)

    # -- staging and publishing -----------------------------------------------------------
    def stage(self) -> Path:
        """A new, empty build folder in the store (outside OUT, so no reader sees it)."""
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{os.urandom(3).hex()}"
        self.staging = self.builds / name
        self.staging.mkdir()
        os.symlink("../../cache", self.staging / ".cache")
        return self.staging

    def publish(self) -> None:
        """Make the staged build OUT: one atomic rename of a new link over the old one."""
        from datatools import __version__

        staged = self.staging
        (staged / MANIFEST).write_text(json.dumps(
            {"written_by": "datatools", "version": __version__, "build": staged.name,
             "store": str(self.store)}, indent=2) + "\n", encoding="utf-8")
        _fsync_tree(staged)
        if self.replace is not None and self.dir.exists():  # a real folder: moved, not deleted
            aside = self.store / f"{'kept' if self.replace == 'foreign' else 'old'}-{staged.name}"
            os.rename(self.dir, aside)
            if self.replace == "foreign":
                print(f"note: the folder that was at {self.dir} is now {aside}", file=sys.stderr)
        link = self.store / "next-link"
        link.unlink(missing_ok=True)
        os.symlink(f"{self.store.name}/builds/{staged.name}", link)
        os.replace(link, self.dir)  # THE switch: atomic on POSIX
        _fsync_dir(self.dir.parent)
        self.staging, self.replace = None, None
        self.clean()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush a staged build's files and folders, so the switch never points at lost data."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))
