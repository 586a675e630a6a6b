"""What a Dockerfile installs, with ``-r``/``-c`` files traced back to workspace files.

A ``pip install -r /app/requirements.txt`` names a path *inside the image*. The file it reads
is found by replaying the stage: ``WORKDIR`` changes, ``COPY``/``ADD`` (not ``--from``) of files,
directories and globs, and ``RUN --mount=type=bind`` sources, all relative to the image's build
context. A path that cannot be traced is kept (``untraced``), and a traced file that does not exist
(``missing``: often a lock not generated yet) is not parsed, so rules can say so.

Decisions: every stage's installs count (a builder stage usually feeds the final one); a COPY
destination matches either itself or itself plus the source's base name, since whether it is a
directory is only known at build time.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lockaudit.errors import Location
from lockaudit.parsing.dockerfile import Dockerfile, PipInstall, Stage
from lockaudit.parsing.requirements import RequirementLine, RequirementsFile
from lockaudit.workspace.model import Image, Workspace

__all__ = ["ImageInstalls", "Install", "image_installs", "is_remote", "trace_path"]

Loader = Callable[[str], RequirementsFile]


@dataclass(frozen=True)
class Install:
    """One requirement an image's Dockerfile installs.

    ``line.location`` is where it is written (the Dockerfile, or the requirements file);
    ``via`` is the ``RUN`` that installs it; ``file`` the workspace file it came from, if any.
    """

    line: RequirementLine
    via: PipInstall
    file: str | None = None

    @property
    def in_dockerfile(self) -> bool:
        return self.file is None


@dataclass(frozen=True)
class ImageInstalls:
    """Everything one image's Dockerfile installs itself (not its parents)."""

    items: tuple[Install, ...]
    files: tuple[str, ...]  # workspace files installed with -r (includes expanded)
    constraint_files: tuple[str, ...]
    copied: tuple[str, ...]  # workspace files COPY'd into the image (files, not directories)
    untraced: tuple[tuple[Location, str], ...]  # (RUN, container path) not found in context
    missing: tuple[tuple[Location, str], ...] = ()  # (RUN, workspace path) COPY'd, not there


def image_installs(
    workspace: Workspace, image: Image, dockerfile: Dockerfile, load: Loader
) -> ImageInstalls:
    """The installs of ``image`` (its Dockerfile parsed with its build args)."""
    items: list[Install] = []
    files: list[str] = []
    constraints: list[str] = []
    untraced: list[tuple[Location, str]] = []
    missing: list[tuple[Location, str]] = []
    copied: list[str] = []
    for stage in dockerfile.stages:
        tracer = _Tracer(workspace.root, image.context, stage)
        copied.extend(tracer.copied_files())
        for install in stage.pip_installs:
            items.extend(Install(line, install) for line in install.requirements)
            for wanted, into in ((install.requirement_files, files),
                                 (install.constraint_files, constraints)):
                for container_path in wanted:
                    path = tracer.trace(install, container_path)
                    if path is None:
                        untraced.append((install.location, container_path))
                        continue
                    into.append(path)
                    if not workspace.path(path).is_file():
                        missing.append((install.location, path))  # e.g. a lock not made yet
                    elif into is files:
                        parsed = load(path)
                        files.extend(parsed.includes[1:])
                        items.extend(
                            Install(line, install, line.location.path)
                            for line in parsed.requirements
                        )
    return ImageInstalls(
        tuple(items),
        tuple(dict.fromkeys(files)),
        tuple(dict.fromkeys(constraints)),
        tuple(dict.fromkeys(copied)),
        tuple(untraced),
        tuple(missing),
    )


def trace_path(
    workspace: Workspace, image: Image, stage: Stage, install: PipInstall, container_path: str
) -> str | None:
    """The workspace file that ``container_path`` names when ``install`` runs, or None."""
    return _Tracer(workspace.root, image.context, stage).trace(install, container_path)


def from_context(
    workspace: Workspace, image: Image, stage: Stage, install: PipInstall, container_path: str
) -> bool:
    """Whether ``container_path`` is, when ``install`` runs, something a COPY brought in from
    the build context (a copied file or directory, or a path inside a copied directory)."""
    return _Tracer(workspace.root, image.context, stage).copied(install, container_path)


