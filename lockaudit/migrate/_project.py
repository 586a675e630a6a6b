"""The dependencies of a local project a Dockerfile installs (``pip install .[extra]``).

Only what ``pyproject.toml`` states statically is read (``[project] dependencies`` and the
chosen ``optional-dependencies``): lockaudit never runs a build backend. The project is found by
replaying the stage's ``WORKDIR`` and ``COPY`` lines up to the install: the directory pip is
given must have received a ``pyproject.toml`` from the build context.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lockaudit.parsing.dockerfile import PipInstall, Stage

_EXTRAS = re.compile(r"^(?P<path>.*?)(?:\[(?P<extras>[^\]]*)\])?$")


def local_project(
    root: Path, context: str, stage: Stage, install: PipInstall, word: str
) -> tuple[str, tuple[str, ...]] | None:
    """(workspace path of the project's pyproject.toml, its dependencies) or None."""
    match = _EXTRAS.match(word.strip())
    if match is None:
        return None
    extras = [e.strip() for e in (match.group("extras") or "").split(",") if e.strip()]
    line = install.location.line
    target = _absolute(stage, match.group("path") or ".", line)
    found = _pyproject_source(root, stage, context, target, line)
    if found is None or not (root / found).is_file():
        return None
    return _static_dependencies(root / found, extras, found)


def _workdir(stage: Stage, line: int) -> str:
    current = "/"
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR" and instruction.location.line < line:
            current = posixpath.join(current, instruction.value.strip())
    return posixpath.normpath(current)


def _absolute(stage: Stage, path: str, line: int) -> str:
    return posixpath.normpath(posixpath.join(_workdir(stage, line), path))


def _pyproject_source(
    root: Path, stage: Stage, context: str, target: str, line: int
) -> str | None:
    """The context file that the last COPY before ``line`` put at ``target/pyproject.toml``."""
    want = posixpath.join(target, "pyproject.toml")
    for copy in reversed(stage.copies):
        if copy.from_stage is not None or copy.location.line >= line:
            continue
        dest = _absolute(stage, copy.dest, copy.location.line)
        for source in copy.sources:
            source_path = posixpath.normpath(posixpath.join(context, source))
            if posixpath.basename(source_path) == "pyproject.toml" and want in (
                dest, posixpath.join(dest, "pyproject.toml")
            ):
                return source_path
            if (root / source_path).is_dir() and (
                target == dest or target.startswith(dest.rstrip("/") + "/")
            ):
                inner = posixpath.relpath(target, dest)
                return posixpath.normpath(posixpath.join(source_path, inner, "pyproject.toml"))
    return None


def _static_dependencies(
    path: Path, extras: list[str], shown: str
) -> tuple[str, tuple[str, ...]] | None:
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(project, dict):
        return None
    dynamic = project.get("dynamic", [])
    if "dependencies" in dynamic or (extras and "optional-dependencies" in dynamic):
        return None
    own = canonicalize_name(str(project.get("name", "")))
    texts = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        texts += list(optional.get(extra, []))
    out: list[str] = []
    for text in texts:
        try:
            requirement = Requirement(str(text))
        except InvalidRequirement:
            return None
        if canonicalize_name(requirement.name) != own:  # `pkg[all]` naming itself
            out.append(str(requirement))
    return shown, tuple(dict.fromkeys(out))
