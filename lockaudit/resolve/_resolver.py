"""``resolve`` and ``explain_all``: the two entry points, over resolvelib and our provider."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.resolvers import Result
from resolvelib.structs import State

from lockaudit.index.types import CoreMetadata, MetadataSource, NeedsBuild
from lockaudit.resolve._explain import Explained, explain
from lockaudit.resolve._model import (
    Conflict,
    Pin,
    RequirementKind,
    Resolution,
    ResolutionFailed,
    RootRequirement,
)
from lockaudit.resolve._nodes import PYTHON, Cand, Req
from lockaudit.resolve._provider import Info, Provider, Roots, preferences_for
from lockaudit.resolve._reporter import ResolveReporter
from lockaudit.workspace.model import Target

MAX_ROUNDS = 200_000  # pip's bound; a real image set needs a few hundred
MAX_EXPLAINED = 25  # explain_all stops after this many independent conflicts


def resolve(
    source: MetadataSource,
    target: Target,
    roots: Sequence[RootRequirement],
    *,
    preferences: Mapping[NormalizedName, Version] | None = None,
    upgrade: bool | frozenset[NormalizedName] = False,
    reporter: ResolveReporter | None = None,
) -> Resolution:
    """Pin every package ``roots`` need on ``target``; raise :class:`ResolutionFailed` if none.

    The failure explains the first conflict found; :func:`explain_all` finds every one.
    """
    outcome = _attempt(source, target, roots, preferences, upgrade, reporter)
    if isinstance(outcome, Resolution):
        return outcome
    explained, unresolvable = outcome
    raise ResolutionFailed(_image_of(roots, target), (explained.conflict,), unresolvable)


def explain_all(
    source: MetadataSource,
    target: Target,
    roots: Sequence[RootRequirement],
    *,
    preferences: Mapping[NormalizedName, Version] | None = None,
    upgrade: bool | frozenset[NormalizedName] = False,
    reporter: ResolveReporter | None = None,
) -> tuple[Conflict, ...]:
    """Every independent conflict, not only the first; empty when ``roots`` resolve.

    After explaining one conflict, the root requirements its chains start from are set aside and
    the rest is resolved again, until it resolves (at most ``MAX_EXPLAINED`` rounds). Parent pins
    and constraints are never set aside: they are the fixed world the requirements must fit.
    """
    conflicts: list[Conflict] = []
    aside: set[int] = set()
    for _ in range(MAX_EXPLAINED):
        active = [root for index, root in enumerate(roots) if index not in aside]
        positions = [index for index in range(len(roots)) if index not in aside]
        outcome = _attempt(source, target, active, preferences, upgrade, reporter)
        if isinstance(outcome, Resolution):
            break
        explained, _ = outcome
        conflicts.append(explained.conflict)
        offending = {positions[i] for i in explained.roots} or _naming(
            roots, aside, explained.conflict.packages
        )
        if not offending:
            break
        aside.update(offending)
    return tuple(conflicts)


def _naming(
    roots: Sequence[RootRequirement], aside: set[int], names: Collection[NormalizedName]
) -> set[int]:
    """Fallback when no chain reached a root: the requirements naming a package involved."""
    return {
        index
        for index, root in enumerate(roots)
        if index not in aside
        and root.origin.kind is RequirementKind.REQUIREMENT
        and root.name in names
    }


def _attempt(
    source: MetadataSource,
    target: Target,
    roots: Sequence[RootRequirement],
    preferences: Mapping[NormalizedName, Version] | None,
    upgrade: bool | frozenset[NormalizedName],
    reporter: ResolveReporter | None,
) -> Resolution | tuple[Explained, tuple[NeedsBuild, ...]]:
    split = Roots.split(roots, target.marker_environment())
    provider = Provider(source, target, split, preferences_for(preferences, upgrade))
    adapter = _Reporter(reporter or ResolveReporter(), target, len(roots))
    provider.discover(split.requirements)
    try:
        result = Resolver(provider, adapter).resolve(split.requirements, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as impossible:
        causes: list[Info] = list(impossible.causes)
        return explain(provider, causes), _unresolvable(provider)
    except ResolutionTooDeep as deep:
        return _too_deep(deep.round_count), _unresolvable(provider)
    resolution = _resolution(provider, result)
    adapter.reporter.ending(len(resolution.pins), adapter.rounds)
    return resolution


def _unresolvable(provider: Provider) -> tuple[NeedsBuild, ...]:
    return tuple(provider.needs_build[key] for key in sorted(provider.needs_build))


def _too_deep(rounds: int) -> Explained:
    conflict = Conflict(
        summary=f"gave up after {rounds} rounds of backtracking",
        chain=(f"the resolver tried {rounds} combinations without finding one that fits",),
        with_parent=False,
        packages=(),
        suggestion="pin the packages that move the most (the ones named in -v output)",
        origins=(),
    )
    return Explained(conflict, frozenset())


def _image_of(roots: Sequence[RootRequirement], target: Target) -> str:
    for root in roots:
        if root.origin.kind is RequirementKind.REQUIREMENT and root.origin.image:
            return root.origin.image
    return target.describe()


def _resolution(provider: Provider, result: Result[Req, Cand, str]) -> Resolution:
    pins = [
        _pin(provider, result, cand)
        for key, cand in result.mapping.items()
        if key != PYTHON and cand.extra is None
    ]
    return Resolution(provider.target, tuple(sorted(pins, key=lambda p: p.name)))


def _pin(provider: Provider, result: Result[Req, Cand, str], cand: Cand) -> Pin:
    assert cand.release is not None  # only the interpreter has none
    same = [c for c in result.mapping.values() if c.name == cand.name]
    required_by: set[str] = set()
    for other in same:
        for info in result.criteria[other.key].information:
            if info.parent is None and info.requirement.origin is not None:
                required_by.add(str(info.requirement.origin.location))
            elif info.parent is not None and info.parent.name != cand.name:
                required_by.add(info.parent.name)
    metadata = provider.metadata(cand.release)
    if isinstance(metadata, NeedsBuild):  # only a parent pin is kept without metadata
        metadata = CoreMetadata(cand.name, cand.version, ())
    return Pin(
        name=cand.name,
        version=cand.version,
        candidate=cand.release,
        metadata=metadata,
        extras=frozenset(c.extra for c in same if c.extra is not None),
        required_by=tuple(sorted(required_by)),
        from_parent=cand.name in provider.roots.parent_pins,
    )


@dataclass
class _Reporter(BaseReporter[Req, Cand, str]):
    """resolvelib's reporter forwarding to our :class:`ResolveReporter` (plain names only)."""

    reporter: ResolveReporter
    target: Target
    roots: int
    rounds: int = 0

    def starting(self) -> None:
        self.reporter.starting(self.target, self.roots)

    def starting_round(self, index: int) -> None:
        self.rounds = index + 1

    def pinning(self, candidate: Cand) -> None:
        if candidate.key != PYTHON and candidate.extra is None:
            self.reporter.pinning(candidate.name, candidate.version)

    def resolving_conflicts(self, causes: Collection[Info]) -> None:
        names = sorted({c.requirement.name for c in causes})
        self.reporter.backtracking(tuple(names))

    def ending(self, state: State[Req, Cand, str]) -> None:
        """The resolution's own end; ``_attempt`` reports after building the pins."""
