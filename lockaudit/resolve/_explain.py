"""Explanations: turn resolvelib's ``ResolutionImpossible.causes`` into a :class:`Conflict`.

A cause is a requirement and the candidate that declared it (None for a root). Each cause is
walked back, through the requirements the provider saw, to a root requirement with a file and a
line; the other side of the conflict is another cause, a constraint or parent pin on the same
name, or a plain reason (not on the index, only yanked or pre-releases, needs a build).

Blame: the *sides* of a conflict are the requirements on the contested name (each chain's last
link, and the constraints and parent pins that matter). A side is a *culprit* when every other
side together still admits a release: dropping it alone would end the conflict. The finding is
filed at the culprit's root line (a requirement that is merely present, such as librosa's numpy
range that accepts both versions in play, is never blamed); the sides that reject the culprit
are its *opposition*, named in the summary and kept as related locations.

Fixes come from looking at versions: for the culprit package, the newest release whose own
requirement accepts what every other side allows; for a root pin that is a culprit, the newest
release every other side accepts. Each is a :class:`Fix` that :mod:`._resolver` tries by
resolving again, and only a fix that ends the conflict is suggested (else the suggestion says
none was found). A change to the parent image or a constraint file cannot be tried in the
layer: it is stated as what would be needed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.errors import IndexFetchError, Location, OfflineMissError
from lockaudit.index.types import Candidate, CoreMetadata, NeedsBuild
from lockaudit.resolve._model import Conflict, RequirementKind, RootRequirement
from lockaudit.resolve._nodes import PYTHON_NAME, Cand, Req, requirement_text
from lockaudit.resolve._provider import Info, Provider

SCAN_LIMIT = 40  # releases examined per suggestion: enough for years of history, still fast
SHOW_VERSIONS = 5


@dataclass(frozen=True)
class Fix:
    """A change of one root requirement that would end the conflict, to be tried.

    ``root_index`` is the root to pin to ``name==version`` instead (its position in the resolved
    root list; its extras and marker stay), or None to add that pin as a new root (a package the
    roots only reach transitively).
    """

    text: str
    name: NormalizedName
    version: Version
    root_index: int | None


@dataclass(frozen=True)
class Explained:
    conflict: Conflict
    roots: frozenset[int]  # indexes of the REQUIREMENT roots to set aside (the culprits')
    fixes: tuple[Fix, ...] = ()  # to be tried, nearest first; the conflict's text stands if none
    contested: NormalizedName | None = None
    culprits: frozenset[NormalizedName] = frozenset()  # packages of the culprit and opposition
    # the resolver gave up within its rounds: nothing was proved either way
    undecided: bool = False


@dataclass(frozen=True)
class _Side:
    """One requirement on the contested name: a chain's last link, or a constraint/parent pin."""

    spec: SpecifierSet
    chain: _Chain | None = None
    constraint: RootRequirement | None = None

    @property
    def location(self) -> Location | None:
        if self.constraint is not None:
            return self.constraint.origin.location
        origin = self.chain.root.origin if self.chain else None
        return origin.location if origin else None

    @property
    def who(self) -> str:
        """Who asks: the requiring release, or the file and line of a root or constraint."""
        if self.chain is not None and self.chain.last[0] is not None:
            return str(self.chain.last[0])
        return str(self.location) if self.location else self.text

    @property
    def text(self) -> str:
        if self.constraint is not None:
            return requirement_text(self.constraint.requirement)
        return self.chain.last[1].text if self.chain else ""

    @property
    def transitive(self) -> bool:
        return self.chain is not None and self.chain.last[0] is not None


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

    def via(self) -> list[str]:
        """What :meth:`short` leaves out: how the root reaches the package that requires."""
        if len(self.links) == 1:
            return []
        root = self.root
        first, _ = self.links[1]
        assert first is not None
        same = root.name == first.name and str(root.specifier) == f"=={first.version}"
        where = f"{root.origin.location} " if root.origin else ""
        lines = [] if same else [f"{where}{root.text} selects {first}"]
        lines.extend(f"{cand} requires {req.text}" for cand, req in self.links[1:-1])
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
        self.sides = [_Side(c.last[1].specifier, chain=c) for c in self.chains] + [
            _Side(c.requirement.specifier, constraint=c) for c in self.constraints
        ]
        self.focus, self.opposition = self._blame()

    def fits(self, sides: Sequence[_Side]) -> bool:
        """Whether some release of the contested name satisfies every one of ``sides``."""
        return any(
            all(side.spec.contains(r.version, prereleases=True) for side in sides)
            for r in self.provider.releases(self.contested)
        )

    def _blame(self) -> tuple[_Side | None, tuple[_Side, ...]]:
        """The culprit to file the conflict against, and the sides that reject it.

        None when no single side explains it (the sides do agree on a release, which is then
        unusable for another reason, or only several sides together exclude every release).
        """
        if self.contested == PYTHON_NAME or len(self.sides) < 2 or self.fits(self.sides):
            return None, ()  # nothing else disagrees: the release is missing or unusable
        culprits = [s for s in self.sides if self.fits([o for o in self.sides if o is not s])]
        with_chain = [s for s in culprits if s.chain is not None]
        if not with_chain:
            return None, ()
        focus = next((s for s in with_chain if s.transitive), with_chain[0])
        against = tuple(s for s in self.sides if s is not focus and not self.fits([focus, s]))
        against = against or tuple(s for s in self.sides if s is not focus and s.spec)
        return (focus, against) if against else (None, ())

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
        suggester = _Suggester(self)
        conflict = Conflict(
            summary=self._summary(partner),
            chain=tuple(lines),
            with_parent=self.with_parent,
            packages=self._packages(),
            suggestion=suggester.suggest(),
            origins=self._origins(),
            blame=self.focus.location if self.focus else None,
            related=self._related(),
            contested="" if self.contested == PYTHON_NAME else self.contested,
            via=self._via(),
        )
        return Explained(
            conflict, self._root_indexes(), suggester.fixes(), self.contested, self._culprits()
        )

    def _culprits(self) -> frozenset[NormalizedName]:
        sides = (self.focus, *self.opposition) if self.focus else self.sides
        chains = [s.chain for s in sides if s is not None and s.chain is not None]
        names = {cand.name for c in chains for cand, _ in c.links if cand is not None}
        names |= {c.root.name for c in chains}
        return frozenset(names - {PYTHON_NAME})

    def _summary(self, partner: str) -> str:
        """``name: <culprit> requires X, but <what rejects it>`` (every chain when no culprit)."""
        if self.focus is None or self.focus.chain is None:
            shorts = ", ".join(dict.fromkeys(c.short() for c in self.chains))
            return f"{self._label()}: {shorts}, but {partner.split(' (')[0]}"
        against = [s.chain.short() for s in self.opposition if s.chain is not None]
        if any(s.constraint is not None for s in self.opposition):
            against.append(self._partner(only=self.opposition).split(" (")[0])
        rejected = _and(against)
        return f"{self._label()}: {self.focus.chain.short()}, but {rejected}"

    def _via(self) -> tuple[str, ...]:
        sides = (self.focus, *self.opposition) if self.focus else self.sides
        chains = [s.chain for s in sides if s is not None and s.chain is not None]
        return tuple(dict.fromkeys(line for chain in chains for line in chain.via()))

    def _related(self) -> tuple[Location, ...]:
        blamed = self.focus.location if self.focus else None
        places = (s.location for s in self.opposition)
        return tuple(dict.fromkeys(p for p in places if p is not None and p != blamed))

    def _label(self) -> str:
        return "Python" if self.contested == PYTHON_NAME else self.contested

    def _partner(self, only: Sequence[_Side] = ()) -> str:
        chosen = [s.constraint for s in only if s.constraint is not None] or self.constraints
        constraints = tuple(chosen)
        parents = [c for c in constraints if c.origin.kind is RequirementKind.PARENT]
        where = "; ".join(dict.fromkeys(str(c.origin.location) for c in constraints))
        if parents:
            image = parents[0].origin.image or "the parent image"
            return f"{image}'s lock pins {requirement_text(parents[0].requirement)} ({where})"
        if constraints:
            texts = _and(requirement_text(c.requirement) for c in constraints)
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
        """The roots to set aside to look for the next conflict: the culprit's and its
        opposition's when there is a culprit (an innocent requirement stays in, so that a
        conflict of its own is still found), else every chain's."""
        chains = [s.chain for s in (self.focus, *self.opposition) if s and s.chain]
        if self.focus is None:
            chains = self.chains
        return frozenset(c.root.root_index for c in chains if c.root.root_index >= 0)


