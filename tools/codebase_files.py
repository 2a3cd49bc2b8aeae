"""The files of a registered codebase that tools may read, and nothing else.

Confinement rules (DESIGN "Tools": no path escapes, no symlink escapes):
- the root is resolved with ``realpath`` on every walk; every file's real path must stay inside it;
- directory symlinks are never descended (no loops, no escapes; their targets inside the root are walked
  under their own path anyway); a file symlink is read only when its target is inside the root;
- ``..`` is never honoured: paths are produced by the walk, never taken from the caller, and the caller's
  glob is a filter over those paths (a glob with a ``..`` segment or a leading ``/`` is refused);
- ``.git`` is skipped, as is every file over ``MAX_FILE_BYTES`` or with a NUL byte anywhere (binary, as
  ripgrep judges it; the index could not store it in PostgreSQL either), and everything the codebase's
  include/exclude globs or its root ``.gitignore`` leave out.

Globs use gitignore syntax (``pathspec``): ``*.py`` matches at any depth, ``src/*.py`` only under ``src``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

import pathspec

from tools.models import Codebase

MAX_FILE_BYTES = 1024 * 1024
MAX_FILES_PER_WALK = 50_000
GITIGNORE_MAX_BYTES = 256 * 1024
ALWAYS_SKIPPED_DIRS = frozenset({".git"})


class UnsafeGlob(ValueError):
    """A caller's glob that tries to leave the root (``..`` segment or absolute path)."""


def resolve_root(path: str) -> str:
    """The real path of an existing directory, for storing in ``Codebase.root``; ``ValueError`` otherwise."""
    real = os.path.realpath(os.path.expanduser(path))
    if not os.path.isdir(real):
        raise ValueError(f"{path} is not an existing directory")
    return real


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def compile_glob(lines: list[str]) -> pathspec.PathSpec | None:
    """A gitignore-syntax matcher for ``lines``, or ``None`` when there are no patterns."""
    return pathspec.PathSpec.from_lines("gitignore", lines) if lines else None


def check_glob(glob: str) -> None:
    """Refuse a caller's glob that names a path outside the root."""
    parts = glob.replace("\\", "/").split("/")
    if glob.startswith(("/", "\\")) or ".." in parts:
        raise UnsafeGlob("path_glob must be relative to the codebase root and must not contain '..'")


def _within(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _read_gitignore(root: str) -> pathspec.GitIgnoreSpec | None:
    path = os.path.join(root, ".gitignore")
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > GITIGNORE_MAX_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


@dataclass(frozen=True)
class Walk:
    """The result of walking one codebase: files as ``(relative posix path, real path)``, sorted by path."""

    files: list[tuple[str, str]]
    truncated: bool


def walk(codebase: Codebase, path_glob: str | None = None) -> Walk:
    """Every readable candidate file of ``codebase``, filtered by its globs, ``.gitignore`` and ``path_glob``."""
    root = os.path.realpath(codebase.root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"codebase {codebase.name}: root {codebase.root} is not a directory")
    include = compile_glob(_lines(codebase.include))
    exclude = compile_glob(_lines(codebase.exclude))
    gitignore = _read_gitignore(root)
    wanted = None
    if path_glob:
        check_glob(path_glob)
        wanted = compile_glob([path_glob])

    def skipped(rel: str, is_dir: bool) -> bool:
        probe = rel + "/" if is_dir else rel
        if gitignore is not None and gitignore.match_file(probe):
            return True
        return exclude is not None and exclude.match_file(probe)

    files: list[tuple[str, str]] = []
    truncated = False
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        kept = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if name in ALWAYS_SKIPPED_DIRS or os.path.islink(full) or skipped(rel_dir + name, True):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = rel_dir + name
            if skipped(rel, False):
                continue
            if include is not None and not include.match_file(rel):
                continue
            if wanted is not None and not wanted.match_file(rel):
                continue
            real = os.path.realpath(os.path.join(dirpath, name))
            if not _within(real, root):
                continue
            if len(files) >= MAX_FILES_PER_WALK:
                truncated = True
                break
            files.append((rel, real))
        if truncated:
            break
    files.sort()
    return Walk(files=files, truncated=truncated)


def read_text(real: str) -> str | None:
    """The file's text (UTF-8, undecodable bytes replaced), or ``None`` if binary, too big or unreadable.

    Opens the already-resolved path with ``O_NOFOLLOW`` and checks the opened descriptor, so a file swapped
    for a symlink or a device after the walk is not read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(real, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_FILE_BYTES or b"\x00" in data:
        return None
    return data.decode("utf-8", errors="replace")
