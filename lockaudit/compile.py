"""``lockaudit compile``: resolve images in build order and write their locks.

An image's roots are its requirement files (REQUIREMENT), the constraint files of its variant,
the ``versions.txt`` pins and the common requirements (CONSTRAINT), and every pin of its
parent's full lock (PARENT: frozen, already installed). The existing lock of the image supplies
preferences, so a recompile changes as little as it can; ``--upgrade`` drops them all and
``--upgrade-package P`` drops only P's.

Decisions:
- The named images are compiled, and first every ancestor whose lock is missing, unreadable or
  stale, parents first. A child is resolved against its parent's lock *as it will be written*,
  so one run leaves a consistent chain.
- Writing is all or nothing: if any image fails, no lock of the run is written (an ancestor's
  new lock without its child's would leave the child stale against it). Files whose bytes are
  unchanged are never rewritten.
- A package the parent provides is copied from the parent's lock (version, files, index, layer),
  adding only this image's ``# via`` lines, so a child's lock is a superset of its parent's with
  identical pins by construction.
- ``# via`` names root requirements (``<image>: <file:line>``) and packages; constraint and parent
  origins are not "via": they restrict or provide, they do not ask for a package.
- ``offline`` is carried for the caller that builds the metadata source; compiling itself never
  opens a connection of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from packaging.utils import NormalizedName

from lockaudit.errors import IndexFetchError, InputError
from lockaudit.index.types import Candidate, DistFile, MetadataSource, Mirrored
from lockaudit.index.urls import redact
from lockaudit.locks import (
    DEFAULT_INDEX,
    NO_URL,
    PYLOCK_FORM,
    InputDigest,
    Lock,
    LockedFile,
    LockedPackage,
    LockMemo,
    LockText,
    RequirementsLoader,
    input_digest,
    lock_paths,
    parse_lock,
    pylock_body_digest,
    pylock_packages,
    render_all,
    write_atomically,
)
from lockaudit.parsing.directref import DIRECT_INDEX
from lockaudit.parsing.pep508 import requirement as parse_requirement
from lockaudit.parsing.requirements import RequirementLine, RequirementsFile
from lockaudit.parsing.versions import VersionsFile
from lockaudit.redact import bare_url
from lockaudit.resolve import (
    Conflict,
    Origin,
    RequirementKind,
    Resolution,
    ResolutionFailed,
    RootRequirement,
    explain_all,
    resolve,
)
from lockaudit.workspace.config import require_requirement_files
from lockaudit.workspace.graph import build_order, lock_view
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Workspace
from lockaudit.workspace.paths import check_inside
from lockaudit.workspace.roots import image_root_lines

__all__ = [
    "CompileOptions",
    "CompileReporter",
    "CompileResult",
    "ImageResult",
    "Status",
    "compile_workspace",
    "image_roots",
]


@dataclass(frozen=True)
class CompileOptions:
    """What to compile and how; ``images`` None means every image of the workspace."""

    images: tuple[str, ...] | None = None
    upgrade: bool = False
    upgrade_packages: frozenset[NormalizedName] = frozenset()
    offline: bool = False
    dry_run: bool = False


class Status(StrEnum):
    WRITTEN = "written"  # new bytes are on disk
    UNCHANGED = "unchanged"  # the lock on disk already had these exact bytes
    NOT_WRITTEN = (
        "not-written"  # resolved, but a dry run or another image's failure kept it off disk
    )
    FAILED = "failed"  # cannot be resolved: see ``conflicts``
    SKIPPED = "skipped"  # an ancestor failed, so there is nothing to resolve against


@dataclass(frozen=True)
class ImageResult:
    """What compiling one image gave.

    ``changed`` lists the lock files whose bytes differ from disk (written or not).
    For a failure caused by the frozen parent (``Conflict.with_parent``), ``reinstall`` names the
    parent packages a fix in this layer would reinstall and ``reinstall_bytes`` their download
    size, from the file sizes the index gave.
    """

    image: str
    status: Status
    lock: Lock | None = None
    changed: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    reinstall: tuple[NormalizedName, ...] = ()
    reinstall_bytes: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class CompileResult:
    results: tuple[ImageResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status not in (Status.FAILED, Status.SKIPPED) for r in self.results)

    def result(self, key: str) -> ImageResult:
        return next(r for r in self.results if r.image == key)


class CompileReporter:
    """Progress hooks; every method is a no-op here, a renderer overrides what it shows."""

    def starting(self, image: Image) -> None:
        """About to resolve ``image``."""

    def finished(self, result: ImageResult) -> None:
        """``image`` resolved or failed (before anything is written)."""


@dataclass
class _Run:
    """The state of one compile: locks as they will be after the run (mutable only here).

    ``workspace`` is the lock view of the inputs' (images without Python left out); every file
    is read through ``inputs``.
    """

    inputs: Inputs
    workspace: Workspace
    source: MetadataSource
    options: CompileOptions
    reporter: CompileReporter
    texts: dict[str, LockText | None] = field(default_factory=dict)
    pending: dict[str, dict[str, bytes]] = field(default_factory=dict)
    results: dict[str, ImageResult] = field(default_factory=dict)

    @property
    def memo(self) -> LockMemo:
        return self.inputs.lock_memo  # children repeat their parents' entries

    def load(self, path: str) -> RequirementsFile:
        """A requirements file, parsed once (digests and roots both read it), that can be
        locked: every line names its project."""
        parsed = self.inputs.requirements(path)
        for text, location in parsed.unnamed:  # `check` reports it as a finding
            raise InputError(
                location,
                f"invalid requirement '{text}': cannot tell the project name, so it "
                "cannot be locked",
                hint="write 'name @ url' (a VCS URL with a commit: "
                "name @ git+https://…@<commit>), or install it outside the requirements",
            )
        return parsed

    def load_versions(self, path: str) -> VersionsFile:
        """``versions.txt`` too: every image's roots carry its pins."""
        return self.inputs.versions_file(path)

    def read(self, path: str) -> bytes | None:
        return self.inputs.file_bytes(path)