def is_remote(path: str) -> bool:
    """A ``-r``/``-c`` argument pip fetches (``https://…``), not a file of the image."""
    return "://" in path


@dataclass(frozen=True)
class _Mapping:
    """One place a workspace path is visible in the image: ``dest`` ← ``source``."""

    line: int
    dest: str  # absolute container path
    source: str  # workspace-relative path
    is_dir: bool


class _Tracer:
    def __init__(self, root: Path, context: str, stage: Stage) -> None:
        self.root = root
        self.context = context
        self.stage = stage
        self.workdirs: list[tuple[int, str]] = [(0, "/")]
        self.mappings: list[_Mapping] = []
        self._replay()

    def _replay(self) -> None:
        copies = {copy.location.line: copy for copy in self.stage.copies}
        for instruction in self.stage.instructions:
            line = instruction.location.line
            if instruction.keyword == "WORKDIR":
                self.workdirs.append((line, self._absolute(instruction.value, line)))
            copy = copies.get(line)
            if copy is None or copy.from_stage is not None:
                continue
            many = len(copy.sources) > 1 or copy.dest.endswith("/")
            dest = self._absolute(copy.dest, line)
            for source in copy.sources:
                for path in self._expand(source):
                    is_dir = (self.root / path).is_dir()
                    target = dest
                    if not is_dir and (many or _has_glob(source)):
                        target = posixpath.join(dest, posixpath.basename(path))
                    self.mappings.append(_Mapping(line, target, path, is_dir))

    def _expand(self, source: str) -> Iterator[str]:
        path = posixpath.normpath(posixpath.join(self.context, source))
        if not _has_glob(source):
            yield path
            return
        directory, pattern = posixpath.split(path)
        base = self.root / directory
        if base.is_dir():
            for child in sorted(base.iterdir()):
                if fnmatch.fnmatch(child.name, pattern):
                    yield posixpath.join(directory, child.name) if directory else child.name

    def _absolute(self, path: str, line: int) -> str:
        return posixpath.normpath(posixpath.join(self.workdir(line), path))

    def workdir(self, line: int) -> str:
        current = "/"
        for at, path in self.workdirs:
            if at < line:
                current = path
        return current

    def copied_files(self) -> Iterator[str]:
        return (m.source for m in self.mappings if not m.is_dir)

    def trace(self, install: PipInstall, container_path: str) -> str | None:
        """The workspace file ``container_path`` names at ``install``, or None."""
        line = install.location.line
        want = self._absolute(container_path, line)
        for mapping in [*self._binds(install), *reversed(self.mappings)]:
            if mapping.line > line:
                continue
            found = _match(mapping, want)
            # A file COPY names its source even when it is missing (a lock not made yet);
            # inside a copied directory only an existing file is evidence.
            if found is not None and (not mapping.is_dir or (self.root / found).is_file()):
                return found
        return None

    def copied(self, install: PipInstall, container_path: str) -> bool:
        line = install.location.line
        want = self._absolute(container_path, line)
        for mapping in [*self._binds(install), *self.mappings]:
            if mapping.line <= line and (
                want == mapping.dest or want.startswith(mapping.dest.rstrip("/") + "/")
            ):
                return True
        return False

    def _binds(self, install: PipInstall) -> Iterator[_Mapping]:
        line = install.location.line
        run = next((i for i in self.stage.instructions if i.location.line == line), None)
        if run is None:
            return
        for flag in run.flags:
            if not flag.startswith("--mount=") or "type=bind" not in flag:
                continue
            fields = dict(part.partition("=")[::2] for part in flag[8:].split(","))
            source = fields.get("source", fields.get("src", "."))
            target = fields.get("target", fields.get("dst", fields.get("destination")))
            if target:
                path = posixpath.normpath(posixpath.join(self.context, source))
                yield _Mapping(line, self._absolute(target, line), path,
                               (self.root / path).is_dir())


def _match(mapping: _Mapping, want: str) -> str | None:
    if mapping.is_dir:
        if want == mapping.dest:
            return None
        prefix = mapping.dest.rstrip("/") + "/"
        if want.startswith(prefix):
            return posixpath.normpath(posixpath.join(mapping.source, want[len(prefix):]))
        return None
    if want in (mapping.dest, posixpath.join(mapping.dest, posixpath.basename(mapping.source))):
        return mapping.source
    return None


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")
