"""The files of a repository that lockaudit looks at, and which of them are Dockerfiles.

One walk for every reader that must agree: ``check``'s coverage rule (every Dockerfile of the
repository is an image or excluded) and ``check``'s result cache (any added, removed or edited
file there gives a new key) skip exactly the same folders, so a new Dockerfile can never be
outside the cache key while the gate would have seen it.

Skipped: version-control folders, installed dependencies (``node_modules``, virtual
environments, ``site-packages``), tool caches, ``*.egg-info`` and other hidden folders. Kept
among hidden folders: ``.github`` and ``.devcontainer``, where real Dockerfiles live (container
actions, dev containers).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["is_dockerfile", "repository_dockerfiles", "repository_files", "skipped_folder"]

_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "bower_components"})
_KEPT_HIDDEN = frozenset({".github", ".devcontainer"})
# `Dockerfile.md`, `dockerfile.py`, `Dockerfile.dockerignore`: about a Dockerfile, not one.
_NOT_DOCKERFILE_SUFFIXES = (
    *(".dockerignore", ".md", ".rst", ".txt", ".py", ".pyc", ".pyi", ".json", ".yml", ".yaml"),
    *(".toml", ".js", ".ts", ".go", ".rs", ".sh", ".html", ".orig", ".bak", ".swp", ".rej", "~"),
)


def is_dockerfile(name: str) -> bool:
    """``Dockerfile``, ``*.Dockerfile``, ``Dockerfile.*``, ``Dockerfile_*`` (``Dockerfile_amd``,
    a variant's recipe), in any letter case."""
    lower = name.lower()
    if lower.endswith(_NOT_DOCKERFILE_SUFFIXES):
        return False
    return lower == "dockerfile" or lower.endswith(".dockerfile") or lower.startswith(
        ("dockerfile.", "dockerfile_")
    )


def skipped_folder(parent: str, name: str) -> bool:
    """True for a folder no rule reads (see the module docstring)."""
    if name.startswith("."):
        return name not in _KEPT_HIDDEN
    if name in _SKIP_DIRS or name.endswith(".egg-info"):
        return True
    return os.path.exists(os.path.join(parent, name, "pyvenv.cfg"))


def repository_files(root: Path) -> Iterator[str]:
    """Every file under ``root`` outside skipped folders, relative (``/``-separated), sorted."""
    return (path for path, _ in repository_entries(root))


def repository_entries(root: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """:func:`repository_files` with each file's directory entry (its ``stat()`` for the check
    cache's key). Folders in order, a folder's files before its subfolders'; symbolic links to
    folders are not followed; a folder that cannot be read is skipped."""
    yield from _entries(os.fspath(root), "")


def _entries(folder: str, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    try:
        with os.scandir(folder) as listing:
            found = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return
    folders = []
    for entry in found:
        try:
            is_folder = entry.is_dir()
        except OSError:
            continue
        if not is_folder:
            yield prefix + entry.name, entry
        elif not entry.is_symlink() and not skipped_folder(folder, entry.name):
            folders.append(entry)
    for entry in folders:
        yield from _entries(entry.path, prefix + entry.name + "/")


def repository_dockerfiles(root: Path) -> tuple[str, ...]:
    """The Dockerfiles of the repository at ``root`` (see :func:`is_dockerfile`)."""
    return tuple(path for path in repository_files(root) if is_dockerfile(path.rpartition("/")[2]))
