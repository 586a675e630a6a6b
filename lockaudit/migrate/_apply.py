"""Applying a plan: compile the migrated workspace, then write everything at once.

The plan's files are first put into a scratch copy of the repository's small files, and the
locks are compiled there. Only when every image resolves are the plan's files and the new locks
written into the repository, all together (each to a temporary file, then renamed): a conflict,
a network error or an interruption leaves the repository exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from lockaudit.compile import CompileOptions, CompileResult, compile_workspace
from lockaudit.errors import InputError, Location
from lockaudit.index.types import MetadataSource
from lockaudit.locks import lock_paths, write_atomically
from lockaudit.migrate._model import MigrationPlan
from lockaudit.workspace.config import load_workspace
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
    plan: MigrationPlan
    compiled: CompileResult
    written: tuple[str, ...]  # relative paths whose bytes changed on disk

    @property
    def ok(self) -> bool:
        return self.compiled.ok


def apply_migration(
    plan: MigrationPlan, open_source: SourceFactory, *, images: tuple[str, ...] | None = None
) -> MigrationResult:
    """Compile the planned workspace aside (``images``, default all); on success write the plan
    and the locks into the repository."""
    root = plan.root
    _still_as_planned(plan)
    files = {change.path: change.new.encode("utf-8") for change in plan.changes}
    with tempfile.TemporaryDirectory(prefix="lockaudit-migrate-") as scratch:
        staged = Path(scratch) / "repo"
        _copy_small_files(root, staged)
        write_atomically(staged, files)
        workspace = load_workspace(staged)
        with open_source(workspace) as source:
            compiled = compile_workspace(workspace, source, CompileOptions(images=images))
        if not compiled.ok:
            return MigrationResult(plan, compiled, ())
        for result in compiled.results:
            paths = lock_paths(workspace, workspace.image(result.image))
            for path in (paths.full, paths.layer, paths.pylock):
                files[path] = (staged / path).read_bytes()
    check_inside(root, files)
    return MigrationResult(plan, compiled, write_atomically(root, files))


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
