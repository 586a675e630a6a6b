"""The loaded workspace: every file a command reads, read and parsed in one place.

:func:`load_inputs` builds one frozen :class:`Inputs` per command from the workspace root: the
configuration (a :class:`~lockaudit.workspace.model.Workspace`), and on first use the parsed
Dockerfiles, requirement and constraint files, ``versions.txt``, the locks on disk and the raw
bytes of any other workspace file. Commands and rules ask it; none of them opens a workspace
file or calls a parser itself (``tests/test_architecture.py`` holds them to it), so a fact
about the workspace is the same in every command.

Decisions:

* Lazy: a fact is parsed when first asked, then kept for the rest of the command. ``check``
  asks for nearly everything; ``compile --stage x`` only for what x's locks depend on, and
  a no-op compile parses no Dockerfile at all.
* One value per command, never refreshed: a command that writes files (``compile``) builds a
  new :class:`Inputs` to read them back.
* Dockerfiles are parsed with the image's build args; the workspace's ``registry`` and
  ``image-prefix`` fill ``REGISTRY``/``IMAGE_PREFIX`` only when the Dockerfile's own ARG has no
  value (as a build script that passes them would), never overriding an ARG default or an
  image's build args. The same rule for every command.
* A ``versions``/``common`` path that does not exist is treated as absent (the config defaults
  name them even in repositories that have none); an image's own requirement files must exist.
* :meth:`Inputs.errors` collects every located error of the declared files (missing files,
  bad lines) instead of stopping at the first; :meth:`Inputs.raise_errors` raises them as one
  :class:`~lockaudit.errors.InputErrors`. A Dockerfile that cannot be parsed is no error here
  but an :class:`Unchecked` image: ``check`` reports it as a finding.
* The locks are read through ``parsecache`` (parsed once per distinct set of lock bytes, across
  runs): the cache of parsed files belongs to this loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from lockaudit.errors import InputError, InputErrors, Location
from lockaudit.workspace.config import load_workspace, require_dockerfile, require_requirement_files
from lockaudit.workspace.model import Image, Workspace

if TYPE_CHECKING:
    from lockaudit.locks import LockMemo, LockText, WorkspaceLocks
    from lockaudit.parsing.dockerfile import Dockerfile
    from lockaudit.parsing.requirements import RequirementsFile
    from lockaudit.parsing.versions import VersionsFile

__all__ = ["Inputs", "ParsedDockerfiles", "Unchecked", "as_inputs", "load_inputs"]

# Build args the workspace supplies when a Dockerfile's ARG has no value of its own.
_WORKSPACE_ARGS = {"REGISTRY": "registry", "IMAGE_PREFIX": "image_prefix"}

_ArgsKey = tuple[str, tuple[tuple[str, str], ...], str]
# the parsed Dockerfiles by image, the unchecked images, every parse by file and args
_CachedParses = tuple[
    dict[str, "Dockerfile"], tuple["Unchecked", ...], dict[_ArgsKey, "Dockerfile | InputError"]
]


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
class ParsedDockerfiles:
    """Every image's parsed Dockerfile (by image key), and the images that have none."""

    parsed: Mapping[str, Dockerfile]
    unchecked: tuple[Unchecked, ...]


@dataclass
class _Memo:
    """What one command has read so far (the only mutable part of an :class:`Inputs`)."""

    raw: dict[str, bytes | None] = field(default_factory=dict)
    requirements: dict[str, RequirementsFile] = field(default_factory=dict)
    versions: dict[str, VersionsFile] = field(default_factory=dict)
    dockerfiles: dict[_ArgsKey, Dockerfile | InputError] = field(default_factory=dict)
    lock_memo: LockMemo | None = None