def compile_workspace(
    inputs: Inputs | Workspace,
    source: MetadataSource,
    options: CompileOptions,
    reporter: CompileReporter | None = None,
) -> CompileResult:
    """Compile the images ``options`` names (and stale ancestors), sharing one ``source``."""
    loaded = as_inputs(inputs)
    _require_python(loaded.workspace, options.images)
    workspace = lock_view(loaded.workspace)  # images without Python have nothing to lock
    run = _Run(loaded, workspace, source, options, reporter or CompileReporter())
    order = build_order(workspace)
    wanted = _wanted(workspace, options.images)
    for image in order:
        if image.key in wanted or _ancestor_needs_compile(run, image, wanted):
            require_requirement_files(workspace, image)
            run.results[image.key] = _compile_image(run, image)
    return CompileResult(_finish(run, order))


def _require_python(workspace: Workspace, images: tuple[str, ...] | None) -> None:
    for key in images or ():
        if key in {image.key for image in workspace.images if not image.python}:
            raise InputError(
                workspace.config_location,
                f"{key} is not a Python image (`python = false`): it has nothing to lock",
                hint="compile its Python images, or remove `python = false` if it has Python",
            )


def _wanted(workspace: Workspace, images: tuple[str, ...] | None) -> frozenset[str]:
    if images is None:
        return frozenset(image.key for image in workspace.images)
    for key in images:
        try:
            workspace.image(key)
        except KeyError:
            raise InputError(
                workspace.config_location,
                f"no image {key!r} in the workspace",
                hint="known images: " + ", ".join(i.key for i in workspace.images),
            ) from None
    return frozenset(images)


def _ancestor_needs_compile(run: _Run, image: Image, wanted: frozenset[str]) -> bool:
    """An ancestor of a wanted image is compiled when its lock is missing or stale."""
    descendants = [key for key in wanted if image in run.workspace.ancestors(key)]
    if not descendants:
        return False
    text = _current_text(run, image)
    if text is None or text.tampered:
        return True
    return text.lock.inputs_digest != _digest(run, image).digest


