"""``lockaudit whatif REQ...``: re-resolve the affected images with a change, write nothing.

The roots of each image are the ones ``lockaudit compile`` uses (:func:`compile.image_roots`),
with the change applied:

- every root that names a changed package is dropped — pins of ``versions.txt``, lines of the
  common requirements, of the image's requirement files and of constraint files alike — and
  the report lists each line it set aside (``constraints/cpu.txt:8 numpy<2``): asking "what if
  numpy 2.1" means trying numpy 2.1, not being told that a constraint forbids it. With
  ``keep_constraints`` the lines of constraint files (``[[tool.lockaudit.constraints]]``) stay,
  as deliberate compatibility limits, and a change that contradicts one breaks;
- the change is added as a requirement (origin ``<what-if>``) to the *target* images: the
  ``--stage`` images when given, else every image that requires the package in its own files or
  installs it in its own layer;
- the target images and all their descendants are re-resolved in build order, each against its
  parent's *new* lock; the existing lock supplies preferences, so only what must move moves.

Decisions:
- ``--stage NAME`` matches an image name (every tag) or a key (``asr:cuda``).
- An image whose parent broke is skipped, with the reason; an image without a lock on disk is
  compared with an empty lock (everything is an addition).
- Size delta is the change of the image's own layer, from the largest usable file of each
  release (what pip downloads), as ``lockfile.LockedPackage.install_size`` counts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.compile import build_lock, image_roots
from lockaudit.errors import InputError, Location
from lockaudit.index.types import MetadataSource
from lockaudit.locks import (
    LockedPackage,
    LockText,
    input_digest,
    lock_paths,
    parse_lock,
    render_lock,
)
from lockaudit.report._model import ImageOutcome, Move, Replaced, WhatIfReport
from lockaudit.resolve import (
    Origin,
    RequirementKind,
    ResolutionFailed,
    RootRequirement,
    resolve,
)
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Workspace, normalize

__all__ = ["WHATIF_ORIGIN", "whatif"]

WHATIF_ORIGIN = Location("<what-if>")


@dataclass
class _Run:
    inputs: Inputs
    workspace: Workspace
    source: MetadataSource
    changes: tuple[Requirement, ...]
    names: frozenset[NormalizedName]
    targets: frozenset[str]
    keep_constraints: bool = False
    new: dict[str, tuple[LockText, bytes]] = field(default_factory=dict)
    replaced: dict[Location, Replaced] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


def whatif(
    given: Inputs | Workspace,
    source: MetadataSource,
    changes: Sequence[Requirement],
    stages: Sequence[str] = (),
    *,
    keep_constraints: bool = False,
) -> WhatIfReport:
    """Which images move, which break and why, if ``changes`` were made; nothing is written."""
    inputs = as_inputs(given)
    workspace = inputs.workspace
    names = frozenset(normalize(change.name) for change in changes)
    current = {
        image.key: inputs.lock_text(lock_paths(workspace, image).full) for image in workspace.images
    }
    targets = (
        _stage_images(workspace, stages) if stages else _images_using(inputs, names, current)
    )
    run = _Run(
        inputs, workspace, source, tuple(changes), names, frozenset(targets), keep_constraints
    )
    outcomes = [
        _outcome(run, image, current.get(image.key))
        for image in workspace.images
        if _affected(workspace, image, run.targets)
    ]
    replaced = tuple(
        sorted(run.replaced.values(), key=lambda r: (r.location.path, r.location.line or 0))
    )
    return WhatIfReport(tuple(str(c) for c in changes), tuple(outcomes), replaced, keep_constraints)


def _stage_images(workspace: Workspace, stages: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for stage in stages:
        matched = {i.key for i in workspace.images if stage in (i.name, i.key)}
        if not matched:
            known = ", ".join(sorted({i.name for i in workspace.images}))
            raise InputError(
                workspace.config_location, f"no image named {stage!r}", hint=f"images: {known}"
            )
        found |= matched
    return found


def _images_using(
    inputs: Inputs, names: frozenset[NormalizedName], current: dict[str, LockText | None]
) -> set[str]:
    """Images that ask for a changed package in their own files, or install it in their layer."""
    found: set[str] = set()
    for image in inputs.workspace.images:
        lock = current.get(image.key)
        own = {p.name for p in lock.lock.layer_packages} if lock else set()
        roots = image_roots(inputs, image, None)
        asked = {r.name for r in roots if r.origin.kind is RequirementKind.REQUIREMENT}
        if names & (own | asked):
            found.add(image.key)
    return found


def _affected(workspace: Workspace, image: Image, targets: frozenset[str]) -> bool:
    keys = {image.key, *(a.key for a in workspace.ancestors(image.key))}
    return bool(keys & targets)


def _outcome(run: _Run, image: Image, old: LockText | None) -> ImageOutcome:
    parent = _parent(run, image)
    if isinstance(parent, str):
        run.failed.add(image.key)
        return ImageOutcome(image.key, (), skipped=parent)
    parent_text, parent_bytes = parent if parent else (None, None)
    roots = _changed_roots(run, image, image_roots(run.inputs, image, parent_text))
    preferences = {
        p.name: p.version for p in (old.lock.packages if old else ()) if p.name not in run.names
    }
    try:
        resolution = resolve(run.source, image.target, roots, preferences=preferences)
    except ResolutionFailed as failure:
        run.failed.add(image.key)
        return ImageOutcome(
            image.key, (), broken=tuple(conflict.lines() for conflict in failure.conflicts)
        )
    digest = input_digest(run.workspace, image, parent_bytes, load=run.inputs.requirements)
    lock = build_lock(run.workspace, image, resolution, roots, parent_text, digest)
    data = render_lock(lock)
    path = lock_paths(run.workspace, image).full
    run.new[image.key] = (parse_lock(data.decode("utf-8"), path), data)
    before = old.lock.layer_packages if old else ()
    return ImageOutcome(
        image.key,
        _moves(before, lock.layer_packages),
        size_delta=_size(lock.layer_packages) - _size(before),
    )


def _parent(run: _Run, image: Image) -> tuple[LockText, bytes] | str | None:
    """The parent's lock as it would be after the change, or why there is none."""
    if image.parent is None:
        return None
    if image.parent in run.failed:
        return f"the parent {image.parent} breaks"
    if image.parent in run.new:
        return run.new[image.parent]
    parent = run.workspace.image(image.parent)
    path = lock_paths(run.workspace, parent).full
    data = run.inputs.file_bytes(path)
    lock = run.inputs.lock_text(path) if data is not None else None
    if data is None or lock is None:
        return f"the parent {image.parent} has no lock"
    return (lock, data)


