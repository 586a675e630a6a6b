"""Applying a plan: compile the migrated workspace, then write everything at once.

The plan's files are first put into a scratch copy of the repository's small files, and the
locks are compiled there. Nothing is written before the compile is done, and then the plan's
files and the new locks are written together (each to a temporary file, then renamed): a
network error or an interruption leaves the repository exactly as it was.

Decision: an image whose lock does not resolve (and every image built on it) is left out, not
the whole migration: the repository is planned again without it (its Dockerfile keeps its
installs when no migrated image shares it) and the rest is compiled and written. The result
names the images left out and why, and ``check`` then reports exactly those as lockless.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from lockaudit.compile import (
    CompileOptions,
    CompileResult,
    ImageResult,
    Status,
    compile_workspace,
)
from lockaudit.errors import InputError, Location
from lockaudit.index.types import MetadataSource
from lockaudit.locks import lock_paths, write_atomically
from lockaudit.migrate._model import MigrationPlan
from lockaudit.migrate._plan import plan_migration
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.graph import lock_view
from lockaudit.workspace.model import Workspace
from lockaudit.workspace.paths import check_inside

SourceFactory = Callable[[Workspace], AbstractContextManager[MetadataSource]]

# Not inputs of a compile, often large: never copied into the scratch workspace.
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".cache"}
)
_MAX_COPIED = 4 * 1024 * 1024


@dataclass(frozen=True)
class MigrationResult:
    """``compiled`` holds the results of the images written and of those left out (FAILED or
    SKIPPED, with their reasons); ``plan`` is the plan that was written (without them)."""

    plan: MigrationPlan
    compiled: CompileResult
    written: tuple[str, ...]  # relative paths whose bytes changed on disk

    @property
    def ok(self) -> bool:
        return self.compiled.ok

    @property
    def left_out(self) -> tuple[str, ...]:
        return tuple(r.image for r in self.compiled.results if r.status in _UNRESOLVED)


_UNRESOLVED = (Status.FAILED, Status.SKIPPED)


def apply_migration(
    plan: MigrationPlan, open_source: SourceFactory, *, images: tuple[str, ...] | None = None
) -> MigrationResult:
    """Compile the planned workspace aside (``images``, default all) and write the plan and the
    locks into the repository, leaving out the images that do not resolve."""
    failures: dict[str, ImageResult] = {}
    for _ in range(len(plan.images) + 1):  # each round leaves out at least one more image
        _still_as_planned(plan)
        files, compiled = _compile_aside(plan, open_source, images, failures)
        if compiled is None:  # every image is left out: nothing to write
            return MigrationResult(plan, CompileResult(tuple(failures.values())), ())
        new = {r.image: r for r in compiled.results if r.status in _UNRESOLVED}
        if not new:
            break
        failures.update(new)
        why = {key: _origins(plan, _why(result)) for key, result in failures.items()}
        plan = plan_migration(plan.root, left_out=why)
    else:  # not reached: each round either writes or leaves one more image out
        return MigrationResult(plan, CompileResult(tuple(failures.values())), ())
    results = CompileResult((*compiled.results, *failures.values()))
    check_inside(plan.root, files)
    return MigrationResult(plan, results, write_atomically(plan.root, files))


def _compile_aside(
    plan: MigrationPlan,
    open_source: SourceFactory,
    images: tuple[str, ...] | None,
    failures: Mapping[str, ImageResult],
) -> tuple[dict[str, bytes], CompileResult | None]:
    """The files to write (the plan's and, when every image compiled, the locks) and the
    compile's result; None when no image is left to compile."""
    files = {change.path: change.new.encode("utf-8") for change in plan.changes}
    with tempfile.TemporaryDirectory(prefix="lockaudit-migrate-") as scratch:
        staged = Path(scratch) / "repo"
        _copy_small_files(plan.root, staged)
        write_atomically(staged, files)
        workspace = load_workspace(staged)
        wanted = images
        if failures:
            lockable = images or tuple(i.key for i in lock_view(workspace).images)
            wanted = tuple(key for key in lockable if key not in failures)
            if not wanted:
                return files, None
        with open_source(workspace) as source:
            compiled = compile_workspace(workspace, source, CompileOptions(images=wanted))
        if compiled.ok:
            for result in compiled.results:
                paths = lock_paths(workspace, workspace.image(result.image))
                for path in (paths.full, paths.layer, paths.pylock):
                    files[path] = (staged / path).read_bytes()
    return files, compiled


_IN_LINE = re.compile(r"(?P<path>[^\s:()]+\.in):(?P<line>\d+)")
_ORIGIN = re.compile(r"#\s*from (?P<origin>\S+:\d+)")


def _origins(plan: MigrationPlan, text: str) -> str:
    """``text`` with each ``<new .in file>:<line>`` replaced by where that line was written (the
    .in file of an image left out is never written, the Dockerfile line is what to fix)."""
    new = {change.path: change.new.splitlines() for change in plan.changes if change.old is None}

    def origin(match: re.Match[str]) -> str:
        lines = new.get(match["path"], [])
        number = int(match["line"])
        found = _ORIGIN.search(lines[number - 1]) if 0 < number <= len(lines) else None
        return found["origin"] if found else match[0]

    return _IN_LINE.sub(origin, text)


def _why(result: ImageResult) -> str:
    if result.conflicts:
        return f"its lock does not resolve ({result.conflicts[0].summary})"
    return result.reason or "its lock does not resolve"


def _still_as_planned(plan: MigrationPlan) -> None:
    """A file edited since the plan was made is not overwritten."""
    for change in plan.changes:
        path = plan.root / change.path
        now = path.read_bytes().decode("utf-8") if path.exists() else None
        if now != change.old:
            raise InputError(
                Location(change.path),
                "changed since the migration was planned: nothing written",
                hint="run `lockaudit migrate` again",
            )


def _copy_small_files(root: Path, dest: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            path = os.path.join(directory, name)
            if (name in _SKIP_DIRS and os.path.isdir(path)) or (
                os.path.isfile(path)
                and not os.path.islink(path)
                and os.path.getsize(path) > _MAX_COPIED
            ):
                skipped.add(name)
        return skipped

    shutil.copytree(root, dest, symlinks=True, ignore=ignore)
