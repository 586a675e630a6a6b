"""A Python project's own files as requirement inputs: ``pyproject.toml`` and ``uv.lock``.

An image that runs ``pip install .`` or ``uv pip install .`` installs what the project's
``[project] dependencies`` say; one that runs ``uv sync`` installs what its ``uv.lock`` pins.
Both are read as a :class:`RequirementsFile`, so every command sees them as it sees a
requirements file:

- ``pyproject.toml``: the ``[project] dependencies`` are the requirements. Dependencies the
  build backend computes (``dynamic``) are known only by running package code, which lockaudit
  never does: an error at the ``dynamic`` line, with the way out in the hint.
- ``uv.lock``: the requirements of the project's ``pyproject.toml`` beside it, constrained to
  the versions the lock pins (a package the lock holds at several versions, one per platform,
  is left to the resolver), so that a compile keeps what ``uv sync`` would install.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from pathlib import Path
from typing import Any

from lockaudit.errors import InputError, Location


def _line_of(text: str, pattern: str, default: int = 1) -> int:
    match = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else default


def _load(text: str, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", 1) or 1
        raise InputError(Location(path, line), f"not valid TOML: {e.args[0]}") from None


def project_dependencies(text: str, path: str) -> list[tuple[str, Location]]:
    """``[project] dependencies`` of a ``pyproject.toml`` text, each with its line."""
    project = _load(text, path).get("project")
    if not isinstance(project, dict):
        raise InputError(
            Location(path, 1),
            "no [project] table: the project's dependencies are not declared in this file",
            hint="list the image's requirements in a requirements file instead",
        )
    dynamic = project.get("dynamic", [])
    if isinstance(dynamic, list) and "dependencies" in dynamic:
        raise InputError(
            Location(path, _line_of(text, r"^\s*dynamic\s*=")),
            "the project's dependencies are dynamic: only running its build backend tells "
            "them, and lockaudit never runs package code",
            hint="declare them in [project] dependencies, or list them in a requirements file",
        )
    found = project.get("dependencies", [])
    if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
        raise InputError(
            Location(path, _line_of(text, r"^\s*dependencies\s*=")),
            "[project] dependencies must be a list of strings",
        )
    start = _line_of(text, r"^\s*\[project\]")
    return [(dep, Location(path, _string_line(text, dep, start))) for dep in found]


def _string_line(text: str, value: str, start: int) -> int:
    """The line of the first quoted ``value`` at or after line ``start``."""
    offset = sum(len(line) + 1 for line in text.split("\n")[: start - 1])
    for quote in ('"', "'"):
        at = text.find(f"{quote}{value}{quote}", offset)
        if at >= 0:
            return text.count("\n", 0, at) + 1
    return start


def lock_pins(text: str, path: str) -> list[tuple[str, Location]]:
    """``name==version`` of every index package a ``uv.lock`` holds at exactly one version."""
    packages = _load(text, path).get("package", [])
    if not isinstance(packages, list):
        raise InputError(Location(path, 1), "a uv lock's `package` must be an array of tables")
    versions: dict[str, list[str]] = {}
    for package in packages:
        if not isinstance(package, dict):
            continue
        name, version, source = package.get("name"), package.get("version"), package.get("source")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        if isinstance(source, dict) and "registry" in source:
            versions.setdefault(name, []).append(version)
    return [
        (f"{name}=={found[0]}",
         Location(path, _line_of(text, rf'^name = "{re.escape(name)}"\s*$')))
        for name, found in versions.items()
        if len(set(found)) == 1
    ]


def beside(root: Path, lock: str) -> str:
    """The ``pyproject.toml`` of the project a ``uv.lock`` belongs to (beside it)."""
    pyproject = posixpath.join(posixpath.dirname(lock), "pyproject.toml")
    if not (root / pyproject).is_file():
        raise InputError(
            Location(lock, 1),
            f"no {pyproject} beside this uv lock: its project's requirements are unknown",
            hint="keep the project's pyproject.toml beside its uv.lock",
        )
    return pyproject
