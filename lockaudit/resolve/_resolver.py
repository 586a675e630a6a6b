"""``resolve`` and ``explain_all``: the two entry points, over resolvelib and our provider."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.resolvers import Result
from resolvelib.structs import State

from lockaudit.errors import IndexFetchError, Location, OfflineMissError
from lockaudit.index.types import CoreMetadata, MetadataSource, NeedsBuild
from lockaudit.resolve._explain import Explained, Fix, explain
from lockaudit.resolve._model import (
    Conflict,
    Origin,
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
MAX_FIXES_TRIED = 3  # resolutions spent per conflict to prove a suggested fix
# A fix is proved by a resolution that needs a few hundred rounds; one that backtracks past
# this bound proves nothing (the fix is then "not verified"), and stopping early keeps one
# hopeless fix from costing minutes (a matrix of 20 pins took 200,000 rounds, 3.5 minutes).
MAX_FIX_ROUNDS = 5_000


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
    conflict = _proven(explained, source, target, roots, preferences, upgrade)
    raise ResolutionFailed(_image_of(roots, target), (conflict,), unresolvable)


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

    After explaining one conflict, the root requirements of its culprit (and of what rejects
    it) are set aside and the rest is resolved again, until it resolves (at most
    ``MAX_EXPLAINED`` rounds). Parent pins and constraints are never set aside: they are the
    fixed world the requirements must fit. An index that cannot be reached raises.
    """
    conflicts, failure = explain_every(
        source, target, roots, preferences=preferences, upgrade=upgrade, reporter=reporter
    )
    if failure is not None:
        raise failure
    return conflicts


def explain_every(
    source: MetadataSource,
    target: Target,
    roots: Sequence[RootRequirement],
    *,
    preferences: Mapping[NormalizedName, Version] | None = None,
    upgrade: bool | frozenset[NormalizedName] = False,
    reporter: ResolveReporter | None = None,
) -> tuple[tuple[Conflict, ...], IndexFetchError | OfflineMissError | None]:
    """:func:`explain_all`, keeping the conflicts found before an index failed: they are true
    whatever the rest says (the error says what is left unverified)."""
    conflicts: list[Conflict] = []
    aside: set[int] = set()
    for _ in range(MAX_EXPLAINED):
        active = [root for index, root in enumerate(roots) if index not in aside]
        positions = [index for index in range(len(roots)) if index not in aside]
        try:
            outcome = _attempt(source, target, active, preferences, upgrade, reporter)
        except (IndexFetchError, OfflineMissError) as e:
            return tuple(conflicts), e
        if isinstance(outcome, Resolution):
            break
        explained, _ = outcome
        conflicts.append(_proven(explained, source, target, active, preferences, upgrade))
        offending = {positions[i] for i in explained.roots} or _naming(
            roots, aside, explained.conflict.packages
        )
        if not offending:
            break
        aside.update(offending)
    return tuple(conflicts), None


def _proven(
    explained: Explained,
    source: MetadataSource,
    target: Target,
    roots: Sequence[RootRequirement],
    preferences: Mapping[NormalizedName, Version] | None,
    upgrade: bool | frozenset[NormalizedName],
) -> Conflict:
    """The conflict with the first of its fixes that ends it, resolving again to know.

    A fix ends the conflict when the changed roots resolve, or fail on a conflict that neither
    involves the changed package nor the contested one (a conflict of its own, reported
    separately). When no fix tried does, the suggestion says so instead of pointing at a
    version that does not help.
    """
    conflict = explained.conflict
    tried: list[Fix] = []
    for fix in explained.fixes[:MAX_FIXES_TRIED]:
        try:
            outcome = _attempt(
                source,
                target,
                _with_fix(roots, fix),
                preferences,
                upgrade,
                None,
                max_rounds=MAX_FIX_ROUNDS,
            )
        except (IndexFetchError, OfflineMissError):
            continue  # cannot be tried here (offline): neither proven nor disproven
        if not isinstance(outcome, Resolution) and outcome[0].undecided:
            continue  # the resolver gave up: neither proven nor disproven
        if isinstance(outcome, Resolution) or _elsewhere(outcome[0], explained, fix):
            return replace(conflict, suggestion=fix.text)
        tried.append(fix)
    if not tried:
        if explained.fixes:  # none could be tried
            return replace(conflict, suggestion=f"{conflict.suggestion} (not verified)")
        return conflict
    names = " or ".join(f"{f.name}=={f.version}" for f in tried)
    return replace(
        conflict, suggestion=f"no change of one version was found that resolves it (tried {names})"
    )


def _elsewhere(after: Explained, before: Explained, fix: Fix) -> bool:
    """Whether the conflict left after ``fix`` is another one, not caused by the fix."""
    involved = set(after.culprits) | {after.contested}
    return after.contested != before.contested and not involved & {fix.name, before.contested}


def _with_fix(roots: Sequence[RootRequirement], fix: Fix) -> list[RootRequirement]:
    changed = list(roots)
    if fix.root_index is None or changed[fix.root_index].name != fix.name:
        origin = Origin(Location("<suggested fix>"), None, RequirementKind.REQUIREMENT)
        changed.append(RootRequirement(Requirement(f"{fix.name}=={fix.version}"), origin))
        return changed
    old = changed[fix.root_index]
    extras = f"[{','.join(sorted(old.requirement.extras))}]" if old.requirement.extras else ""
    marker = f"; {old.requirement.marker}" if old.requirement.marker else ""
    pinned = Requirement(f"{old.requirement.name}{extras}=={fix.version}{marker}")
    changed[fix.root_index] = RootRequirement(pinned, old.origin)
    return changed


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
    *,
    max_rounds: int = MAX_ROUNDS,
) -> Resolution | tuple[Explained, tuple[NeedsBuild, ...]]:
    split = Roots.split(roots, target)
    provider = Provider(source, target, split, preferences_for(preferences, upgrade))
    adapter = _Reporter(reporter or ResolveReporter(), target, len(roots))
    provider.discover(split.requirements)
    try:
        result = Resolver(provider, adapter).resolve(split.requirements, max_rounds=max_rounds)
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
    return Explained(conflict, frozenset(), undecided=True)


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