def _changed_roots(
    run: _Run, image: Image, roots: Iterable[RootRequirement]
) -> tuple[RootRequirement, ...]:
    limits = set(run.workspace.constraint_files(image.variant))
    kept: list[RootRequirement] = []
    for root in roots:
        limit = root.origin.location.path in limits
        if (
            root.name not in run.names
            or root.origin.kind is RequirementKind.PARENT
            or (run.keep_constraints and limit and root.origin.kind is RequirementKind.CONSTRAINT)
        ):
            kept.append(root)
        else:
            kind = "constraint" if limit else "pin" if _is_versions(run, root) else "requirement"
            where = root.origin.location
            if where not in run.replaced:
                why = _comment_above(run.inputs, where)
                run.replaced[where] = Replaced(where, str(root.requirement), kind, why)
    if image.key in run.targets:
        origin = Origin(WHATIF_ORIGIN, image.key, RequirementKind.REQUIREMENT)
        kept.extend(RootRequirement(change, origin) for change in run.changes)
    return tuple(kept)


def _comment_above(inputs: Inputs, where: Location) -> str | None:
    """The comment block right above an input line, without its ``#`` marks."""
    text = inputs.file_text(where.path)
    if text is None:
        return None
    lines = text.splitlines()
    block: list[str] = []
    for line in reversed(lines[: max(where.line - 1, 0)]):
        if not line.lstrip().startswith("#"):
            break
        block.insert(0, line.lstrip().lstrip("#").strip())
    return " ".join(block) or None


def _is_versions(run: _Run, root: RootRequirement) -> bool:
    return root.origin.location.path == run.workspace.versions


def _moves(before: Iterable[LockedPackage], after: Iterable[LockedPackage]) -> tuple[Move, ...]:
    old: dict[NormalizedName, Version] = {p.name: p.version for p in before}
    new: dict[NormalizedName, Version] = {p.name: p.version for p in after}
    return tuple(
        Move(name, old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    )


def _size(packages: Iterable[LockedPackage]) -> int:
    return sum(p.install_size for p in packages)
