"""Values the index client returns, and the Protocol the resolver and audits depend on.

The resolver never imports httpx: it sees a :class:`MetadataSource` and these frozen values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.workspace.model import Target


@dataclass(frozen=True)
class DistFile:
    """One file of a release as the index lists it (PEP 691 / PEP 503 / PEP 592 / PEP 658)."""

    filename: str
    url: str  # absolute, after mirror rewriting
    index: str  # the URL of the index page it was listed on (provenance)
    sha256: str | None
    requires_python: SpecifierSet | None = None
    yanked: str | None = None  # None: not yanked; "" or a reason: yanked
    size: int | None = None
    upload_time: str | None = None  # ISO 8601 as the index gives it
    metadata_sha256: str | None = None  # PEP 658/714 hash when the index declares one

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class Candidate:
    """A release of a project usable on one target: its version and its usable files.

    ``files`` holds only files installable on the target (wheel tags from ``packaging.tags``,
    Requires-Python); an sdist is kept only when no wheel fits.
    """

    name: NormalizedName
    version: Version
    files: tuple[DistFile, ...]
    index: str  # index URL the project page came from

    @property
    def yanked(self) -> str | None:
        """A release is yanked when every usable file is yanked (PEP 592)."""
        reasons = [f.yanked for f in self.files]
        if reasons and all(r is not None for r in reasons):
            return next((r for r in reasons if r), "")
        return None

    @property
    def has_wheel(self) -> bool:
        return any(f.is_wheel for f in self.files)


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of a distribution's METADATA / PKG-INFO that resolving and auditing need."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[Requirement, ...]
    requires_python: SpecifierSet | None = None
    provides_extra: tuple[NormalizedName, ...] = ()
    top_level: tuple[str, ...] = ()  # import names when known (audits of unused packages)


@dataclass(frozen=True)
class NeedsBuild:
    """Metadata that cannot be known without running package code: a finding, never a build."""

    name: NormalizedName
    version: Version
    reason: str  # e.g. "sdist only, PKG-INFO marks Requires-Dist dynamic (PEP 643)"


@dataclass(frozen=True)
class Vulnerability:
    id: str
    summary: str
    aliases: tuple[str, ...] = ()
    fixed_in: tuple[Version, ...] = ()
    link: str | None = None


class MetadataSource(Protocol):
    """What the resolver and the audits need from package indexes, for one target at a time."""

    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]:
        """Every release of ``name`` usable on ``target``, newest first; empty when unknown.

        Honours per-package routing: a routed name is looked up only on its index.
        """
        ...

    def metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        """Dependencies of one release, from PEP 658 files, wheel METADATA or static PKG-INFO."""
        ...

    def prefetch(self, items: Iterable[NormalizedName | Candidate], target: Target) -> None:
        """Hint: fetch these project pages / metadata concurrently, ahead of need."""
        ...


@runtime_checkable
class Mirrored(Protocol):
    """A source that can say where a request for an index URL really goes (its mirrors)."""

    def fetched_from(self, url: str) -> str:
        """``url`` after mirror rewriting; ``url`` itself when no mirror applies."""
        ...


G = TypeVar("G")


class CrawlPlan(Protocol[G]):
    """How a crawl guesses its way through a dependency graph (see :class:`Crawler`).

    Items ``G`` are the caller's (the resolver's requirements on one name). Every method is
    called on the source's I/O thread while the caller waits in :meth:`Crawler.crawl`, so it
    must be quick and must not call back into the source.
    """

    def name_of(self, item: G) -> NormalizedName:
        """Whose project page ``item`` needs."""
        ...

    def pick(self, item: G, releases: Sequence[Candidate]) -> Candidate | None:
        """The release ``item`` will likely resolve to, given every usable release of its name."""
        ...

    def follow(
        self, item: G, release: Candidate, metadata: CoreMetadata | NeedsBuild
    ) -> Iterable[G]:
        """The items not seen before that ``release`` (picked for ``item``) depends on."""
        ...


@runtime_checkable
class Crawler(Protocol):
    """A :class:`MetadataSource` that can prefetch a whole likely closure in one go."""

    def crawl(self, start: Iterable[G], target: Target, plan: CrawlPlan[G]) -> None:
        """Fetch pages and likely metadata from ``start`` on, each item as soon as the item
        that led to it is known: no round of requests waits for a slower sibling. A hint like
        ``prefetch``: fetch errors surface later, from the real calls."""
        ...
