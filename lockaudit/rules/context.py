"""The parsed inputs every ``check`` rule shares: :class:`CheckContext`.

Every input is parsed once, in :meth:`CheckContext.load`; a parse error propagates as
:class:`~lockaudit.errors.InputError` (exit 2 at the CLI). Rules never read files and never
touch the network, so the whole ``check`` stays fast enough for a pre-commit hook.

Decisions:

* The workspace's ``registry`` and ``image-prefix`` are *defaults*: they fill ``REGISTRY`` /
  ``IMAGE_PREFIX`` only when the Dockerfile's own ARG has no value (as a build script that
  passes them would), never overriding an ARG default or an image's build args.
* A ``versions``/``common`` path that does not exist is treated as absent (the config defaults
  name them even in repositories that have none); an image's own requirement files must exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeVar

from lockaudit.errors import InputError, Location
from lockaudit.locks import LockMemo, LockText, lock_requirements, read_workspace_locks
from lockaudit.parsing.dockerfile import Dockerfile, parse_dockerfile
from lockaudit.parsing.requirements import RequirementsFile, parse_requirements
from lockaudit.parsing.versions import VersionsFile, parse_versions
from lockaudit.rules.installs import ImageInstalls, image_installs
from lockaudit.workspace.config import require_dockerfile, require_requirement_files
from lockaudit.workspace.graph import lock_view
from lockaudit.workspace.model import Image, Workspace
from lockaudit.workspace.tree import repository_dockerfiles

__all__ = ["CheckContext", "Unchecked", "distinct_dockerfiles"]

T = TypeVar("T")

# Build args the workspace supplies when a Dockerfile's ARG has no value of its own.
_WORKSPACE_ARGS = {"REGISTRY": "registry", "IMAGE_PREFIX": "image_prefix"}


@dataclass(frozen=True)
class Unchecked:
    """An image the rules cannot check: its Dockerfile, or an ancestor's, cannot be read.

    ``location`` and ``message`` are the parse error; ``because_of`` is the key of the
    ancestor whose Dockerfile failed, None when it is the image's own.
    """

    image: Image
    location: Location
    message: str
    because_of: str | None = None


@dataclass(frozen=True)
class CheckContext:
    """The workspace and every input the rules read, each parsed exactly once.

    ``dockerfiles`` maps an image key to its Dockerfile parsed with that image's build args
    (a CPU fallback shares its twin's file but not its args). ``requirement_files`` maps a
    workspace-relative path to the parsed file, for every file an image declares, a Dockerfile
    installs (``-r``/``-c`` traced back through COPY), the common file and constraint files.
    ``installs`` maps an image key to what its Dockerfile installs, requirement files expanded.
    ``locks`` maps the path of every lock file that exists (each image's full and layer lock)
    to the parsed lock, or to the error that makes it unreadable (a rule reports it).
    ``unchecked`` holds the images whose Dockerfile (or an ancestor's) cannot be parsed: they
    are left out of ``workspace`` (a rule reports them), so the other rules never see half an
    image. ``configured`` is every image of the configuration, those included;
    ``repository_dockerfiles`` every Dockerfile of the repository (``workspace/tree.py``).
    """

    workspace: Workspace
    dockerfiles: Mapping[str, Dockerfile]
    requirement_files: Mapping[str, RequirementsFile]
    versions: VersionsFile | None = None
    common: RequirementsFile | None = None
    constraints: Mapping[str, RequirementsFile] = field(
        default_factory=lambda: MappingProxyType({})
    )
    installs: Mapping[str, ImageInstalls] = field(default_factory=lambda: MappingProxyType({}))
    locks: Mapping[str, LockText | InputError] = field(default_factory=lambda: MappingProxyType({}))
    unchecked: tuple[Unchecked, ...] = ()
    configured: tuple[Image, ...] = ()
    repository_dockerfiles: tuple[str, ...] = ()
    _derived: dict[object, Any] = field(default_factory=dict, compare=False, repr=False)

    def derived(self, key: object, compute: Callable[[], T]) -> T:
        """``compute()`` once per context: what several rules derive from the same inputs."""
        if key not in self._derived:
            self._derived[key] = compute()
        found: T = self._derived[key]
        return found

    @classmethod
    def load(cls, workspace: Workspace) -> CheckContext:
        """Parse every input of ``workspace``; raises InputError on the first bad line."""
        root = workspace.root
        configured = workspace.images
        dockerfiles, unchecked = _parse_dockerfiles(workspace)
        if unchecked:
            left_out = {u.image.key for u in unchecked}
            workspace = replace(
                workspace, images=tuple(i for i in workspace.images if i.key not in left_out)
            )
        memo = LockMemo()
        read = read_workspace_locks(workspace, memo)
        locks = read.texts
        files: dict[str, RequirementsFile] = {}

        def load_requirements(path: str) -> RequirementsFile:
            if path in files:
                return files[path]
            found = locks.get(path)
            if path in read.requirements:
                files[path] = read.requirements[path]  # a layer lock, viewed with the parse
            elif isinstance(found, LockText) and not found.tampered:
                files[path] = lock_requirements(found, memo)  # another lock: read once too
            else:
                files[path] = parse_requirements(root, path)
            return files[path]

        common = _optional(workspace, workspace.common)
        common_file = load_requirements(common) if common else None
        constraints = {path: load_requirements(path) for _, path in workspace.constraints}
        for image in workspace.images:
            require_requirement_files(workspace, image)
            for path in image.requirements:
                load_requirements(path)
        installs = {
            image.key: image_installs(workspace, image, dockerfiles[image.key], load_requirements)
            for image in workspace.images
        }
        for found in installs.values():
            for path in found.constraint_files:
                constraints.setdefault(path, load_requirements(path))
        versions = _optional(workspace, workspace.versions)
        return cls(
            workspace=workspace,
            dockerfiles=MappingProxyType(dockerfiles),
            requirement_files=MappingProxyType(files),
            versions=parse_versions(root, versions) if versions else None,
            common=common_file,
            constraints=MappingProxyType(constraints),
            installs=MappingProxyType(installs),
            locks=MappingProxyType(locks),
            unchecked=unchecked,
            configured=configured,
            repository_dockerfiles=repository_dockerfiles(root),
        )

    def is_lock(self, path: str) -> bool:
        """True for a file under the workspace's locks directory (a generated lock)."""
        return path.startswith(self._locks_prefixes)

    @cached_property
    def lockable(self) -> Workspace:
        """The workspace the lock rules check: its Python images (``workspace.graph.lock_view``)."""
        return lock_view(self.workspace)

    @cached_property
    def _locks_prefixes(self) -> tuple[str, ...]:
        """The workspace's locks folder and the images' own ones (a root folder is no prefix)."""
        folders = [self.workspace.locks_dir, *(i.locks_dir or "" for i in self.workspace.images)]
        prefixes = (folder.strip("/") + "/" for folder in folders)
        return tuple(dict.fromkeys(p for p in prefixes if p != "/"))

    def image_files(self, image: Image) -> tuple[RequirementsFile, ...]:
        """The parsed requirement files ``image`` declares, in declaration order."""
        return tuple(self.requirement_files[path] for path in image.requirements)


def distinct_dockerfiles(ctx: CheckContext) -> Iterator[tuple[Image, Dockerfile]]:
    """Each Dockerfile once, with the first image built from it (a fallback shares its twin's
    file: rules about the file's text report it once)."""
    seen: set[str] = set()
    for image in ctx.workspace.images:
        if image.dockerfile not in seen:
            seen.add(image.dockerfile)
            yield image, ctx.dockerfiles[image.key]


def _optional(workspace: Workspace, path: str | None) -> str | None:
    """``path`` when it names an existing file, else None (see the module docstring)."""
    return path if path and workspace.path(path).is_file() else None


def _parse_dockerfiles(workspace: Workspace) -> tuple[dict[str, Dockerfile], tuple[Unchecked, ...]]:
    """Each image's parsed Dockerfile, and the images left unchecked: a Dockerfile that cannot
    be parsed is a finding (never a crash of the gate), and its descendants, built on an image
    nobody can describe, are not checked either. Images come parents first."""
    parsed: dict[tuple[str, tuple[tuple[str, str], ...]], Dockerfile] = {}
    dockerfiles: dict[str, Dockerfile] = {}
    unchecked: dict[str, Unchecked] = {}
    for image in workspace.images:
        cause = unchecked.get(image.parent) if image.parent is not None else None
        if cause is not None:
            root_cause = cause.because_of or cause.image.key
            unchecked[image.key] = Unchecked(image, cause.location, cause.message, root_cause)
            continue
        require_dockerfile(workspace, image)
        try:
            dockerfiles[image.key] = _parse_image_dockerfile(workspace, image, parsed)
        except InputError as e:
            unchecked[image.key] = Unchecked(image, e.location, e.message)
    return dockerfiles, tuple(unchecked.values())


def _parse_image_dockerfile(
    workspace: Workspace,
    image: Image,
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], Dockerfile],
) -> Dockerfile:
    """The Dockerfile with the image's build args, workspace defaults filling empty ARGs.

    ``cache`` shares one parse between images built from one file with the same args (a CPU
    fallback made by a rewrite has no args of its own).
    """
    args = dict(image.build_args)
    parsed = _parse_cached(workspace, image.dockerfile, args, cache)
    defaults = {
        arg: getattr(workspace, attr)
        for arg, attr in _WORKSPACE_ARGS.items()
        if getattr(workspace, attr) and arg not in args and _lacks_value(parsed, arg)
    }
    if not defaults:
        return parsed
    return _parse_cached(workspace, image.dockerfile, {**defaults, **args}, cache)


def _parse_cached(
    workspace: Workspace,
    path: str,
    args: dict[str, str],
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], Dockerfile],
) -> Dockerfile:
    key = (path, tuple(sorted(args.items())))
    if key not in cache:
        cache[key] = parse_dockerfile(workspace.root, path, args)
    return cache[key]


def _lacks_value(dockerfile: Dockerfile, name: str) -> bool:
    return any(name in stage.from_line.unresolved for stage in dockerfile.stages)
