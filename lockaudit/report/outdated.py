"""The monthly analysis: for every pin, how far behind it is and what holds it back.

For each pin (see :mod:`lockaudit.report.inventory`) of each image, against the image's target:

- ``newest``: the newest release usable on the target (not yanked; no pre-release unless the
  pin is one);
- ``allowed``: the newest release no *hold* excludes, walking down from ``newest`` (the pin
  itself when every newer release is held);
- ``holds`` of ``newest``, computed directly rather than by re-resolving (cheaper, and each
  hold names its own ``path:line``), in this order:
  CONSTRAINT - a constraint-file line whose specifier excludes it;
  REQUIRER - an installed package of the image (or of an ancestor) requires an older version;
  PARENT - the release needs a version of a package the parent image pins otherwise;
  NEEDS - the release needs a version of a package that a constraint line excludes.

Decisions:
- Requirements are evaluated for the image's target with no extra selected: a requirement that
  only an extra brings in is not counted as a hold.
- Majors follow semantic versioning: ``0.x`` to ``0.y`` is a major step, as is ``1.x`` to ``2.y``.
- Only pins newer than the current one are examined, newest first, and the walk stops at the
  first release without a hold; the metadata of each examined release is fetched (once).
- Vulnerability data is asked for once, for every pin in one batch. No data is not proof of
  safety: the docs say so, the report does not guess.
- Pins that no image installs (the ``shared`` group: a ``versions.txt`` line with no lock yet)
  are judged for the first image's target, with the constraint files of no variant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.errors import Location
from lockaudit.index.types import Candidate, CoreMetadata, MetadataSource, Vulnerability
from lockaudit.index.vulns import VulnerabilityService
from lockaudit.locks import LockedPackage
from lockaudit.parsing.requirements import RequirementLine
from lockaudit.report._model import (
    Advisory,
    Hold,
    HoldKind,
    ImageReport,
    OutdatedReport,
    PackageStatus,
    Urgency,
)
from lockaudit.report.inventory import ImagePins, Inventory, Pinned, collect
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Target, Workspace, normalize

__all__ = ["outdated_report"]

_BATCH = 8  # releases whose metadata is fetched together while looking for the allowed one
_HOLD_ORDER = {HoldKind.CONSTRAINT: 0, HoldKind.REQUIRER: 1, HoldKind.PARENT: 2, HoldKind.NEEDS: 3}
_Vulns = Mapping[tuple[NormalizedName, Version], tuple[Vulnerability, ...]]


def outdated_report(
    given: Inputs | Workspace,
    source: MetadataSource,
    vulns: VulnerabilityService | None,
    today: date,
    *,
    inventory: Inventory | None = None,
) -> OutdatedReport:
    """Analyse every pin of ``workspace``; ``today`` dates the ages (tests fix it)."""
    inputs = as_inputs(given)
    workspace = inputs.workspace
    inventory = inventory or collect(inputs)
    known = _query_vulns(vulns, inventory)
    images = tuple(
        _image_report(inventory, pins, source, known, today) for pins in inventory.images
    )
    shared_target = workspace.images[0].target if workspace.images else Target()
    shared_ctx = _Context(source, shared_target, {}, {}, ())
    shared = tuple(
        sorted(
            (_status(shared_ctx, pinned, known, today) for pinned in inventory.shared),
            key=PackageStatus.sort_key,
        )
    )
    return OutdatedReport(today=today, images=images, shared=shared)


def _query_vulns(vulns: VulnerabilityService | None, inventory: Inventory) -> _Vulns:
    if vulns is None:
        return {}
    pins = {(p.name, p.version) for i in inventory.images for p in i.pins}
    pins.update((p.name, p.version) for p in inventory.shared)
    return vulns.query(sorted(pins))


# --------------------------------------------------------------------------- one image


@dataclass
class _Context:
    """What judging the pins of one image needs; caches live as long as the image's analysis."""

    source: MetadataSource
    target: Target
    locked: Mapping[NormalizedName, LockedPackage]
    where: Mapping[NormalizedName, Location]  # the lock line of each locked package
    constraints: Sequence[RequirementLine]
    image: str = ""
    requirers: dict[NormalizedName, list[tuple[NormalizedName, Requirement]]] = field(
        default_factory=dict
    )
    _candidates: dict[NormalizedName, Sequence[Candidate]] = field(default_factory=dict)
    _metadata: dict[tuple[NormalizedName, Version], CoreMetadata | None] = field(
        default_factory=dict
    )

    def candidates(self, name: NormalizedName) -> Sequence[Candidate]:
        if name not in self._candidates:
            self._candidates[name] = self.source.candidates(name, self.target)
        return self._candidates[name]

    def metadata(self, candidate: Candidate) -> CoreMetadata | None:
        key = (candidate.name, candidate.version)
        if key not in self._metadata:
            found = self.source.metadata(candidate, self.target)
            self._metadata[key] = found if isinstance(found, CoreMetadata) else None
        return self._metadata[key]

    def release(self, name: NormalizedName, version: Version) -> Candidate | None:
        return next((c for c in self.candidates(name) if c.version == version), None)

    def applies(self, requirement: Requirement) -> bool:
        if requirement.marker is None:
            return True
        environment = {**self.target.marker_environment(), "extra": ""}
        return requirement.marker.evaluate(environment)


