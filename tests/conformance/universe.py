"""A package universe written as data, and a dict-backed ``MetadataSource`` over it.

The format is the ``[packages]`` table of a packse scenario, so hand-written test universes
and packse scenarios share one shape::

    {"a": {"1.0.0": {"requires": ["b>=1"], "requires_python": ">=3.10",
                     "extras": {"gpu": ["c"]}, "yanked": True, "dynamic": True}}}

Two keys are ours, not packse's: ``dynamic`` marks a release whose metadata needs a build
(``NeedsBuild``), ``metadata_requires_python`` a Requires-Python stated only in the metadata
(the index page does not filter the release out, the resolver must).
Packse keys ``wheel_tags``, ``wheel`` and ``sdist`` choose the files. :func:`served` builds a
universe into the loopback test index (real wheels and sdists over HTTP) and gives an
``IndexClient`` on it: the resolver tests run there. ``DictSource`` is the seam fake, kept for
the one case the test index cannot express (Requires-Python stated in metadata only).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockaudit.index.client import IndexClient, Routing
from lockaudit.index.types import Candidate, CoreMetadata, DistFile, NeedsBuild
from lockaudit.workspace.model import Target
from tests.indexserver import (
    FileSpec,
    IndexServer,
    IndexSpec,
    MetadataMode,
    Project,
    Release,
    Scenario,
)

Universe = Mapping[str, Any]  # name -> version -> release table (see the module docstring)
INDEX = "http://index.invalid/simple/"


def requires_dist(release: Mapping[str, Any]) -> tuple[Requirement, ...]:
    """``requires`` plus each extra's requirements with an ``extra == "x"`` marker."""
    found = [Requirement(text) for text in release.get("requires", ())]
    for extra, texts in release.get("extras", {}).items():
        for text in texts:
            requirement = Requirement(text)
            marker = f'extra == "{extra}"'
            if requirement.marker is not None:
                marker = f"({requirement.marker}) and {marker}"
            requirement.marker = Requirement(f"x; {marker}").marker
            found.append(requirement)
    return tuple(found)


@dataclass
class DictSource:
    """A ``MetadataSource`` over a universe; counts calls so tests can assert caching."""

    packages: Universe
    candidate_calls: dict[str, int] = field(default_factory=dict)
    metadata_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    prefetched: list[tuple[str, ...]] = field(default_factory=list)

    def _releases(self, name: str) -> Mapping[str, Mapping[str, Any]]:
        for key, releases in self.packages.items():
            if canonicalize_name(key) == name:
                found: Mapping[str, Mapping[str, Any]] = releases
                return found
        return {}

    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]:
        self.candidate_calls[name] = self.candidate_calls.get(name, 0) + 1
        python = Version(target.python)
        found = []
        for text, release in self._releases(name).items():
            version = Version(text)
            spec = release.get("requires_python")
            requires_python = SpecifierSet(spec) if spec else None
            if requires_python is not None and not requires_python.contains(python, True):
                continue
            dist = DistFile(
                filename=f"{name}-{version}-py3-none-any.whl",
                url=f"{INDEX}{name}/{name}-{version}-py3-none-any.whl",
                index=INDEX,
                sha256="0" * 64,
                requires_python=requires_python,
                yanked="" if release.get("yanked") else None,
            )
            found.append(Candidate(name, version, (dist,), INDEX))
        return sorted(found, key=lambda c: c.version, reverse=True)

    def metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        key = (candidate.name, str(candidate.version))
        self.metadata_calls[key] = self.metadata_calls.get(key, 0) + 1
        release = self._releases(candidate.name)[_text(self._releases(candidate.name), candidate)]
        if release.get("dynamic"):
            return NeedsBuild(
                candidate.name, candidate.version, "sdist only, Requires-Dist dynamic"
            )
        spec = release.get("requires_python") or release.get("metadata_requires_python")
        return CoreMetadata(
            name=candidate.name,
            version=candidate.version,
            requires_dist=requires_dist(release),
            requires_python=SpecifierSet(spec) if spec else None,
            provides_extra=tuple(canonicalize_name(e) for e in release.get("extras", {})),
        )

    def prefetch(self, items: Iterable[NormalizedName | Candidate], target: Target) -> None:
        self.prefetched.append(tuple(str(i) if isinstance(i, str) else i.name for i in items))


def _text(releases: Mapping[str, Any], candidate: Candidate) -> str:
    return next(text for text in releases if Version(text) == candidate.version)


def _files(data: Mapping[str, Any], *, packse: bool) -> tuple[FileSpec, ...]:
    """The files of one release: packse's defaults (a wheel and an sdist) or ours (a wheel)."""
    yanked = "" if data.get("yanked") else None
    if data.get("dynamic"):
        return (FileSpec(kind="sdist", dynamic=True, pkg_info_version="2.2", yanked=yanked),)
    files = []
    if data.get("wheel", True):
        for tags in data.get("wheel_tags", ["py3-none-any"]):
            files.append(FileSpec(tags=tags, metadata=MetadataMode.ADVERTISED, yanked=yanked))
    if data.get("sdist", packse):
        # static metadata (PEP 643): what packse's sdists give a resolver that never builds
        files.append(FileSpec(kind="sdist", pkg_info_version="2.2", yanked=yanked))
    return tuple(files)


def index_scenario(packages: Universe, *, packse: bool = False) -> Scenario:
    """The universe as one ``default`` index of the loopback test index."""
    return Scenario((index_spec("default", packages, packse=packse),))


def index_spec(index: str, packages: Universe, *, packse: bool = False) -> IndexSpec:
    """The universe as the index ``index`` (several universes can share one server)."""
    projects = []
    for name, versions in packages.items():
        releases = tuple(
            Release(
                version=version,
                requires_dist=tuple(str(r) for r in requires_dist(data)),
                requires_python=data.get("requires_python"),
                extras=tuple(data.get("extras", {})),
                files=_files(data, packse=packse),
            )
            for version, data in versions.items()
        )
        projects.append(Project(name, releases))
    return IndexSpec(index, tuple(projects))


@contextmanager
def served(
    packages: Universe, *, packse: bool = False
) -> Iterator[tuple[IndexServer, IndexClient]]:
    """A loopback index serving ``packages`` and a client on it (no pip configuration read)."""
    server = IndexServer(index_scenario(packages, packse=packse)).start()
    client = IndexClient(Routing.simple(server.index_url("default")))
    try:
        yield server, client
    finally:
        client.close()
        # shutdown waits for the server loop's 0.5 s poll; nothing needs to wait for it
        threading.Thread(target=server.stop, daemon=True).start()


@dataclass
class Recording:
    """A ``MetadataSource`` that forwards to another and records the prefetch batches."""

    inner: IndexClient
    prefetched: list[tuple[str, ...]] = field(default_factory=list)

    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]:
        return self.inner.candidates(name, target)

    def metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        return self.inner.metadata(candidate, target)

    def prefetch(self, items: Iterable[NormalizedName | Candidate], target: Target) -> None:
        batch = list(items)
        self.prefetched.append(tuple(str(i) if isinstance(i, str) else i.name for i in batch))
        self.inner.prefetch(batch, target)