def _current_text(run: _Run, image: Image) -> LockText | None:
    """The image's full lock as it stands in this run (pending bytes first, then disk)."""
    if image.key not in run.texts:
        path = lock_paths(run.workspace, image).full
        run.texts[image.key] = _parse_or_none(run.read(path), path, run.memo)
    return run.texts[image.key]


def _parse_or_none(raw: bytes | None, path: str, memo: LockMemo) -> LockText | None:
    """A lock that cannot be read is treated as missing: compiling rewrites it."""
    if raw is None:
        return None
    try:
        return parse_lock(raw.decode("utf-8"), path, memo)
    except (InputError, UnicodeDecodeError):
        return None


def _parent_bytes(run: _Run, image: Image) -> bytes | None:
    if image.parent is None:
        return None
    parent = run.workspace.image(image.parent)
    path = lock_paths(run.workspace, parent).full
    pending = run.pending.get(parent.key)
    return pending[path] if pending else run.read(path)


def _digest(run: _Run, image: Image) -> InputDigest:
    return input_digest(run.workspace, image, _parent_bytes(run, image), load=run.load)


def _up_to_date(run: _Run, image: Image) -> LockText | None:
    """The image's full lock when nothing is to do: every input digest matches, no file tampered.

    Then the resolver would only confirm the pins (the existing ones are its preferences), so
    the index is not asked at all: a no-op compile costs what the gate costs.
    """
    if run.options.upgrade or run.options.upgrade_packages:
        return None
    full = _current_text(run, image)
    if full is None or full.tampered or full.lock.inputs_digest != _digest(run, image).digest:
        return None
    paths = lock_paths(run.workspace, image)
    layer = _parse_or_none(run.read(paths.layer), paths.layer, run.memo)
    if layer is None or layer.tampered or layer.lock.inputs_digest != full.lock.inputs_digest:
        return None
    if run.workspace.pylock and not _pylock_current(run, paths.pylock, full):
        return None
    return full


def _pylock_current(run: _Run, path: str, full: LockText) -> bool:
    """Whether the pylock is this lock's and was written in today's PEP 751 form."""
    recorded, form = _pylock_recorded(run, path)
    return recorded == full.recorded_body_digest and form == PYLOCK_FORM


def _pylock_recorded(run: _Run, path: str) -> tuple[str | None, str | None]:
    """The pylock's recorded ``body-digest`` and ``pylock-form``, read off its last table.

    Parsing every pylock as TOML was half of a no-op compile (50 ms an image); the table
    lockaudit writes last holds the values needed. A missing digest falls back to the full
    parse.
    """
    text = run.inputs.file_text(path)
    if text is None:
        return None, None
    start = text.rfind("\n[tool.lockaudit]\n")
    values: dict[str, str] = {}
    for line in text[start + 1 :].splitlines()[1:] if start >= 0 else ():
        if line.startswith("["):
            break
        key, _, value = line.partition(" = ")
        if value.startswith('"') and value.endswith('"'):
            values[key] = value[1:-1]
    digest = values.get("body-digest") or pylock_body_digest(run.workspace.path(path))
    return digest, values.get("pylock-form")


def _compile_image(run: _Run, image: Image) -> ImageResult:
    fresh = _up_to_date(run, image)
    if fresh is not None:
        return ImageResult(image.key, Status.UNCHANGED, lock=fresh.lock, reason="up to date")
    parent_text: LockText | None = None
    if image.parent is not None:
        parent_text = _current_text(run, run.workspace.image(image.parent))
        failed = run.results.get(image.parent)
        if parent_text is None or (failed and failed.status in (Status.FAILED, Status.SKIPPED)):
            return ImageResult(
                image.key, Status.SKIPPED, reason=f"the parent {image.parent} has no usable lock"
            )
    run.reporter.starting(image)
    roots = image_roots(
        run.inputs, image, parent_text, load=run.load, load_versions=run.load_versions
    )
    existing = _current_text(run, image)
    preferences = {p.name: p.version for p in existing.lock.packages} if existing else {}
    # The resolver drops the preferences of upgraded names itself (all of them with True).
    upgrade = True if run.options.upgrade else run.options.upgrade_packages
    try:
        resolution = resolve(
            run.source, image.target, roots, preferences=preferences, upgrade=upgrade
        )
    except ResolutionFailed as failure:
        # Every independent conflict, not only the first: one compile shows all there is to fix.
        conflicts = explain_all(
            run.source, image.target, roots, preferences=preferences, upgrade=upgrade
        )
        result = _failure(image, conflicts or failure.conflicts, parent_text)
    else:
        result = _success(run, image, resolution, roots, parent_text)
    run.reporter.finished(result)
    return result


