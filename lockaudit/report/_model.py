"""The values the report builds: frozen, sorted, and free of clocks and machine paths.

An :class:`OutdatedReport` is computed once (``outdated.outdated_report``) and rendered by pure
writers (``writers/``): the same index state and the same ``today`` give equal reports, equal
bytes. Dates are days (no times), locations are workspace-relative ``path:line``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.errors import Location
from lockaudit.report.trend import ImageSizes


class Urgency(StrEnum):
    """What matters most about one pin; the declaration order is the report's sort order."""

    VULNERABLE = "vulnerable"  # a known vulnerability affects the pinned version
    YANKED = "yanked"  # the pinned release was yanked from the index
    BLOCKED_MAJOR = "blocked-major"  # a new major release exists and something holds it back
    MAJOR = "major"  # a new major release is allowed by the current constraints
    BLOCKED = "blocked"  # a newer minor/patch release exists and is held back
    MINOR = "minor"
    PATCH = "patch"
    CURRENT = "current"  # the pin is the newest release usable on the target
    UNKNOWN = "unknown"  # the index has no usable release of the package

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {urgency: number for number, urgency in enumerate(Urgency)}


class HoldKind(StrEnum):
    """Why a newer release cannot be installed today."""

    CONSTRAINT = "constraint"  # a constraint-file line excludes it
    PARENT = "parent"  # the parent image pins this package (or one the release needs)
    REQUIRER = "requirer"  # an installed package requires an older version
    NEEDS = "needs"  # the release needs a package version the image's constraints exclude


@dataclass(frozen=True)
class Hold:
    """One thing that keeps the newest release out.

    ``text`` is the requirement as the holder states it (``numpy<2``, ``torch==2.1.0+cu121``);
    ``location`` is where it is written (a constraint line, a lock entry); ``package`` names the
    other package involved (the requirer, the parent's pin); ``need`` is the requirement of the
    newer release that cannot be met (``torch>=2.2``), for PARENT and NEEDS holds.
    """

    kind: HoldKind
    text: str
    location: Location | None
    package: NormalizedName | None = None
    need: str | None = None

    def describe(self) -> str:
        where = f" at {self.location}" if self.location else ""
        match self.kind:
            case HoldKind.CONSTRAINT:
                return f"`{self.text}`{where}"
            case HoldKind.PARENT:
                return f"needs `{self.need}`; parent image pins `{self.text}`{where}"
            case HoldKind.REQUIRER:
                return f"{self.package} requires `{self.text}`{where}"
            case HoldKind.NEEDS:
                return f"needs `{self.need}`; excluded by `{self.text}`{where}"


@dataclass(frozen=True)
class Advisory:
    """A known vulnerability of a pinned version; ``fixed_in`` is the first fixed release."""

    id: str
    summary: str
    aliases: tuple[str, ...]
    fixed_in: Version | None
    link: str | None


@dataclass(frozen=True)
class PackageStatus:
    """One pinned package of one image (the image whose layer installs it).

    ``newest`` is the newest release usable on the image's target; ``allowed`` the newest that
    the constraints, the parent image's pins and the installed packages permit; ``holds`` what
    excludes ``newest`` (empty when ``allowed == newest``). Ages are in days before the report
    date; ``size`` is the bytes the pinned file downloads (from the lock), when known.
    """

    name: NormalizedName
    current: Version
    pinned_at: tuple[Location, ...]
    newest: Version | None
    allowed: Version | None
    holds: tuple[Hold, ...]
    pin_age_days: int | None
    newest_age_days: int | None
    yanked: str | None
    advisories: tuple[Advisory, ...]
    urgency: Urgency
    size: int | None = None

    def sort_key(self) -> tuple[int, str]:
        return (self.urgency.rank, self.name)


@dataclass(frozen=True)
class ImageReport:
    """The pins one image installs in its own layer, worst first.

    ``size`` sums the locked files of the image's own layer; ``inherited`` those of its
    ancestors' layers (the chart stacks the two).
    """

    key: str
    parent: str | None
    base_image: str | None
    target: str
    lock: str | None
    packages: tuple[PackageStatus, ...]
    size: int
    inherited: int

    def count(self, urgency: Urgency) -> int:
        return sum(1 for package in self.packages if package.urgency is urgency)


@dataclass(frozen=True)
class OutdatedReport:
    """Every image's pins, in build order; ``shared`` holds pins no image installs.

    The monthly report adds two things the ``outdated`` command leaves out: ``upgrades``, the
    what-if result of moving the most pressing pins to their newest release, and ``sizes``,
    the built sizes of ``reports/sizes.jsonl`` against the locks' estimates.
    """

    today: date
    images: tuple[ImageReport, ...]
    shared: tuple[PackageStatus, ...] = ()
    upgrades: tuple[UpgradeTrial, ...] = ()
    sizes: tuple[ImageSizes, ...] = ()

    def all_packages(self) -> tuple[tuple[str, PackageStatus], ...]:
        rows = [(image.key, p) for image in self.images for p in image.packages]
        rows.extend(("(shared)", p) for p in self.shared)
        return tuple(rows)

    def totals(self) -> dict[Urgency, int]:
        counts = dict.fromkeys(Urgency, 0)
        for _, package in self.all_packages():
            counts[package.urgency] += 1
        return counts


@dataclass(frozen=True)
class Move:
    """One package whose pin changes in a what-if resolution (``None``: added or removed)."""

    name: NormalizedName
    before: Version | None
    after: Version | None


@dataclass(frozen=True)
class ImageOutcome:
    """What a what-if change does to one image.

    ``broken`` lists the explained conflicts (text lines); ``skipped`` says why the image was not
    re-resolved (its parent broke). ``size_delta`` is in bytes (new layer minus old layer).
    """

    key: str
    moves: tuple[Move, ...]
    broken: tuple[tuple[str, ...], ...] = ()
    skipped: str | None = None
    size_delta: int = 0

    @property
    def ok(self) -> bool:
        return not self.broken and self.skipped is None


@dataclass(frozen=True)
class Replaced:
    """An input line a what-if set aside because it names a changed package."""

    location: Location
    requirement: str  # as the line states it, e.g. ``numpy<2``
    kind: str  # "constraint", "pin" (versions file), "requirement"
    # the comment lines directly above it: often the reason for a limit (``# ABI of torch``)
    why: str | None = None


@dataclass(frozen=True)
class WhatIfReport:
    changes: tuple[str, ...]
    images: tuple[ImageOutcome, ...]
    replaced: tuple[Replaced, ...] = ()
    kept_constraints: bool = False

    @property
    def broken(self) -> tuple[ImageOutcome, ...]:
        return tuple(image for image in self.images if not image.ok)


@dataclass(frozen=True)
class UpgradeTrial:
    """``lockaudit whatif NAME==NEWEST`` for one of the report's most pressing pins.

    ``image`` is the first image (in build order) whose layer pins it, ``status`` its row.
    """

    image: str
    status: PackageStatus
    newest: Version
    result: WhatIfReport

    @property
    def change(self) -> str:
        return f"{self.status.name}=={self.newest}"


@dataclass(frozen=True)
class UnusedImage:
    """The unused-dependency review of one image.

    ``unused``: installed distributions that no copied Python file imports and that no other
    installed distribution requires. ``missing``: imported top-level names that no installed
    distribution provides (not stdlib, not a copied module), with where they are imported.
    """

    key: str
    files: int
    unused: tuple[NormalizedName, ...]
    missing: tuple[tuple[str, Location], ...]


@dataclass(frozen=True)
class UnusedReport:
    images: tuple[UnusedImage, ...]
