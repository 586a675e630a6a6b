"""The resolver's public values: what goes in (root requirements) and what comes out.

Inputs name their origin (a file and line, the image they belong to, and their kind) so that a
resolution can say ``# via`` and a failure can say which files disagree. Outputs are frozen and
sorted: two runs over the same index give equal values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.errors import Location, ResolutionError
from lockaudit.index.types import Candidate, CoreMetadata, NeedsBuild
from lockaudit.workspace.model import Target, normalize


class RequirementKind(StrEnum):
    """How a root requirement takes part in a resolution."""

    REQUIREMENT = "requirement"  # must be installed
    CONSTRAINT = "constraint"  # restricts a name without requiring it (pip ``-c``)
    PARENT = "parent"  # a pin of the parent image's lock: frozen, already installed


@dataclass(frozen=True)
class Origin:
    """Where a root requirement came from, for ``# via`` lines and explanations."""

    location: Location
    image: str | None
    kind: RequirementKind


@dataclass(frozen=True)
class RootRequirement:
    requirement: Requirement
    origin: Origin

    @property
    def name(self) -> NormalizedName:
        return normalize(self.requirement.name)


@dataclass(frozen=True)
class Pin:
    """One chosen release.

    ``required_by`` holds, sorted, the canonical names of the packages that require it and the
    locations (``str(Origin.location)``) of the root requirements that name it.
    ``from_parent`` is True when the release is the parent image's pin (already installed there).
    """

    name: NormalizedName
    version: Version
    candidate: Candidate
    metadata: CoreMetadata
    extras: frozenset[NormalizedName]
    required_by: tuple[str, ...]
    from_parent: bool = False


@dataclass(frozen=True)
class Resolution:
    target: Target
    pins: tuple[Pin, ...]  # sorted by name

    def pin(self, name: str) -> Pin | None:
        wanted = normalize(name)
        return next((pin for pin in self.pins if pin.name == wanted), None)


@dataclass(frozen=True)
class Conflict:
    """One explained, independent reason a resolution is impossible.

    ``chain`` reads top-down from a root requirement (``file:line``) to the disagreement.
    ``with_parent`` is True when one side is the frozen parent environment: fixing it in this
    layer would mean reinstalling a parent package. ``blame`` is the root line of the
    requirement that conflicts (None when no single one does), ``related`` the lines of the
    requirements that reject it, ``contested`` the package they disagree on ("" for Python).
    ``via`` are the links of those requirements' chains that ``summary`` leaves out (a root
    that selects another name, the packages between a root and the one that requires).
    """

    summary: str
    chain: tuple[str, ...]
    with_parent: bool
    packages: tuple[NormalizedName, ...]
    suggestion: str | None
    origins: tuple[Location, ...]
    blame: Location | None = None
    related: tuple[Location, ...] = ()
    contested: str = ""
    via: tuple[str, ...] = ()

    def lines(self) -> tuple[str, ...]:
        """The conflict as indented text lines (summary, chain, suggestion)."""
        body = tuple(f"  {line}" for line in self.chain)
        hint = (f"  hint: {self.suggestion}",) if self.suggestion else ()
        return (self.summary, *body, *hint)


class ResolutionFailed(ResolutionError):
    """The roots cannot be resolved for the target; ``conflicts`` say why.

    ``unresolvable`` lists releases that were skipped because their dependencies cannot be known
    without a build (an sdist with dynamic metadata): data for a finding, never a build.
    """

    def __init__(
        self,
        image: str,
        conflicts: Sequence[Conflict],
        unresolvable: Sequence[NeedsBuild] = (),
    ) -> None:
        lines = tuple(line for conflict in conflicts for line in conflict.lines())
        super().__init__(image, lines)
        self.conflicts = tuple(conflicts)
        self.unresolvable = tuple(unresolvable)
