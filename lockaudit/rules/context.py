"""The parsed inputs every ``check`` rule shares: :class:`CheckContext`.

The files come from the command's :class:`~lockaudit.workspace.inputs.Inputs` (the one
loader, which parses each once and decides how build args and absent files are read);
:meth:`CheckContext.load` gathers what the rules read and raises every bad line of the declared
files at once (:class:`~lockaudit.errors.InputError`, exit 2 at the CLI). Rules never read
files and never touch the network, so the whole ``check`` stays fast enough for a pre-commit
hook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeVar

from lockaudit.errors import InputError
from lockaudit.locks import LockText, lock_paths
from lockaudit.parsing.dockerfile import Dockerfile
from lockaudit.parsing.requirements import IndexOptions, RequirementsFile
from lockaudit.parsing.versions import VersionsFile
from lockaudit.rules.installs import ImageInstalls, image_installs
from lockaudit.workspace.graph import lock_view
from lockaudit.workspace.inputs import Inputs, Unchecked, as_inputs
from lockaudit.workspace.model import Image, Workspace

__all__ = ["CheckContext", "Unchecked", "distinct_dockerfiles"]

T = TypeVar("T")


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
    _inputs: Inputs | None = field(default=None, compare=False, repr=False)
    _derived: dict[object, Any] = field(default_factory=dict, compare=False, repr=False)

    def derived(self, key: object, compute: Callable[[], T]) -> T:
        """``compute()`` once per context: what several rules derive from the same inputs."""
        if key not in self._derived:
            self._derived[key] = compute()
        found: T = self._derived[key]
        return found

    @classmethod
    def load(cls, workspace: Workspace | Inputs) -> CheckContext:
        """Parse every input of ``workspace``; raises InputError(s) for bad lines."""
        inputs = as_inputs(workspace)
        workspace = inputs.workspace
        configured = workspace.images
        parsed = inputs.dockerfiles
        if parsed.unchecked:
            left_out = {u.image.key for u in parsed.unchecked}
            workspace = replace(
                workspace, images=tuple(i for i in workspace.images if i.key not in left_out)
            )
        inputs.raise_errors(workspace.images)  # every bad line at once, before any rule runs
        checked = {
            path
            for image in workspace.images
            for path in (lock_paths(workspace, image).full, lock_paths(workspace, image).layer)
        }
        locks = {path: text for path, text in inputs.locks.texts.items() if path in checked}
        files: dict[str, RequirementsFile] = {}

        def load_requirements(path: str) -> RequirementsFile:
            if path not in files:
                files[path] = _as_requirements(inputs, path, checked)
            return files[path]

        common_file = load_requirements(inputs.common_path) if inputs.common_path else None
        constraints = {path: load_requirements(path) for _, path in workspace.constraints}
        for image in workspace.images:
            for path in image.requirements:
                load_requirements(path)
        installs = {
            image.key: image_installs(
                workspace, image, parsed.parsed[image.key], load_requirements
            )
            for image in workspace.images
        }
        for found in installs.values():
            for path in found.constraint_files:
                constraints.setdefault(path, load_requirements(path))
        return cls(
            workspace=workspace,
            dockerfiles=MappingProxyType(
                {i.key: parsed.parsed[i.key] for i in workspace.images}
            ),
            requirement_files=MappingProxyType(files),
            versions=inputs.versions,
            common=common_file,
            constraints=MappingProxyType(constraints),
            installs=MappingProxyType(installs),
            locks=MappingProxyType(locks),
            unchecked=parsed.unchecked,
            configured=configured,
            repository_dockerfiles=inputs.repository_dockerfiles,
            _inputs=inputs,
        )

    @cached_property
    def inputs(self) -> Inputs:
        """The command's loaded inputs: what a rule needs beyond the fields is read there."""
        return self._inputs or Inputs.of(self.workspace)

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


def _as_requirements(inputs: Inputs, path: str, locks: set[str]) -> RequirementsFile:
    """A requirements file a Dockerfile installs; a lock that pip could not read installs
    nothing here: ``lock-tampered`` reports it at its line (a check finding, exit 1), where an
    input error would stop the gate at exit 2 as if the user's own file were wrong."""
    try:
        return inputs.requirements(path)
    except InputError:
        if path not in locks:
            raise
        return RequirementsFile(path, (), (), IndexOptions(), (path,))


def distinct_dockerfiles(ctx: CheckContext) -> Iterator[tuple[Image, Dockerfile]]:
    """Each Dockerfile once, with the first image built from it (a fallback shares its twin's
    file: rules about the file's text report it once)."""
    seen: set[str] = set()
    for image in ctx.workspace.images:
        if image.dockerfile not in seen:
            seen.add(image.dockerfile)
            yield image, ctx.dockerfiles[image.key]
