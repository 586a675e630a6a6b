"""The resolvelib provider: one target, one :class:`MetadataSource`, no I/O of its own.

Rules it applies, each the way the installer inside the image (pip) would, unless noted:

- markers are evaluated for the *target* (``Target.marker_environment()``), never the host;
- ``Requires-Python`` of a release (file attribute and metadata) is checked against the target's
  full version (``3.11.7``); the metadata check is a requirement on a pseudo-package so that a
  failure explains itself;
- pre-releases: a name may resolve to a pre-release when one of the specifiers that apply to it
  (every requirement and constraint on the name, merged as pip merges them) names a pre-release,
  or when the name has no final release at all. pip's own fallback applies only to a bare name;
  uv's "explicit" counts first-party specifiers only: see ``tests/conformance`` for the cases
  where the three differ;
- yanked releases (PEP 592) are taken only when a *root* requirement, constraint or parent pin
  names that version with ``==``/``===``; a dependency's exact pin does not opt in (stricter
  than pip, as uv does: a lock should not pick up a yanked release nobody asked for);
- a release whose metadata needs a build (:class:`NeedsBuild`) is skipped and remembered, except
  a parent pin: it is already installed in the parent image, so it is kept, without dependencies;
- constraints (``-c``) and parent pins filter candidates without requiring the name;
- preferences (the existing lock) are tried first unless the name is being upgraded.

Speed: release lists are fetched and sorted once per name, metadata once per release, and newly
discovered names are prefetched (page, then the likely release's metadata, then its
dependencies) so the metadata source can fetch them concurrently: as one crawl without rounds
when the source is a :class:`~lockaudit.index.types.Crawler`, else a level at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version
from resolvelib import AbstractProvider
from resolvelib.structs import RequirementInformation

from lockaudit.errors import InputError
from lockaudit.index.types import (
    Candidate,
    CoreMetadata,
    Crawler,
    MetadataSource,
    NeedsBuild,
)
from lockaudit.resolve._direct import direct_candidate, pinned
from lockaudit.resolve._model import RequirementKind, RootRequirement
from lockaudit.resolve._nodes import (
    PYTHON,
    PYTHON_NAME,
    Cand,
    Req,
    applies,
    exact_version,
    expand,
    pins_exactly,
)
from lockaudit.workspace.model import Target

Info = RequirementInformation[Req, Cand]


@dataclass(frozen=True)
class Roots:
    """Root requirements sorted by role, markers already evaluated for the target."""

    requirements: tuple[Req, ...]
    constraints: Mapping[NormalizedName, tuple[RootRequirement, ...]]
    parent_pins: Mapping[NormalizedName, Version]
    # names given by a direct reference (an archive URL with its hash): their one release
    direct: Mapping[NormalizedName, Candidate] = field(default_factory=dict)

    @classmethod
    def split(cls, roots: Sequence[RootRequirement], target: Target) -> Roots:
        environment = target.marker_environment()
        requirements: list[Req] = []
        constraints: dict[NormalizedName, list[RootRequirement]] = {}
        parent_pins: dict[NormalizedName, Version] = {}
        direct: dict[NormalizedName, Candidate] = {}
        for index, root in enumerate(roots):
            if not applies(root.requirement.marker, environment):
                continue
            if root.requirement.url:
                root = _direct_root(root, target, direct)
            if root.origin.kind is RequirementKind.REQUIREMENT:
                requirements.extend(expand(root.requirement, origin=root.origin, root_index=index))
                continue
            constraints.setdefault(root.name, []).append(root)
            pinned = exact_version(root.requirement.specifier)
            if root.origin.kind is RequirementKind.PARENT and pinned is not None:
                parent_pins[root.name] = pinned
        frozen = {name: tuple(items) for name, items in constraints.items()}
        return cls(tuple(requirements), frozen, parent_pins, direct)


def _direct_root(
    root: RootRequirement, target: Target, direct: dict[NormalizedName, Candidate]
) -> RootRequirement:
    """A direct reference's root as ``name==version`` on its one release (kept in ``direct``);
    two different URLs for one name cannot both be installed."""
    candidate = direct_candidate(root, target)
    known = direct.setdefault(candidate.name, candidate)
    if known.files != candidate.files:
        raise InputError(
            root.origin.location,
            f"{root.requirement.name} @ {candidate.files[0].url}: another line gives "
            f"{known.name} from {known.files[0].url}",
            hint="install one file of a project: keep one direct reference",
        )
    return replace(root, requirement=pinned(root.requirement, candidate))


@dataclass(frozen=True)
class _Group:
    """Requirements on one identifier discovered together: what a prefetch guess starts from."""

    name: NormalizedName
    extra: NormalizedName | None
    reqs: tuple[Req, ...]


class Provider(AbstractProvider[Req, Cand, str]):
    """resolvelib's five questions answered over a :class:`MetadataSource` for one target."""

    def __init__(
        self,
        source: MetadataSource,
        target: Target,
        roots: Roots,
        preferences: Mapping[NormalizedName, Version],
    ) -> None:
        self.source = source
        self.target = target
        self.roots = roots
        self.environment = target.marker_environment()
        self.python = Version(target.python)
        self.preferences = preferences
        self.needs_build: dict[tuple[NormalizedName, Version], NeedsBuild] = {}
        # who asked for what: name -> (parent candidate or None for a root, requirement)
        self.edges: dict[NormalizedName, list[tuple[Cand | None, Req]]] = {}
        self._releases: dict[NormalizedName, tuple[Candidate, ...]] = {}
        self._metadata: dict[tuple[NormalizedName, Version], CoreMetadata | NeedsBuild] = {}
        self._allowed: dict[tuple[NormalizedName, frozenset[int]], tuple[Candidate, ...]] = {}
        # Specifiers by identity (see _spec_id): the objects are kept in the values, so an id
        # is never reused while it is a key. Answers about a specifier go by its number.
        self._spec_ids: dict[int, tuple[SpecifierSet, int]] = {}
        self._satisfied: dict[int, dict[Version, bool]] = {}
        self._spec_numbers: dict[SpecifierSet, int] = {}
        self._pins: dict[int, Version | None] = {}
        self._environment_id = _environment_id(self.environment)
        self._deps_of: dict[
            tuple[NormalizedName, Version, NormalizedName | None], tuple[Req, ...]
        ] = {}
        self._dependencies: dict[Cand, tuple[Req, ...]] = {}
        self._seen: set[str] = set()  # identifiers already discovered
        # Checked once: a runtime Protocol check costs more than a discover call should.
        self._crawler = source if isinstance(source, Crawler) else None
        # A direct reference is the only release of its name: no index is asked for others.
        self._releases.update({name: (release,) for name, release in roots.direct.items()})
        self._opt_in = self._root_specifiers()
        for req in roots.requirements:
            self.edges.setdefault(req.name, []).append((None, req))

    def _root_specifiers(self) -> dict[NormalizedName, list[SpecifierSet]]:
        """Specifiers written by the user, the only ones that may opt in to a yanked release."""
        found: dict[NormalizedName, list[SpecifierSet]] = {}
        for req in self.roots.requirements:
            found.setdefault(req.name, []).append(req.specifier)
        for name, constraints in self.roots.constraints.items():
            found.setdefault(name, []).extend(c.requirement.specifier for c in constraints)
        return found

    # ---- data, cached ------------------------------------------------------------------------

    def releases(self, name: NormalizedName) -> tuple[Candidate, ...]:
        """Every usable release of ``name``, newest first (sorted once)."""
        cached = self._releases.get(name)
        if cached is None:
            cached = self._store_releases(name, self.source.candidates(name, self.target))
        return cached

    def _store_releases(
        self, name: NormalizedName, found: Sequence[Candidate]
    ) -> tuple[Candidate, ...]:
        cached = self._releases.get(name)
        if cached is None:
            usable = (c for c in found if self._python_ok(c))
            cached = tuple(sorted(usable, key=lambda c: c.version, reverse=True))
            self._releases[name] = cached
        return cached

    def _python_ok(self, release: Candidate) -> bool:
        # the source already filters files by Requires-Python; this guards sources that do not
        declared = [f.requires_python for f in release.files]
        if not declared or any(spec is None for spec in declared):
            return True
        return any(
            spec.contains(self.python, prereleases=True) for spec in declared if spec is not None
        )

    def metadata(self, release: Candidate) -> CoreMetadata | NeedsBuild:
        key = (release.name, release.version)
        cached = self._metadata.get(key)
        if cached is None:
            cached = self.source.metadata(release, self.target)
            self._metadata[key] = cached
        return cached

    def dependencies_of(self, release: Candidate, extra: NormalizedName | None) -> tuple[Req, ...]:
        """The requirements a release adds on the target (for ``extra`` only what it adds).

        Memoised: the prefetch crawl and ``get_dependencies`` both ask, and evaluating markers
        is most of the cost.
        """
        key = (release.name, release.version, extra)
        cached = self._deps_of.get(key)
        if cached is not None:
            return cached
        metadata = self.metadata(release)
        if isinstance(metadata, NeedsBuild):
            return ()
        found: list[Req] = []
        for requirement in metadata.requires_dist:
            if extra is None:
                wanted = self._applies(requirement.marker, None)
            else:
                wanted = self._applies(requirement.marker, extra) and not self._applies(
                    requirement.marker, None
                )
            if wanted:
                found.extend(expand(requirement))
        cached = self._deps_of[key] = tuple(found)
        return cached

    def _applies(self, marker: Marker | None, extra: str | None) -> bool:
        """``applies`` on the target, once per marker object, extra and marker environment.

        Shared by every provider of the process: the source caches metadata for its life, so
        the same marker objects come back with every image and attempt on the same target.
        """
        if marker is None:
            return True
        key = (id(marker), extra, self._environment_id)
        known = _MARKERS.get(key)
        if known is not None and known[0] is marker:
            return known[1]
        result = applies(marker, self.environment, extra or "")
        if len(_MARKERS) >= _MARKERS_MAX:
            _MARKERS.clear()  # a bound for long-lived processes; a CLI run stays far below
        _MARKERS[key] = (marker, result)
        return result

    def _spec_id(self, spec: SpecifierSet) -> int:
        """A small number, equal for equal specifiers, looked up by identity first.

        Hashing a ``SpecifierSet`` canonicalises the version of every clause on every call
        (packaging keeps nothing), and resolvelib asks about the same few hundred specifier
        objects tens of thousands of times per image: that hashing was a fifth of resolving.
        """
        known = self._spec_ids.get(id(spec))
        if known is not None and known[0] is spec:
            return known[1]
        number = self._spec_numbers.setdefault(spec, len(self._spec_numbers))
        self._spec_ids[id(spec)] = (spec, number)
        return number

    def _exact(self, spec: SpecifierSet) -> Version | None:
        number = self._spec_id(spec)
        if number not in self._pins:
            self._pins[number] = exact_version(spec)
        return self._pins[number]

    def constraint_specifiers(self, name: NormalizedName) -> tuple[SpecifierSet, ...]:
        return tuple(c.requirement.specifier for c in self.roots.constraints.get(name, ()))

    def allowed(
        self, name: NormalizedName, specifiers: Iterable[SpecifierSet]
    ) -> tuple[Candidate, ...]:
        """Releases every specifier (and constraint) admits, after the pre-release/yank rules."""
        specs = (*specifiers, *self.constraint_specifiers(name))
        key = (name, frozenset(self._spec_id(s) for s in specs))
        cached = self._allowed.get(key)
        if cached is None:
            cached = self._filter(name, specs)
            self._allowed[key] = cached
        return cached

    def _filter(self, name: NormalizedName, specs: Sequence[SpecifierSet]) -> tuple[Candidate, ...]:
        matching = [
            r
            for r in self.releases(name)
            if all(s.contains(r.version, prereleases=True) for s in specs)
        ]
        if not any(s.prereleases for s in specs) and self.has_final(name):
            matching = [r for r in matching if not r.version.is_prerelease]
        return tuple(r for r in matching if r.yanked is None or self.opted_in(name, r.version))

    def has_final(self, name: NormalizedName) -> bool:
        return any(not r.version.is_prerelease for r in self.releases(name))

    def opted_in(self, name: NormalizedName, version: Version) -> bool:
        """Whether the user pinned this exact version (the PEP 592 opt-in for yanked releases)."""
        return any(pins_exactly(spec, version) for spec in self._opt_in.get(name, ()))

    def ordered(
        self, name: NormalizedName, specifiers: Iterable[SpecifierSet]
    ) -> tuple[Candidate, ...]:
        """Allowed releases in the order to try them: the preferred (locked) one first."""
        allowed = self.allowed(name, specifiers)
        preferred = self.preferences.get(name)
        if preferred is None:
            return allowed
        first = tuple(r for r in allowed if r.version == preferred)
        return first + tuple(r for r in allowed if r.version != preferred)

    # ---- prefetching -------------------------------------------------------------------------

    def discover(self, requirements: Iterable[Req]) -> None:
        """Prefetch what resolving ``requirements`` will likely need, a level at a time.

        Pages of names not seen yet, then the metadata of each one's likely release (the one
        ``find_matches`` will offer first), then the same for those releases' dependencies:
        the likely closure is fetched with one concurrent batch per level instead of one
        round trip per package. A guess that backtracking abandons costs a fetch, not a result.
        """
        if self._crawler is not None:
            start = self._fresh(requirements)
            if start:
                self._crawler.crawl(start, self.target, _Guesses(self))
            return
        frontier = list(requirements)
        while frontier:
            likely = self._discover_level(frontier)
            frontier = [
                dep for release, extra in likely for dep in self.dependencies_of(release, extra)
            ]

    def _discover_level(
        self, requirements: Sequence[Req]
    ) -> list[tuple[Candidate, NormalizedName | None]]:
        fresh = self._fresh(requirements)
        if not fresh:
            return []
        self.source.prefetch(sorted({group.name for group in fresh}), self.target)
        likely: list[tuple[Candidate, NormalizedName | None]] = []
        for group in fresh:
            first = self.ordered(group.name, (r.specifier for r in group.reqs))[:1]
            likely.extend((release, group.extra) for release in first)
        if likely:
            self.source.prefetch([release for release, _ in likely], self.target)
        return likely

    def _fresh(self, requirements: Iterable[Req]) -> list[_Group]:
        """Requirements on identifiers not discovered yet, grouped (and now marked seen)."""
        fresh: dict[str, list[Req]] = {}
        for req in requirements:
            if req.name != PYTHON_NAME and req.key not in self._seen:
                fresh.setdefault(req.key, []).append(req)
        self._seen.update(fresh)
        return [_Group(reqs[0].name, reqs[0].extra, tuple(reqs)) for reqs in fresh.values()]

    # ---- resolvelib's interface --------------------------------------------------------------

    def identify(self, requirement_or_candidate: Req | Cand) -> str:
        return requirement_or_candidate.key

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Cand],
        candidates: Mapping[str, Iterator[Cand]],
        information: Mapping[str, Iterator[Info]],
        backtrack_causes: Sequence[Info],
    ) -> tuple[bool, bool, bool, bool, bool, str]:
        infos = list(information[identifier])
        name = infos[0].requirement.name if infos else NormalizedName(identifier)
        pinned = any(self._exact(i.requirement.specifier) for i in infos)
        direct = any(i.parent is None for i in infos)
        in_conflict = any(c.requirement.key == identifier for c in backtrack_causes)
        # cheap, decisive names first: the interpreter, frozen parent pins, exact pins, then
        # what is in conflict (to fail fast), then direct requirements; the name breaks ties
        return (
            identifier != PYTHON,
            name not in self.roots.parent_pins,
            not pinned,
            not in_conflict,
            not direct,
            identifier,
        )

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Cand],
        candidates: Mapping[str, Iterator[Cand]],
        information: Mapping[str, Iterator[Info]],
        backtrack_causes: Sequence[Info],
    ) -> Iterable[str]:
        # work on the conflict at hand before anything else, as pip does: it keeps backtracking
        # local instead of walking down unrelated packages' versions
        involved = {c.requirement.key for c in backtrack_causes}
        involved.update(c.parent.key for c in backtrack_causes if c.parent is not None)
        names = list(identifiers)
        if PYTHON in names:
            return [PYTHON]
        focused = [name for name in names if name in involved]
        return focused or names

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Cand]],
    ) -> Callable[[], Iterator[Cand]] | list[Cand]:
        reqs = list(requirements[identifier])
        if identifier == PYTHON:
            return self._python_matches(reqs)
        key, name, extra = identifier, reqs[0].name, reqs[0].extra
        rejected = {c.version for c in incompatibilities.get(identifier, ())}
        ordered = self.ordered(name, (r.specifier for r in reqs))

        def matches() -> Iterator[Cand]:
            for release in ordered:
                if release.version in rejected or not self._buildless(release):
                    continue
                yield Cand(key, name, extra, release.version, release)

        return matches

    def _python_matches(self, reqs: Sequence[Req]) -> list[Cand]:
        if all(r.specifier.contains(self.python, prereleases=True) for r in reqs):
            return [Cand(PYTHON, PYTHON_NAME, None, self.python)]
        return []

    def _buildless(self, release: Candidate) -> bool:
        """Whether the release's dependencies are known without a build (else remember it)."""
        metadata = self.metadata(release)
        if not isinstance(metadata, NeedsBuild) or release.name in self.roots.parent_pins:
            return True
        self.needs_build[(release.name, release.version)] = metadata
        return False

    def is_satisfied_by(self, requirement: Req, candidate: Cand) -> bool:
        # resolvelib asks again for every pin after every round (~100k times an embedded run):
        # looked up by the specifier's number (no SpecifierSet hash), then by version.
        spec = requirement.specifier
        answers = self._satisfied.setdefault(self._spec_id(spec), {})
        known = answers.get(candidate.version)
        if known is None:
            known = answers[candidate.version] = spec.contains(candidate.version, prereleases=True)
        return known

    def get_dependencies(self, candidate: Cand) -> Iterable[Req]:
        cached = self._dependencies.get(candidate)
        if cached is not None:
            return cached
        found = self._dependencies_for(candidate)
        self._dependencies[candidate] = found
        for req in found:
            self.edges.setdefault(req.name, []).append((candidate, req))
        self.discover(found)
        return found

    def _dependencies_for(self, candidate: Cand) -> tuple[Req, ...]:
        release = candidate.release
        if release is None:  # the interpreter
            return ()
        if candidate.extra is not None:
            base = Req(
                key=candidate.name,
                name=candidate.name,
                extra=None,
                specifier=SpecifierSet(f"=={candidate.version}"),
                text=f"{candidate.name}=={candidate.version}",
            )
            return (base, *self.dependencies_of(release, candidate.extra))
        metadata = self.metadata(release)
        python: tuple[Req, ...] = ()
        if (
            isinstance(metadata, CoreMetadata)
            and metadata.requires_python is not None
            and not metadata.requires_python.contains(self.python, prereleases=True)
        ):
            spec = metadata.requires_python
            python = (Req(PYTHON, PYTHON_NAME, None, spec, text=f"Python {spec}"),)
        return (*python, *self.dependencies_of(release, None))