def _parent_sources(run: _Run, image: Image) -> Mapping[NormalizedName, LockedPackage]:
    """The parent's packages as its pylock (pending bytes first, then disk) records them: the
    only place their download URLs are kept when they come from the user's own index."""
    if image.parent is None:
        return {}
    parent = run.workspace.image(image.parent)
    path = lock_paths(run.workspace, parent).pylock
    raw = run.pending.get(parent.key, {}).get(path) or run.read(path)
    return pylock_packages(raw) if raw is not None else {}


def _success(
    run: _Run,
    image: Image,
    resolution: Resolution,
    roots: Sequence[RootRequirement],
    parent_text: LockText | None,
) -> ImageResult:
    digest = _digest(run, image)
    lock = build_lock(
        run.workspace, image, resolution, roots, parent_text, digest, _parent_sources(run, image)
    )
    if isinstance(run.source, Mirrored):
        lock = through_mirrors(lock, run.source)
    files = render_all(run.workspace, image, lock)
    changed = tuple(
        path
        for path, data in sorted(files.items())
        if run.read(path) != data
    )
    run.pending[image.key] = files
    full = lock_paths(run.workspace, image).full
    run.texts[image.key] = parse_lock(files[full].decode("utf-8"), full, run.memo)
    status = Status.NOT_WRITTEN if changed else Status.UNCHANGED
    return ImageResult(image.key, status, lock=lock, changed=changed)


def _failure(image: Image, conflicts: tuple[Conflict, ...], parent: LockText | None) -> ImageResult:
    involved = {
        name for conflict in conflicts if conflict.with_parent for name in conflict.packages
    }
    provided = [p for p in parent.lock.packages if p.name in involved] if parent else []
    return ImageResult(
        image.key,
        Status.FAILED,
        conflicts=conflicts,
        reinstall=tuple(p.name for p in provided),
        reinstall_bytes=sum(p.install_size for p in provided),
        reason="\n".join(line for conflict in conflicts for line in conflict.lines()),
    )


def _finish(run: _Run, order: Sequence[Image]) -> tuple[ImageResult, ...]:
    """Write every pending lock if nothing failed; return the results in build order."""
    results = [run.results[image.key] for image in order if image.key in run.results]
    failed = any(r.status in (Status.FAILED, Status.SKIPPED) for r in results)
    if run.options.dry_run or failed:
        return tuple(results)
    files = {path: data for pending in run.pending.values() for path, data in pending.items()}
    check_inside(run.workspace.root, files)  # before any write: all or nothing
    written = set(write_atomically(run.workspace.root, files))
    if not run.workspace.pylock:
        _remove_pylocks(run, results)
    if written:
        # Parsed now, mostly from entries this run already read, so the next `check` (often
        # the very next command) finds the workspace's parsed locks in its cache.
        _ = Inputs.of(run.workspace, lock_memo=run.memo).locks
    return tuple(
        replace(r, status=Status.WRITTEN) if written.intersection(r.changed) else r for r in results
    )


def _remove_pylocks(run: _Run, results: Sequence[ImageResult]) -> None:
    """With ``pylock = false`` a pylock compile wrote earlier would go stale: remove it."""
    for result in results:
        image = run.workspace.image(result.image)
        path = run.workspace.path(lock_paths(run.workspace, image).pylock)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# --------------------------------------------------------------------------- roots