def _and(texts: Iterable[str]) -> str:
    """``a, b and c``, each text once (three files pinning torch==2.1.0 say it once)."""
    items = list(dict.fromkeys(texts))
    return " and ".join((", ".join(items[:-1]), items[-1])) if len(items) > 1 else "".join(items)


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
            rest = len(releases) - SHOW_VERSIONS
            more = f", ... ({rest} more)" if rest > 0 else ""
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
        rest = len(matching) - SHOW_VERSIONS
        more = f", ... ({rest} more)" if rest > 0 else ""
        return f"none of {self.name} {shown}{more} fits with the rest of the requirements"


class _Suggester:
    """The nearest fixes found by looking at the versions of the packages in the conflict.

    :meth:`suggest` is the text before any fix is tried; :meth:`fixes` the changes the resolver
    tries (the suggestion becomes the first that ends the conflict).
    """

    def __init__(self, builder: _Builder):
        self.builder = builder
        self.provider = builder.provider
        self._found: list[Fix] = []
        self._text: str | None = None
        self._done = False
        self._unread = False  # a release was skipped because its metadata could not be read

    def suggest(self) -> str | None:
        self._compute()
        return self._text

    def fixes(self) -> tuple[Fix, ...]:
        self._compute()
        return tuple(self._found)

    def _compute(self) -> None:
        if self._done:
            return
        self._done = True
        focus = self.builder.focus
        if self.builder.contested == PYTHON_NAME or focus is None or focus.chain is None:
            self._text = self._without_culprit()
            return
        if focus.transitive:
            parent, req = focus.chain.last
            assert parent is not None
            self._found.extend(self._newer_dependent(focus, parent))
            self._found.extend(self._root_pins(self.builder.opposition))
            if self.builder.with_parent:
                needed = self._oldest_needed(parent, req)  # a parent change: cannot be tried
            else:
                needed = (
                    f"none found: no release of {parent.name} accepts "
                    f"{self._texts(self.builder.opposition)}, and no release of "
                    f"{self.builder.contested} satisfies every requirement on it"
                )
        else:
            self._found.extend(self._root_pins((focus,)))
            needed = (
                f"none found: no release of {self.builder.contested} satisfies every "
                "other requirement on it"
            )
        if not self._found and self._unread and needed and needed.startswith("none found"):
            needed += " (some releases were not looked at: their metadata could not be read)"
        self._text = self._found[0].text if self._found else needed

    def _without_culprit(self) -> str | None:
        """No single requirement explains it: the former nearest-fix search, unverified."""
        chain = next((c for c in self.builder.chains if c.last[0] is not None), None)
        if chain is None:
            return self._for_roots()
        parent, req = chain.last
        assert parent is not None
        if self.builder.contested == PYTHON_NAME:
            return self._newest_for_python(parent)
        usable = self._usable(next(s for s in self.builder.sides if s.chain is chain))
        for release in self._scan(parent.name, parent):
            wants = self._wants(release, parent, self.builder.contested)
            if wants is not None and any(
                all(s.contains(v, prereleases=True) for s in wants) for v in usable
            ):
                if release.version == parent.version:
                    break
                others = [s for s in self.builder.sides if s.chain is not chain]
                return (
                    f"{parent.name}=={release.version} is the newest {parent.name} that accepts "
                    f"{self._texts(others)}"
                )
        return self._oldest_needed(parent, req)

    def _for_roots(self) -> str | None:
        chains = self.builder.chains
        if self.builder.constraints and chains and chains[0].root.origin:
            where = chains[0].root.origin.location
            texts = _and(requirement_text(c.requirement) for c in self.builder.constraints)
            return f"change {where} to accept {texts}"
        if len(chains) > 1:
            places = _and(str(c.root.origin.location) for c in chains if c.root.origin)
            return f"make {places} agree on {self.builder.contested}"
        return None

    def _usable(self, without: _Side) -> list[Version]:
        """Releases of the contested name every side but ``without`` accepts."""
        others = [s for s in self.builder.sides if s is not without]
        return [
            r.version
            for r in self.provider.releases(self.builder.contested)
            if all(s.spec.contains(r.version, prereleases=True) for s in others)
        ]

    def _texts(self, sides: Iterable[_Side]) -> str:
        """The sides' requirements as text, each once (a bare name says nothing: left out)."""
        texts = [s.text for s in sides]
        return _and(t for t in texts if t != self.builder.contested) or self.builder.contested

    def _newer_dependent(self, focus: _Side, parent: Cand) -> Iterator[Fix]:
        """The newest release of the culprit package whose requirement accepts the others."""
        assert focus.chain is not None
        usable = self._usable(focus)
        for release in self._scan(parent.name, parent):
            wants = self._wants(release, parent, self.builder.contested)
            if wants is None or not any(
                all(s.contains(v, prereleases=True) for s in wants) for v in usable
            ):
                continue
            if release.version == parent.version:
                return
            root = focus.chain.root
            replaces = root.root_index if root.name == parent.name and root.origin else None
            name = parent.name
            yield Fix(
                f"{name}=={release.version} is the newest {name} that accepts "
                f"{self._texts(self.builder.opposition)}",
                name,
                release.version,
                replaces if replaces is not None and replaces >= 0 else None,
            )
            return

    def _root_pins(self, sides: Iterable[_Side]) -> Iterator[Fix]:
        """For each side that is a root requirement on the contested name itself: the newest
        release every other side accepts."""
        contested = self.builder.contested
        for side in sides:
            chain = side.chain
            if chain is None or len(chain.links) != 1 or chain.root.root_index < 0:
                continue
            usable = self._usable(side)
            stable = [v for v in usable if not v.is_prerelease] or usable
            if not stable:
                continue
            where = chain.root.origin.location if chain.root.origin else "the requirement"
            others = [s for s in self.builder.sides if s is not side and s.spec]
            if not others:
                continue
            verb = "accepts" if len(others) == 1 else "accept"
            yield Fix(
                f"change {where} to {contested}=={stable[0]}: the newest {contested} that "
                f"{_and(sorted(s.who for s in others))} {verb}",
                contested,
                stable[0],
                chain.root.root_index,
            )

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
            try:
                metadata = self.provider.metadata(release)
            except (IndexFetchError, OfflineMissError):
                continue
            if isinstance(metadata, CoreMetadata) and (
                metadata.requires_python is None
                or metadata.requires_python.contains(python, prereleases=True)
            ):
                name = parent.name
                return (
                    f"{name}=={release.version} is the newest {name} that supports Python {python}"
                )
        return f"no release of {parent.name} supports Python {python}"

    def _wants(
        self, release: Candidate, parent: Cand, contested: NormalizedName
    ) -> list[SpecifierSet] | None:
        """What ``release`` requires of the contested name; None when it is unusable here (or
        its metadata cannot be had: offline, the cache lacks it)."""
        try:
            metadata = self.provider.metadata(release)
        except (IndexFetchError, OfflineMissError):
            self._unread = True
            return None
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