def _image_report(
    inventory: Inventory,
    pins: ImagePins,
    source: MetadataSource,
    known: _Vulns,
    today: date,
) -> ImageReport:
    image = pins.image
    locked = {p.name: p for p in pins.locked()}
    ctx = _Context(
        source,
        image.target,
        locked,
        _lock_lines(inventory, pins.locked()),
        pins.constraints,
        image=image.key,
    )
    source.prefetch([p.name for p in pins.pins], image.target)
    ctx.requirers = _requirers(ctx)
    statuses = sorted(
        (_status(ctx, p, known, today) for p in pins.pins), key=PackageStatus.sort_key
    )
    own = sum(p.install_size for p in pins.locked() if p.layer == image.key)
    inherited = sum(p.install_size for p in pins.locked() if p.layer != image.key)
    return ImageReport(
        key=image.key,
        parent=image.parent,
        base_image=image.base_image,
        target=image.target.describe(),
        lock=pins.lock.path if pins.lock else None,
        packages=tuple(statuses),
        size=own,
        inherited=inherited,
    )


def _lock_lines(
    inventory: Inventory, packages: Iterable[LockedPackage]
) -> dict[NormalizedName, Location]:
    """Each locked package's entry in the lock of the layer that installs it."""
    where: dict[NormalizedName, Location] = {}
    for package in packages:
        layer = inventory.image(package.layer)
        if layer is not None and layer.lock is not None:
            where[package.name] = layer.lock.location(package.name)
    return where


def _requirers(ctx: _Context) -> dict[NormalizedName, list[tuple[NormalizedName, Requirement]]]:
    """Package name → the installed packages that require it, with their requirement."""
    releases = [ctx.release(p.name, p.version) for p in ctx.locked.values()]
    found = [c for c in releases if c is not None]
    ctx.source.prefetch(found, ctx.target)
    requirers: dict[NormalizedName, list[tuple[NormalizedName, Requirement]]] = {}
    for candidate in sorted(found, key=lambda c: c.name):
        metadata = ctx.metadata(candidate)
        for requirement in metadata.requires_dist if metadata else ():
            if ctx.applies(requirement):
                requirers.setdefault(normalize(requirement.name), []).append(
                    (candidate.name, requirement)
                )
    return requirers


# --------------------------------------------------------------------------- one pin


def _status(ctx: _Context, pinned: Pinned, known: _Vulns, today: date) -> PackageStatus:
    releases = ctx.candidates(pinned.name)
    current = next((c for c in releases if c.version == pinned.version), None)
    eligible = [c for c in releases if _eligible(c, pinned.version)]
    newest = eligible[0] if eligible else None
    holds: tuple[Hold, ...] = ()
    allowed = pinned.version
    if newest is not None and newest.version > pinned.version:
        holds = _holds(ctx, newest, complete=True)
        allowed = _allowed(ctx, eligible, pinned.version, newest if not holds else None)
    advisories = _advisories(known.get((pinned.name, pinned.version), ()), pinned.version)
    yanked = current.yanked if current is not None else None
    return PackageStatus(
        name=pinned.name,
        current=pinned.version,
        pinned_at=pinned.pinned_at,
        newest=newest.version if newest else None,
        allowed=allowed if newest else None,
        holds=holds,
        pin_age_days=_age(current, today),
        newest_age_days=_age(newest, today),
        yanked=yanked,
        advisories=advisories,
        urgency=_urgency(pinned.version, newest, holds, yanked, advisories),
        size=pinned.size,
    )


def _eligible(candidate: Candidate, current: Version) -> bool:
    if candidate.yanked is not None:
        return False
    return not candidate.version.is_prerelease or current.is_prerelease


def _allowed(
    ctx: _Context, eligible: Sequence[Candidate], current: Version, free: Candidate | None
) -> Version:
    if free is not None:
        return free.version
    newer = [c for c in eligible if c.version > current][1:]
    for start in range(0, len(newer), _BATCH):
        batch = newer[start : start + _BATCH]
        # Fetch the batch's metadata concurrently; most walks stop within the first batch.
        ctx.source.prefetch(batch, ctx.target)
        for candidate in batch:
            if not _holds(ctx, candidate, complete=False):
                return candidate.version
    return current