# (id(marker), extra, environment number) -> (the marker, kept so its id is not reused; result)
_MARKERS: dict[tuple[int, str | None, int], tuple[Marker, bool]] = {}
_MARKERS_MAX = 1 << 18
_ENVIRONMENTS: dict[tuple[tuple[str, str], ...], int] = {}


def _environment_id(environment: Mapping[str, str]) -> int:
    key = tuple(sorted(environment.items()))
    return _ENVIRONMENTS.setdefault(key, len(_ENVIRONMENTS))


class _Guesses:
    """The provider's guesses as a :class:`~lockaudit.index.types.CrawlPlan`.

    Called on the source's I/O thread while the resolver waits in ``discover``; each method
    feeds the provider's caches with what the crawl fetched (releases, metadata) before asking
    the same questions ``find_matches`` will, so nothing here calls back into the source.
    """

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def name_of(self, item: _Group) -> NormalizedName:
        return item.name

    def pick(self, item: _Group, releases: Sequence[Candidate]) -> Candidate | None:
        self.provider._store_releases(item.name, releases)
        first = self.provider.ordered(item.name, (r.specifier for r in item.reqs))[:1]
        return first[0] if first else None

    def follow(
        self, item: _Group, release: Candidate, metadata: CoreMetadata | NeedsBuild
    ) -> list[_Group]:
        self.provider._metadata.setdefault((release.name, release.version), metadata)
        return self.provider._fresh(self.provider.dependencies_of(release, item.extra))


def preferences_for(
    preferences: Mapping[NormalizedName, Version] | None,
    upgrade: bool | frozenset[NormalizedName],
) -> dict[NormalizedName, Version]:
    """The preferences still in force: none with ``upgrade=True``, minus upgraded names."""
    if not preferences or upgrade is True:
        return {}
    upgraded = upgrade if isinstance(upgrade, frozenset) else frozenset()
    return {name: version for name, version in preferences.items() if name not in upgraded}


__all__ = ["Info", "Provider", "Roots", "preferences_for"]