def image_roots(
    given: Inputs | Workspace,
    image: Image,
    parent: LockText | None,
    *,
    load: RequirementsLoader | None = None,
    load_versions: Callable[[str], VersionsFile] | None = None,
) -> tuple[RootRequirement, ...]:
    """Everything the resolver starts from for ``image``, each with where it came from
    (:func:`~lockaudit.workspace.roots.image_root_lines`, then the parent's pins)."""
    lines = image_root_lines(as_inputs(given), image, load, load_versions)
    roots = [
        *_roots(lines.requirements, image.key, RequirementKind.REQUIREMENT),
        *_roots(lines.constraints, image.key, RequirementKind.CONSTRAINT),
    ]
    if parent is not None:
        roots.extend(_parent_roots(parent))
    return tuple(roots)


def _roots(
    lines: Iterable[RequirementLine], image: str, kind: RequirementKind
) -> Iterable[RootRequirement]:
    for line in lines:
        yield RootRequirement(line.requirement, Origin(line.location, image, kind))


def _parent_roots(parent: LockText) -> Iterable[RootRequirement]:
    for package in parent.lock.packages:
        # The index's fast path (a plain "name==version" is split, not tokenized): a child
        # image re-reads every pin of its parent, hundreds per image in a workspace.
        requirement = parse_requirement(_parent_pin(package))
        origin = Origin(parent.location(package.name), parent.lock.image, RequirementKind.PARENT)
        yield RootRequirement(requirement, origin)


def _parent_pin(package: LockedPackage) -> str:
    """``name==version``, or for a direct reference its URL with its hash: the child must
    resolve the parent's package to that same file."""
    if package.index == DIRECT_INDEX and len(package.files) == 1:
        file = package.files[0]
        return f"{package.name} @ {file.url}#sha256={file.sha256}"
    return f"{package.name}=={package.version}"


# --------------------------------------------------------------------------- resolution → lock


def through_mirrors(lock: Lock, source: Mirrored) -> Lock:
    """The lock as its own packages were really fetched: each index fetched through a mirror
    is named in the header (``<index> <mirror>``, credentials redacted), and its files lose
    their URL in the body, as files of a workspace mirror do (the body keeps the routed index,
    which ``check`` verifies and a build without the mirror installs from)."""
    used: set[str] = set()
    packages: list[LockedPackage] = []
    for package in lock.packages:
        origin = package.source_index
        fetched = redact(source.fetched_from(origin)) if origin else origin
        if package.layer != lock.image or fetched == origin:
            packages.append(package)
            continue
        used.add(f"{package.index} {fetched}")
        files = tuple(replace(f, url=NO_URL) for f in package.files)
        packages.append(replace(package, files=files))
    if not used:
        return lock
    return replace(lock, packages=tuple(packages), mirrors=tuple(sorted(used)))


def build_lock(
    workspace: Workspace,
    image: Image,
    resolution: Resolution,
    roots: Sequence[RootRequirement],
    parent: LockText | None,
    digest: InputDigest,
    parent_sources: Mapping[NormalizedName, LockedPackage] | None = None,
) -> Lock:
    """The Lock of ``image`` from its resolution; parent packages are copied from its lock.

    ``parent_sources`` (the parent's pylock) gives those packages their download URLs back.
    """
    origins: dict[str, Origin] = {}
    for root in roots:
        # A file can be both required and a constraint (the common requirements): "via" wins.
        key = str(root.origin.location)
        if key not in origins or root.origin.kind is RequirementKind.REQUIREMENT:
            origins[key] = root.origin
    packages: dict[NormalizedName, LockedPackage] = {}
    if parent is not None:
        sources = parent_sources or {}
        packages.update(
            (p.name, _with_parent_sources(p, sources.get(p.name))) for p in parent.lock.packages
        )
    for pin in resolution.pins:
        via = _via(pin.required_by, origins)
        inherited = packages.get(pin.name)
        if inherited is not None and inherited.version == pin.version:
            merged = tuple(sorted({*inherited.required_by, *via}))
            packages[pin.name] = _with_sources(
                replace(inherited, required_by=merged), pin.candidate
            )
        else:
            packages[pin.name] = _locked_package(pin.candidate, via, image.key, workspace)
    extra = {_strip(index.url) for index in workspace.indexes}
    return Lock(
        image=image.key,
        parent=image.parent,
        target=image.target,
        inputs_digest=digest.digest,
        inputs=digest.inputs,
        packages=tuple(packages[name] for name in sorted(packages)),
        index_urls=tuple(sorted({p.index for p in packages.values() if _strip(p.index) in extra})),
    )


