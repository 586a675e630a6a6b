"""Explanations: turn resolvelib's ``ResolutionImpossible.causes`` into a :class:`Conflict`.

A cause is a requirement and the candidate that declared it (None for a root). Each cause is
walked back, through the requirements the provider saw, to a root requirement with a file and a
line; the other side of the conflict is another cause, a constraint or parent pin on the same
name, or a plain reason (not on the index, only yanked or pre-releases, needs a build).

Suggestions come from looking at versions, never from re-running the resolver: for the package
whose requirement conflicts, the newest release whose own requirement accepts the other side, or
else the oldest release of the contested package it would need.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName

from lockaudit.errors import Location
from lockaudit.index.types import Candidate, CoreMetadata, NeedsBuild
from lockaudit.resolve._model import Conflict, RequirementKind, RootRequirement
from lockaudit.resolve._nodes import PYTHON_NAME, Cand, Req, requirement_text
from lockaudit.resolve._provider import Info, Provider

SCAN_LIMIT = 40  # releases examined per suggestion: enough for years of history, still fast
SHOW_VERSIONS = 5


@dataclass(frozen=True)
class Explained:
    conflict: Conflict
    roots: frozenset[int]  # indexes of the REQUIREMENT roots the chains start from


@dataclass(frozen=True)
class _Chain:
    links: tuple[tuple[Cand | None, Req], ...]  # from a root requirement to the conflicting one

    @property
    def root(self) -> Req:
        return self.links[0][1]

    @property
    def last(self) -> tuple[Cand | None, Req]:
        return self.links[-1]

    def lines(self) -> list[str]:
        root = self.root
        where = str(root.origin.location) if root.origin else "a root requirement"
        if len(self.links) == 1:
            return [f"{where} requires {root.text}"]
        first_cand, second = self.links[1]
        assert first_cand is not None  # only the first link comes from a root
        picked = f"{first_cand}"
        lead = (
            f"{where} {picked}"
            if root.text == picked
            else f"{where} {root.text} selects {picked}, which"
        )
        lines = [f"{lead} requires {second.text}"]
        lines.extend(f"{cand} requires {req.text}" for cand, req in self.links[2:])
        return lines

    def short(self) -> str:
        cand, req = self.last
        who = str(cand) if cand is not None else (str(req.origin.location) if req.origin else "")
        return f"{who} requires {req.text}"


def explain(provider: Provider, causes: Sequence[Info]) -> Explained:
    """One conflict from the causes of a failed resolution (the first contested name)."""
    contested = causes[0].requirement.name
    unique: dict[tuple[str, str], Info] = {}
    for cause in causes:
        if cause.requirement.name == contested:
            parent = str(cause.parent) if cause.parent is not None else "<root>"
            unique.setdefault((parent, cause.requirement.text), cause)
    chains = [_chain(provider, cause) for cause in unique.values()]
    return _Builder(provider, contested, chains).build()


def _chain(provider: Provider, cause: Info) -> _Chain:
    if cause.parent is None:
        return _Chain(((None, cause.requirement),))
    return _Chain((*_path_to_root(provider, cause.parent), (cause.parent, cause.requirement)))


def _path_to_root(provider: Provider, cand: Cand) -> tuple[tuple[Cand | None, Req], ...]:
    """The shortest recorded way a root requirement led to ``cand`` (breadth-first)."""
    queue: deque[tuple[Cand, tuple[tuple[Cand | None, Req], ...]]] = deque([(cand, ())])
    seen = {cand}
    while queue:
        current, below = queue.popleft()
        for parent, req in provider.edges.get(current.name, ()):
            if req.key != current.key:  # ``foo`` and ``foo[x]`` share edges; keep ours
                continue
            if not req.specifier.contains(current.version, prereleases=True):
                continue
            path = ((parent, req), *below)
            if parent is None:
                return path
            if parent not in seen:
                seen.add(parent)
                queue.append((parent, path))
    return ()


class _Builder:
    """Assembles one :class:`Conflict` on ``contested`` from the chains that reach it."""

    def __init__(self, provider: Provider, contested: NormalizedName, chains: list[_Chain]):
        self.provider = provider
        self.contested = contested
        self.chains = [c for c in chains if c.links]
        self.specs = [c.last[1].specifier for c in self.chains]
        self.constraints = self._relevant_constraints()

    def _relevant_constraints(self) -> tuple[RootRequirement, ...]:
        """Constraints on the contested name that reject a release the requirements accept."""
        if self.contested == PYTHON_NAME:
            return ()
        wanted = [
            r
            for r in self.provider.releases(self.contested)
            if all(s.contains(r.version, prereleases=True) for s in self.specs)
        ]
        return tuple(
            c
            for c in self.provider.roots.constraints.get(self.contested, ())
            if not wanted
            or any(
                not c.requirement.specifier.contains(r.version, prereleases=True) for r in wanted
            )
        )

    @property
    def with_parent(self) -> bool:
        parent_pins = self.provider.roots.parent_pins
        if any(c.origin.kind is RequirementKind.PARENT for c in self.constraints):
            return True
        return any(
            cand is not None and cand.name in parent_pins
            for chain in self.chains
            for cand, _ in chain.links
        )

    def build(self) -> Explained:
        lines: list[str] = []
        for number, chain in enumerate(self.chains):
            chain_lines = chain.lines()
            if number:
                chain_lines[0] = f"and {chain_lines[0]}"
            lines.extend(chain_lines)
        partner = self._partner()
        lines.append(f"but {partner}")
        shorts = [c.short() for c in self.chains]
        summary = f"{self._label()}: {', '.join(shorts)}, but {partner.split(' (')[0]}"
        conflict = Conflict(
            summary=summary,
            chain=tuple(lines),
            with_parent=self.with_parent,
            packages=self._packages(),
            suggestion=_Suggester(self).suggest(),
            origins=self._origins(),
        )
        return Explained(conflict, self._root_indexes())

    def _label(self) -> str:
        return "Python" if self.contested == PYTHON_NAME else self.contested

    def _partner(self) -> str:
        parents = [c for c in self.constraints if c.origin.kind is RequirementKind.PARENT]
        where = "; ".join(str(c.origin.location) for c in self.constraints)
        if parents:
            image = parents[0].origin.image or "the parent image"
            return f"{image}'s lock pins {requirement_text(parents[0].requirement)} ({where})"
        if self.constraints:
            texts = " and ".join(requirement_text(c.requirement) for c in self.constraints)
            return f"the constraints allow only {texts} ({where})"
        if self.contested == PYTHON_NAME:
            return f"the target runs Python {self.provider.target.python}"
        return _Reasons(self.provider, self.contested, self.specs).why()

    def _packages(self) -> tuple[NormalizedName, ...]:
        names = {cand.name for chain in self.chains for cand, _ in chain.links if cand is not None}
        names.update(chain.root.name for chain in self.chains)
        names.add(self.contested)
        names.discard(PYTHON_NAME)
        return tuple(sorted(names))

    def _origins(self) -> tuple[Location, ...]:
        found = {chain.root.origin.location for chain in self.chains if chain.root.origin}
        found.update(c.origin.location for c in self.constraints)
        return tuple(sorted(found))

    def _root_indexes(self) -> frozenset[int]:
        return frozenset(c.root.root_index for c in self.chains if c.root.root_index >= 0)


class _Reasons:
    """Why no release of a name is usable when nothing else on the name disagrees."""

    def __init__(self, provider: Provider, name: NormalizedName, specs: list[SpecifierSet]):
        self.provider = provider
        self.name = name
        self.specs = specs

    def why(self) -> str:
        releases = self.provider.releases(self.name)
        if not releases:
            return f"{self.name} has no release usable on {self.provider.target.describe()}"
        matching = [
            r for r in releases if all(s.contains(r.version, prereleases=True) for s in self.specs)
        ]
        if not matching:
            shown = ", ".join(str(r.version) for r in releases[:SHOW_VERSIONS])
            more = ", ..." if len(releases) > SHOW_VERSIONS else ""
            return f"no release of {self.name} matches (available: {shown}{more})"
        return self._skipped(matching)

    def _skipped(self, matching: list[Candidate]) -> str:
        builds = [
            self.provider.needs_build[(r.name, r.version)]
            for r in matching
            if (r.name, r.version) in self.provider.needs_build
        ]
        if builds:
            first = builds[0]
            return (
                f"{self.name} {first.version} needs a build to know its dependencies"
                f" ({first.reason})"
            )
        if all(r.yanked is not None for r in matching):
            return (
                f"{self.name} {matching[0].version} is yanked"
                " (a root requirement must pin it with == to accept it)"
            )
        shown = ", ".join(str(r.version) for r in matching[:SHOW_VERSIONS])
        return f"none of {self.name} {shown} fits with the rest of the requirements"


class _Suggester:
    """The nearest fix found by looking at the versions of the packages in the conflict."""

    def __init__(self, builder: _Builder):
        self.builder = builder
        self.provider = builder.provider

    def suggest(self) -> str | None:
        focus = next((c for c in self.builder.chains if c.last[0] is not None), None)
        if focus is None:
            return self._for_roots()
        parent, req = focus.last
        assert parent is not None
        if self.builder.contested == PYTHON_NAME:
            return self._newest_for_python(parent)
        return self._newest_accepting(focus, parent, req)

    def _for_roots(self) -> str | None:
        chains = self.builder.chains
        if self.builder.constraints and chains and chains[0].root.origin:
            where = chains[0].root.origin.location
            texts = " and ".join(requirement_text(c.requirement) for c in self.builder.constraints)
            return f"change {where} to accept {texts}"
        if len(chains) > 1:
            places = " and ".join(str(c.root.origin.location) for c in chains if c.root.origin)
            return f"make {places} agree on {self.builder.contested}"
        return None

    def _scan(self, name: NormalizedName, current: Cand) -> list[Candidate]:
        """The releases of ``name`` worth proposing, newest first, metadata prefetched."""
        releases = [
            r
            for r in self.provider.releases(name)
            if r.yanked is None and (current.version.is_prerelease or not r.version.is_prerelease)
        ][:SCAN_LIMIT]
        self.provider.source.prefetch(releases, self.provider.target)
        return releases

    def _newest_for_python(self, parent: Cand) -> str | None:
        python = self.provider.python
        for release in self._scan(parent.name, parent):
            metadata = self.provider.metadata(release)
            if isinstance(metadata, CoreMetadata) and (
                metadata.requires_python is None
                or metadata.requires_python.contains(python, prereleases=True)
            ):
                name = parent.name
                return (
                    f"{name}=={release.version} is the newest {name} that supports Python {python}"
                )
        return f"no release of {parent.name} supports Python {python}"

    def _other_side(self, focus: _Chain) -> tuple[list[SpecifierSet], str]:
        constraints = self.builder.constraints
        if constraints:
            specs = [c.requirement.specifier for c in constraints]
            texts = [requirement_text(c.requirement) for c in constraints]
        else:
            others = [c.last[1] for c in self.builder.chains if c is not focus]
            specs = [r.specifier for r in others]
            texts = [r.text for r in others]
        return specs, " and ".join(dict.fromkeys(texts)) or self.builder.contested

    def _newest_accepting(self, focus: _Chain, parent: Cand, req: Req) -> str | None:
        contested = self.builder.contested
        specs, other = self._other_side(focus)
        usable = [
            r.version
            for r in self.provider.releases(contested)
            if all(s.contains(r.version, prereleases=True) for s in specs)
        ]
        for release in self._scan(parent.name, parent):
            wants = self._wants(release, parent, contested)
            if wants is None:
                continue
            if any(all(s.contains(v, prereleases=True) for s in wants) for v in usable):
                if release.version == parent.version:
                    break
                name = parent.name
                return f"{name}=={release.version} is the newest {name} that accepts {other}"
        return self._oldest_needed(parent, req)

    def _wants(
        self, release: Candidate, parent: Cand, contested: NormalizedName
    ) -> list[SpecifierSet] | None:
        """What ``release`` requires of the contested name; None when it is unusable here."""
        metadata = self.provider.metadata(release)
        if isinstance(metadata, NeedsBuild):
            return None
        python = metadata.requires_python
        if python is not None and not python.contains(self.provider.python, prereleases=True):
            return None
        deps = self.provider.dependencies_of(release, None)
        if parent.extra is not None:
            deps = (*deps, *self.provider.dependencies_of(release, parent.extra))
        return [d.specifier for d in deps if d.name == contested]

    def _oldest_needed(self, parent: Cand, req: Req) -> str:
        contested = self.builder.contested
        fits = [
            r.version
            for r in self.provider.releases(contested)
            if req.specifier.contains(r.version, prereleases=True)
        ]
        where = " (a change to the parent image)" if self.builder.with_parent else ""
        if not fits:
            return f"{req.text} would be needed, and no release of {contested} matches it"
        return (
            f"{req.text} would be needed{where}: {contested} {min(fits)} is the oldest release "
            f"{parent} accepts"
        )