@dataclass(frozen=True)
class Inputs:
    """One workspace as a command sees it: the configuration and every file, parsed once."""

    workspace: Workspace
    _memo: _Memo = field(default_factory=_Memo, compare=False, repr=False)

    @classmethod
    def of(cls, workspace: Workspace, *, lock_memo: LockMemo | None = None) -> Inputs:
        """The inputs of an already loaded configuration (a staged copy, a test's workspace);
        ``lock_memo`` shares the lock entries an earlier read of the same command parsed."""
        return cls(workspace, _Memo(lock_memo=lock_memo))

    @property
    def root(self) -> Path:
        return self.workspace.root

    @cached_property
    def unused_allow(self) -> frozenset[str]:
        """``[tool.lockaudit.unused] allow``: names the unused-package review never reports."""
        from lockaudit.workspace.config import load_unused_allowlist

        return load_unused_allowlist(self.root)

    # -- raw files --------------------------------------------------------------------------

    def file_bytes(self, path: str) -> bytes | None:
        """The bytes of the workspace file ``path`` (relative to the root), None if unreadable."""
        if path not in self._memo.raw:
            try:
                self._memo.raw[path] = self.workspace.path(path).read_bytes()
            except OSError:
                self._memo.raw[path] = None
        return self._memo.raw[path]

    def file_text(self, path: str, *, errors: str = "strict") -> str | None:
        """The text (UTF-8) of ``path``; None if it cannot be read or decoded."""
        data = self.file_bytes(path)
        try:
            return None if data is None else data.decode("utf-8", errors=errors)
        except UnicodeDecodeError:
            return None

    def exists(self, path: str | None) -> bool:
        return bool(path) and self.workspace.path(path or "").is_file()

    def copied_files(self, context: str, source: str, *, suffix: str) -> tuple[str, ...]:
        """The files ending in ``suffix`` that ``COPY <source>`` takes from the build context
        ``context`` (a glob, a file, or a folder taken whole), as workspace-relative paths;
        none outside the workspace."""
        root = self.root.resolve()
        base = (self.root / context).resolve()
        pattern = source.lstrip("/")
        matches = sorted(base.glob(pattern)) if any(c in pattern for c in "*?[") else []
        found: list[str] = []
        for path in (p.resolve() for p in matches or [base / pattern]):
            inside = path.rglob(f"*{suffix}") if path.is_dir() else [path]
            found += [
                p.relative_to(root).as_posix()
                for p in sorted(inside)
                if p.suffix == suffix and p.is_file() and p.is_relative_to(root)
            ]
        return tuple(found)

    # -- requirement files ------------------------------------------------------------------

    def requirements(self, path: str) -> RequirementsFile:
        """The parsed requirements file ``path``; raises InputError on a bad line.

        A lock of the workspace is viewed through its lock parse (the same lines, read once).
        """
        found = self._memo.requirements.get(path)
        if found is None:
            found = self._memo.requirements[path] = self._parse_requirements(path)
        return found

    def _parse_requirements(self, path: str) -> RequirementsFile:
        if self._is_lock(path):
            from lockaudit.locks import LockText, lock_requirements

            text = self.locks.texts.get(path)
            if isinstance(text, LockText) and not text.tampered:
                return lock_requirements(text, self.lock_memo)
        from lockaudit.parsing.requirements import parse_requirements

        return parse_requirements(self.root, path)

    def _is_lock(self, path: str) -> bool:
        prefix = self.workspace.locks_dir.strip("/") + "/"
        return prefix != "/" and path.startswith(prefix)

    @cached_property
    def common_path(self) -> str | None:
        """The common requirements file when it exists (see the module docstring)."""
        common = self.workspace.common
        return common if self.exists(common) else None

    @cached_property
    def common(self) -> RequirementsFile | None:
        return self.requirements(self.common_path) if self.common_path else None

    @cached_property
    def constraints(self) -> Mapping[str, RequirementsFile]:
        """Every configured constraint file, parsed, by path."""
        return MappingProxyType(
            {path: self.requirements(path) for _, path in self.workspace.constraints}
        )

    def image_files(self, image: Image) -> tuple[RequirementsFile, ...]:
        """The requirement files ``image`` declares, parsed, in declaration order."""
        require_requirement_files(self.workspace, image)
        return tuple(self.requirements(path) for path in image.requirements)

    # -- versions.txt -----------------------------------------------------------------------

    def versions_file(self, path: str) -> VersionsFile:
        found = self._memo.versions.get(path)
        if found is None:
            from lockaudit.parsing.versions import parse_versions

            found = self._memo.versions[path] = parse_versions(self.root, path)
        return found

    @cached_property
    def versions(self) -> VersionsFile | None:
        """``versions.txt`` when it exists (see the module docstring)."""
        path = self.workspace.versions
        return self.versions_file(path) if path and self.exists(path) else None

    # -- Dockerfiles ------------------------------------------------------------------------

    def dockerfile(self, image: Image) -> Dockerfile:
        """``image``'s Dockerfile parsed with its build args, workspace defaults filling empty
        ARGs; raises InputError when it is missing or cannot be parsed."""
        require_dockerfile(self.workspace, image)
        args = dict(image.build_args)
        first = f"FROM {self.workspace.from_reference(image)}" if image.from_inserted else ""
        parsed = self._parsed_dockerfile(image.dockerfile, args, first)
        defaults = {
            arg: value
            for arg, attr in _WORKSPACE_ARGS.items()
            if (value := getattr(self.workspace, attr)) and arg not in args
        }
        if defaults and any(_lacks_value(parsed, arg) for arg in defaults):
            wanted = {a: v for a, v in defaults.items() if _lacks_value(parsed, a)}
            parsed = self._parsed_dockerfile(image.dockerfile, {**wanted, **args}, first)
        return parsed

    def _parsed_dockerfile(self, path: str, args: dict[str, str], first: str) -> Dockerfile:
        """One parse per file, set of args and written first line (a CPU fallback shares its
        twin's parse)."""
        key = (path, tuple(sorted(args.items())), first)
        found = self._memo.dockerfiles.get(key)
        if found is None:
            from lockaudit.parsing.dockerfile import parse_dockerfile

            try:
                found = parse_dockerfile(self.root, path, args, first_line=first)
            except InputError as e:
                found = e
            self._memo.dockerfiles[key] = found
        if isinstance(found, InputError):
            raise found
        return found

    @cached_property
    def dockerfiles(self) -> ParsedDockerfiles:
        """Each image's Dockerfile, and the images left unchecked: one that cannot be parsed
        is a finding (never a crash of the gate), and its descendants, built on an image nobody
        can describe, are not checked either. A missing Dockerfile raises (a wrong path).

        Kept between runs (``parsecache``) under a key of the images' configuration and every
        Dockerfile's bytes: a check after an edit of a requirements file, the hook's usual
        case, parses no Dockerfile (at 200 images, parsing them was a fifth of that check)."""
        key = self._dockerfiles_key()
        if key is None:  # a Dockerfile is missing: parsing raises where it should
            return self._parse_dockerfiles()
        from lockaudit.workspace.parsecache import cached_in_slot

        def parse() -> _CachedParses:
            found = self._parse_dockerfiles()
            return dict(found.parsed), found.unchecked, dict(self._memo.dockerfiles)

        slot = f"dockerfiles:{self.root.resolve()}"
        parsed, unchecked, memo = cached_in_slot(slot, key, parse)
        for args_key, value in memo.items():  # what dockerfile(image) asks for again
            self._memo.dockerfiles.setdefault(args_key, value)
        return ParsedDockerfiles(MappingProxyType(parsed), unchecked)

    def _dockerfiles_key(self) -> bytes | None:
        import hashlib

        key = hashlib.sha256(repr(self.workspace.images).encode())
        key.update(repr([getattr(self.workspace, a) for a in _WORKSPACE_ARGS.values()]).encode())
        for path in sorted({image.dockerfile for image in self.workspace.images}):
            data = self.file_bytes(path)
            if data is None:
                return None
            key.update(f"{path}\0{hashlib.sha256(data).hexdigest()}\n".encode())
        return key.digest()

    def _parse_dockerfiles(self) -> ParsedDockerfiles:
        parsed: dict[str, Dockerfile] = {}
        unchecked: dict[str, Unchecked] = {}
        for image in self.workspace.images:  # parents first
            cause = unchecked.get(image.parent) if image.parent is not None else None
            if cause is not None:
                root_cause = cause.because_of or cause.image.key
                unchecked[image.key] = Unchecked(image, cause.location, cause.message, root_cause)
                continue
            require_dockerfile(self.workspace, image)
            try:
                parsed[image.key] = self.dockerfile(image)
            except InputError as e:
                unchecked[image.key] = Unchecked(image, e.location, e.message)
        return ParsedDockerfiles(MappingProxyType(parsed), tuple(unchecked.values()))

    @cached_property
    def repository_dockerfiles(self) -> tuple[str, ...]:
        """Every Dockerfile of the repository (``workspace/tree.py``), images' or not."""
        from lockaudit.workspace.tree import repository_dockerfiles

        return repository_dockerfiles(self.root)

    # -- locks ------------------------------------------------------------------------------

    @cached_property
    def lock_memo(self) -> LockMemo:
        """One memo for every lock of the command: children repeat their parents' entries."""
        from lockaudit.locks import LockMemo

        return self._memo.lock_memo or LockMemo()

    @cached_property
    def locks(self) -> WorkspaceLocks:
        """Every image's full and layer lock on disk, parsed (or why not), cached by bytes."""
        from lockaudit.locks import read_workspace_locks

        return read_workspace_locks(self.workspace, self.lock_memo)

    def lock_text(self, path: str) -> LockText | None:
        """The parsed text lock at ``path``; None when there is none, InputError when it cannot
        be read (an image's lock comes from :attr:`locks`, parsed once)."""
        if self._is_lock(path) and path in self.locks.texts:
            known = self.locks.texts[path]
            if isinstance(known, InputError):
                raise known
            return known
        data = self.file_bytes(path)
        if data is None:
            return None
        from lockaudit.locks import parse_lock_data

        return parse_lock_data(data, path, self.lock_memo)

    # -- errors -----------------------------------------------------------------------------

    def errors(self, images: Iterable[Image] | None = None) -> tuple[InputError, ...]:
        """Every located error of the declared files of ``images`` (default: all), in the
        order the files are read: missing Dockerfiles, then bad lines of the common and
        constraint files, missing or bad requirement files of each image, ``versions.txt``."""
        workspace = self.workspace
        chosen = tuple(workspace.images if images is None else images)
        found: list[InputError] = []
        for image in chosen:
            _attempt(found, require_dockerfile, workspace, image)
        if self.common_path:
            _attempt(found, self.requirements, self.common_path)
        for _, path in workspace.constraints:
            _attempt(found, self.requirements, path)
        for image in chosen:
            _attempt(found, require_requirement_files, workspace, image)
            for path in image.requirements:
                if self.exists(path):
                    _attempt(found, self.requirements, path)
        if workspace.versions and self.exists(workspace.versions):
            _attempt(found, self.versions_file, workspace.versions)
        unique = {(str(e.location), e.message): e for e in found}
        return tuple(unique.values())

    def raise_errors(self, images: Iterable[Image] | None = None) -> None:
        """Raise every error of :meth:`errors` at once (one alone as itself)."""
        errors = self.errors(images)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise InputErrors(errors)


def _attempt(found: list[InputError], read: Callable[..., object], *args: object) -> None:
    """``read(*args)``, its located errors added to ``found`` instead of raised."""
    try:
        read(*args)
    except InputErrors as e:
        found.extend(e.errors)
    except InputError as e:
        found.append(e)


def _lacks_value(dockerfile: Dockerfile, name: str) -> bool:
    return any(name in stage.from_line.unresolved for stage in dockerfile.stages)


def load_inputs(root: Path) -> Inputs:
    """The inputs of the workspace at ``root``; raises InputError for a bad configuration."""
    return Inputs.of(load_workspace(root))


def as_inputs(given: Inputs | Workspace) -> Inputs:
    """Library entry points take :class:`Inputs`; a bare Workspace (a test's) is wrapped."""
    return given if isinstance(given, Inputs) else Inputs.of(given)