def _via(required_by: Iterable[str], origins: Mapping[str, Origin]) -> tuple[str, ...]:
    via: set[str] = set()
    for item in required_by:
        origin = origins.get(item)
        if origin is None:
            via.add(item)  # a package name
        elif origin.kind is RequirementKind.REQUIREMENT:
            via.add(f"{origin.image}: {item}")
    return tuple(sorted(via))


def _locked_package(
    candidate: Candidate, via: tuple[str, ...], layer: str, workspace: Workspace
) -> LockedPackage:
    """A pin as the lock records it.

    Indexes the workspace names are recorded by URL, with each file's URL (provenance that
    `check` verifies). Files from the user's own pip configuration (the default index, extra
    indexes, find-links) are recorded as index ``default`` without a URL: that index differs
    from one machine to the next, and pip finds the file there by name and hash. A file
    fetched through a mirror keeps its routed index but not the mirror's URL, for the same
    reason.
    """
    named = {_strip(index.url) for index in workspace.indexes}
    for file in candidate.files:
        if file.sha256 is None:
            # A hash of another type or shape is no hash: a lock without one would install
            # unverified (or fail --require-hashes at build time), so it is never written.
            raise IndexFetchError(
                redact(file.url),
                f"{candidate.name} {candidate.version}: the index lists {file.filename} "
                "without a usable sha256 (none, another type, or not 64 hex digits)",
                hint="a hash-pinned lock needs each file's sha256 from the index; "
                "ask its maintainers, or pin another version",
            )

    def index_of(url: str) -> str:
        if url == DIRECT_INDEX:  # a direct reference's file: its URL is the provenance
            return DIRECT_INDEX
        return url if _strip(url) in named else DEFAULT_INDEX

    def url_of(file: DistFile) -> str:
        if file.index == DIRECT_INDEX:
            return redact(file.url)
        if index_of(file.index) == DEFAULT_INDEX or workspace.mirror_of(file.index):
            return NO_URL
        return redact(file.url)  # a mirror of this machine may carry a token in its URL

    # The pylock still names the real URLs (PEP 751 needs one an installer can fetch).
    files = tuple(
        LockedFile(
            f.filename,
            url_of(f),
            f.sha256,
            f.size,
            index_of(f.index),
            f.upload_time,
            source_url=redact(f.url),
        )
        for f in sorted(candidate.files, key=lambda f: f.filename)
    )
    return LockedPackage(
        candidate.name,
        candidate.version,
        files,
        index_of(candidate.index),
        via,
        layer,
        source_index=redact(candidate.index),
    )


def _with_parent_sources(package: LockedPackage, source: LockedPackage | None) -> LockedPackage:
    if source is None or source.version != package.version:
        return package
    urls = {f.filename: f.source_url for f in source.files}
    files = tuple(replace(f, source_url=urls.get(f.filename)) for f in package.files)
    return replace(package, files=files, source_index=source.source_index)


def _with_sources(package: LockedPackage, candidate: Candidate) -> LockedPackage:
    """A parent's package with this run's download URLs (its text lock does not keep them)."""
    urls = {f.filename: redact(f.url) for f in candidate.files}
    files = tuple(
        replace(f, source_url=f.source_url or urls.get(f.filename)) for f in package.files
    )
    return replace(
        package, files=files, source_index=package.source_index or redact(candidate.index)
    )


def _strip(url: str) -> str:
    return bare_url(url)