def _holds(ctx: _Context, candidate: Candidate, *, complete: bool) -> tuple[Hold, ...]:
    """What excludes ``candidate``; with ``complete`` False, stop at the first cheap answer."""
    found = [*_constraint_holds(ctx, candidate), *_requirer_holds(ctx, candidate)]
    if found and not complete:
        return tuple(found)
    found.extend(_needs_holds(ctx, candidate))
    return tuple(sorted(set(found), key=_hold_key))


def _hold_key(hold: Hold) -> tuple[int, str, str, str, str]:
    where = str(hold.location) if hold.location else ""
    return (_HOLD_ORDER[hold.kind], where, hold.text, hold.package or "", hold.need or "")


def _constraint_holds(ctx: _Context, candidate: Candidate) -> list[Hold]:
    return [
        Hold(HoldKind.CONSTRAINT, _text(line.requirement), line.location)
        for line in ctx.constraints
        if line.name == candidate.name
        and ctx.applies(line.requirement)
        and not _contains(line.requirement.specifier, candidate.version)
    ]


def _requirer_holds(ctx: _Context, candidate: Candidate) -> list[Hold]:
    return [
        Hold(HoldKind.REQUIRER, _text(requirement), ctx.where.get(requirer), requirer)
        for requirer, requirement in ctx.requirers.get(candidate.name, ())
        if requirer != candidate.name and not _contains(requirement.specifier, candidate.version)
    ]


def _needs_holds(ctx: _Context, candidate: Candidate) -> list[Hold]:
    metadata = ctx.metadata(candidate)
    holds: list[Hold] = []
    for requirement in metadata.requires_dist if metadata else ():
        name = normalize(requirement.name)
        if name == candidate.name or not ctx.applies(requirement):
            continue
        holds.extend(_parent_hold(ctx, name, requirement))
        holds.extend(_constrained_hold(ctx, name, requirement))
    return holds


def _parent_hold(ctx: _Context, name: NormalizedName, requirement: Requirement) -> list[Hold]:
    """The release needs ``name`` at a version other than the one a parent layer froze."""
    frozen = ctx.locked.get(name)
    if frozen is None or frozen.layer == ctx.image:
        return []
    if _contains(requirement.specifier, frozen.version):
        return []
    text = f"{name}=={frozen.version}"
    return [Hold(HoldKind.PARENT, text, ctx.where.get(name), name, _text(requirement))]


def _constrained_hold(ctx: _Context, name: NormalizedName, requirement: Requirement) -> list[Hold]:
    """The release needs versions of ``name`` that a constraint line rules out entirely."""
    holds: list[Hold] = []
    for line in ctx.constraints:
        if line.name != name or not ctx.applies(line.requirement):
            continue
        both = requirement.specifier & line.requirement.specifier
        if not any(_contains(both, c.version) for c in ctx.candidates(name)):
            holds.append(
                Hold(
                    HoldKind.NEEDS, _text(line.requirement), line.location, name, _text(requirement)
                )
            )
    return holds


def _contains(specifier: SpecifierSet, version: Version) -> bool:
    return specifier.contains(version, prereleases=True)


def _text(requirement: Requirement) -> str:
    """A requirement without its marker: the part that says which versions."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


# --------------------------------------------------------------------------- facts → verdict


def _age(candidate: Candidate | None, today: date) -> int | None:
    if candidate is None:
        return None
    stamps = sorted(f.upload_time for f in candidate.files if f.upload_time)
    if not stamps:
        return None
    try:
        uploaded = date.fromisoformat(stamps[0][:10])
    except ValueError:
        return None
    return (today - uploaded).days


def _advisories(found: Iterable[Vulnerability], current: Version) -> tuple[Advisory, ...]:
    advisories = []
    for vulnerability in found:
        later = sorted(v for v in vulnerability.fixed_in if v > current)
        advisories.append(
            Advisory(
                id=vulnerability.id,
                summary=vulnerability.summary,
                aliases=tuple(sorted(vulnerability.aliases)),
                fixed_in=later[0] if later else None,
                link=vulnerability.link,
            )
        )
    return tuple(sorted(advisories, key=lambda a: a.id))


def _urgency(
    current: Version,
    newest: Candidate | None,
    holds: Sequence[Hold],
    yanked: str | None,
    advisories: Sequence[Advisory],
) -> Urgency:
    if advisories:
        return Urgency.VULNERABLE
    if yanked is not None:
        return Urgency.YANKED
    if newest is None:
        return Urgency.UNKNOWN
    if newest.version <= current:
        return Urgency.CURRENT
    step = _step(current, newest.version)
    if holds:
        return Urgency.BLOCKED_MAJOR if step == "major" else Urgency.BLOCKED
    return {"major": Urgency.MAJOR, "minor": Urgency.MINOR}.get(step, Urgency.PATCH)


def _step(current: Version, newer: Version) -> str:
    old = (*current.release, 0, 0)
    new = (*newer.release, 0, 0)
    if old[0] != new[0] or (old[0] == 0 and old[1] != new[1]):
        return "major"
    return "minor" if old[1] != new[1] else "patch"
