"""The requirement and candidate values the resolvelib provider works with.

Extras follow the usual resolvelib pattern: ``foo[a,b]>=1`` becomes three requirements, on the
identifiers ``foo``, ``foo[a]`` and ``foo[b]``; a ``foo[a]`` candidate depends on ``foo==<its
version>`` plus the dependencies its extra adds. ``Requires-Python`` is a requirement on the
pseudo-identifier :data:`PYTHON`, satisfied by exactly one candidate: the target's interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.index.types import Candidate
from lockaudit.resolve._model import Origin
from lockaudit.workspace.model import normalize

PYTHON = "<python>"
PYTHON_NAME = NormalizedName(PYTHON)


def identifier(name: NormalizedName, extra: NormalizedName | None) -> str:
    return f"{name}[{extra}]" if extra else name


@dataclass(frozen=True)
class Req:
    """One requirement on one identifier; ``origin`` is set for root requirements only."""

    key: str
    name: NormalizedName
    extra: NormalizedName | None
    specifier: SpecifierSet
    text: str  # as written, without its marker: what explanations quote
    origin: Origin | None = None
    root_index: int = -1  # position in the caller's root list, for setting roots aside


@dataclass(frozen=True)
class Cand:
    """A release (or the release with one extra) as resolvelib sees it."""

    key: str
    name: NormalizedName
    extra: NormalizedName | None
    version: Version
    release: Candidate | None = field(compare=False, default=None)  # None for PYTHON

    def __str__(self) -> str:
        if self.name == PYTHON_NAME:
            return f"Python {self.version}"
        return f"{self.key}=={self.version}"


def requirement_text(requirement: Requirement) -> str:
    """``name[extras]specifier`` without the marker, as explanations show it."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def applies(marker: Marker | None, environment: Mapping[str, str], extra: str = "") -> bool:
    """Whether a marker holds on the target (``extra`` empty when no extra is being resolved)."""
    if marker is None:
        return True
    return marker.evaluate({**environment, "extra": extra})


def expand(
    requirement: Requirement, *, origin: Origin | None = None, root_index: int = -1
) -> tuple[Req, ...]:
    """The base requirement and one requirement per extra (see the module docstring)."""
    name = normalize(requirement.name)
    text = requirement_text(requirement)
    extras = sorted({normalize(extra) for extra in requirement.extras})
    return tuple(
        Req(
            key=identifier(name, extra),
            name=name,
            extra=extra,
            specifier=requirement.specifier,
            text=text,
            origin=origin,
            root_index=root_index,
        )
        for extra in (None, *extras)
    )


@lru_cache(maxsize=8192)
def exact_version(specifier: SpecifierSet) -> Version | None:
    """The version a specifier pins with a single ``==``/``===`` (no wildcard), else None."""
    specs = list(specifier)
    if len(specs) != 1:
        return None
    return _pinned(specs[0])


def _pinned(spec: Specifier) -> Version | None:
    if spec.operator not in ("==", "===") or spec.version.endswith(".*"):
        return None
    try:
        return Version(spec.version)
    except ValueError:  # ``===`` allows arbitrary strings; they pin nothing we can compare
        return None


def pins_exactly(specifier: SpecifierSet, version: Version) -> bool:
    """Whether one ``==``/``===`` clause of ``specifier`` names ``version`` (PEP 592 opt-in)."""
    for spec in specifier:
        pinned = _pinned(spec)
        if pinned is not None and spec.contains(version, prereleases=True):
            return True
    return False
