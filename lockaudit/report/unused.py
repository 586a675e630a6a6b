"""The quarterly review of unused dependencies: a report only, never an edit.

For each image:

- **unused**: a distribution the image installs in its own layer that no Python file copied into
  the image *or into any image built on it* imports (a base image installs for its children),
  and that no other installed distribution requires (a dependency of a dependency is used by
  its requirer, not by the code);
- **missing**: a top-level name a copied Python file imports that no installed distribution
  provides, that is not in the standard library and that is not a module copied alongside.

Which Python files an image holds comes from its Dockerfile's final-stage ``COPY``/``ADD``
lines (and its ancestors'), resolved against the image's build context. Import names come from
each distribution's ``top_level.txt``; when a wheel has none, the project name with ``-`` as
``_`` is assumed. Both kinds of miss are what the allow-list (``[tool.lockaudit.unused] allow``,
distribution or import names) is for.

Decisions:
- ``COPY --from=<stage>`` sources are skipped: they come from another build stage, not from the
  repository. Sources outside the repository are skipped too.
- Relative imports and imports of the standard library (``sys.stdlib_module_names`` of the
  Python running lockaudit, which the supported 3.11+ targets share) are never "missing".
- A file that is not valid Python is an input error naming ``path:line``: a review that skips
  files silently would report used packages as unused.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packaging.utils import NormalizedName

from lockaudit.errors import InputError, Location
from lockaudit.index.types import Candidate
from lockaudit.locks import LockedPackage, lock_paths
from lockaudit.report._model import UnusedImage, UnusedReport
from lockaudit.workspace.config import load_unused_allowlist as load_allowlist
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Target, Workspace, normalize

__all__ = ["ImportNameSource", "load_allowlist", "python_files", "unused_report"]


class ImportNameSource(Protocol):
    """What the review needs from an index: releases, and the import names of one."""

    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]: ...

    def top_level(self, candidate: Candidate, target: Target) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class _Imports:
    """The top-level names the Python files of one image import, first place of each."""

    files: int
    names: Mapping[str, Location]
    local: frozenset[str]


def unused_report(
    given: Inputs | Workspace, source: ImportNameSource, allow: Iterable[str] = ()
) -> UnusedReport:
    inputs = as_inputs(given)
    workspace = inputs.workspace
    allowed = frozenset(allow) | frozenset(normalize(a) for a in allow)
    own_imports = {image.key: _imports(inputs, image) for image in workspace.images}
    images = []
    for image in workspace.images:
        lock = inputs.lock_text(lock_paths(workspace, image).full)
        if lock is None:
            continue
        packages = lock.lock.packages
        provides = _provided(source, image.target, packages)
        here = _merged([own_imports[a.key] for a in (*workspace.ancestors(image.key), image)])
        users = _merged(
            [own_imports[i.key] for i in workspace.images if _built_on(workspace, i, image)]
        )
        images.append(
            UnusedImage(
                key=image.key,
                files=here.files,
                unused=_unused(image, packages, provides, users, allowed),
                missing=_missing(here, provides, allowed),
            )
        )
    return UnusedReport(tuple(images))


def _built_on(workspace: Workspace, image: Image, base: Image) -> bool:
    return image.key == base.key or base in workspace.ancestors(image.key)


def _provided(
    source: ImportNameSource, target: Target, packages: Iterable[LockedPackage]
) -> dict[NormalizedName, frozenset[str]]:
    provides: dict[NormalizedName, frozenset[str]] = {}
    for package in packages:
        release = next(
            (c for c in source.candidates(package.name, target) if c.version == package.version),
            None,
        )
        names = source.top_level(release, target) if release is not None else ()
        fallback = package.name.replace("-", "_")
        provides[package.name] = frozenset(n.split(".")[0] for n in names) or frozenset({fallback})
    return provides


def _unused(
    image: Image,
    packages: Iterable[LockedPackage],
    provides: Mapping[NormalizedName, frozenset[str]],
    users: _Imports,
    allowed: frozenset[str],
) -> tuple[NormalizedName, ...]:
    found = []
    for package in packages:
        if package.layer != image.key or package.name in allowed:
            continue
        required = any(":" not in via for via in package.required_by)
        if not required and not provides[package.name] & users.names.keys():
            found.append(package.name)
    return tuple(sorted(found))


def _missing(
    here: _Imports, provides: Mapping[NormalizedName, frozenset[str]], allowed: frozenset[str]
) -> tuple[tuple[str, Location], ...]:
    available = frozenset().union(*provides.values()) if provides else frozenset()
    skip = available | here.local | frozenset(sys.stdlib_module_names) | allowed
    return tuple(
        (name, location) for name, location in sorted(here.names.items()) if name not in skip
    )


def _merged(parts: Sequence[_Imports]) -> _Imports:
    names: dict[str, Location] = {}
    for part in parts:
        for name, location in part.names.items():
            names.setdefault(name, location)
    local = frozenset().union(*(p.local for p in parts)) if parts else frozenset()
    return _Imports(sum(p.files for p in parts), names, local)


# --------------------------------------------------------------------------- files → imports


def python_files(given: Inputs | Workspace, image: Image) -> tuple[str, ...]:
    """Workspace-relative paths of the ``.py`` files the image's own Dockerfile copies in."""
    inputs = as_inputs(given)
    if not inputs.exists(image.dockerfile):
        return ()
    parsed = inputs.dockerfile(image)
    found: set[str] = set()
    for copy in parsed.final.copies:
        if copy.from_stage is not None:
            continue
        for source in copy.sources:
            found.update(inputs.copied_files(image.context, source, suffix=".py"))
    return tuple(sorted(found))


def _imports(inputs: Inputs, image: Image) -> _Imports:
    names: dict[str, Location] = {}
    local: set[str] = set()
    files = python_files(inputs, image)
    for relative in files:
        path = Path(relative)
        local.add(path.stem)
        local.update(part for part in path.parent.parts)
        for name, line in _imported(inputs.file_bytes(relative) or b"", relative):
            names.setdefault(name, Location(relative, line))
    return _Imports(len(files), names, frozenset(local))


def _imported(source: bytes, display: str) -> list[tuple[str, int]]:
    """Top-level imported names with their line, in line order (the first place is shown)."""
    try:
        tree = ast.parse(source, filename=display)
    except SyntaxError as e:
        raise InputError(Location(display, e.lineno or 1), f"not valid Python: {e.msg}") from e
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno))
    return sorted(found, key=lambda item: (item[1], item[0]))
