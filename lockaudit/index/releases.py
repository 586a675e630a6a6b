"""A project's files on the indexes a name routes to → the releases usable on a target.

Pure functions over :class:`~lockaudit.index.pages.FileRow` records. A big page (pydantic-core,
torch) lists thousands of files, and a workspace asks for them on several targets: the rows are
grouped by release once, each target's filter then looks each distinct Requires-Python text
and each distinct tag set up once, and :class:`DistFile` values are made only for the files
an answer holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.index.pages import (
    FileRow,
    PageRecord,
    Release,
    Rewrite,
    dist_file,
    specifier,
    version_of,
)
from lockaudit.index.tags import best_rank
from lockaudit.index.types import Candidate, DistFile
from lockaudit.workspace.model import Target

__all__ = ["Listing", "Project"]

_SDIST_RANK = 1 << 30


@lru_cache(maxsize=1 << 14)
def _tags(compressed: str) -> frozenset[Tag]:
    return parse_tag(compressed)


_Groups = dict[Version, Sequence[FileRow]]


class Listing:
    """One source's page for a name (a project page, a find-links location) with the
    provenance of its files, grouped by version on first use (a listing is shared by every
    view of a session and every target)."""

    def __init__(self, page: PageRecord, index: str, rewrite: Rewrite) -> None:
        self.page = page
        self.index = index  # the index URL files are attributed to (provenance)
        self.rewrite = rewrite  # mirrors, applied to a row's URL when it becomes a DistFile
        self._every: _Groups | None = None
        self._own: dict[str, _Groups] = {}
        self._installable: dict[tuple[str, Target], dict[Version, list[tuple[int, FileRow]]]] = {}
        self._candidates: dict[tuple[str, Target], list[Candidate]] = {}
        self._filenames: set[str] | None = None

    def groups(self, name: NormalizedName) -> tuple[_Groups, _Groups]:
        """(every parsed file by version, the files named ``name`` by version), page order."""
        own = self._own.get(name)
        if own is None:
            own = self._own[name] = self._group(r for r in self.page.releases if r.project == name)
        if self._every is None:
            mixed = any(r.project != name for r in self.page.releases)
            self._every = self._group(self.page.releases) if mixed else own
        return self._every, own

    @staticmethod
    def _group(releases: Iterable[Release]) -> _Groups:
        groups: dict[Version, Sequence[FileRow]] = {}
        for release in releases:
            version = version_of(release.version)
            if version is None:
                continue
            known = groups.get(version)
            # one release per version and project on a page; several projects may share one
            groups[version] = release.rows if known is None else (*known, *release.rows)
        return groups

    def installable(
        self, name: NormalizedName, target: Target
    ) -> dict[Version, list[tuple[int, FileRow]]]:
        """The files of ``name`` installable on ``target`` by version, in page order, each
        with its tag rank: each distinct Requires-Python text and tag set judged once."""
        found = self._installable.get((name, target))
        if found is not None:
            return found
        python_ok: dict[str | None, bool] = {None: True}
        ranks: dict[str | None, int | None] = {None: _SDIST_RANK}
        found = {}
        for version, rows in self.groups(name)[1].items():
            ranked: list[tuple[int, FileRow]] = []
            for row in rows:
                rp = row.requires_python
                ok = python_ok.get(rp)
                if ok is None:
                    spec = specifier(rp)
                    ok = python_ok[rp] = spec is None or spec.contains(
                        target.python, prereleases=True
                    )
                if not ok:
                    continue
                tags = row.tags
                if tags in ranks:
                    rank = ranks[tags]
                else:
                    rank = ranks[tags] = best_rank(_tags(tags), target) if tags else None
                if rank is not None:
                    ranked.append((rank, row))
            if ranked:
                found[version] = ranked
        return self._installable.setdefault((name, target), found)

    def candidates(self, name: NormalizedName, target: Target) -> list[Candidate]:
        """The releases of ``name`` on this source alone (see :meth:`Project.usable`)."""
        found = self._candidates.get((name, target))
        if found is None:
            installable = self.installable(name, target)
            found = [
                _candidate(name, version, [(rank, row, self) for rank, row in installable[version]])
                for version in sorted(installable, reverse=True)
            ]
            found = self._candidates.setdefault((name, target), found)
        return found

    def filenames(self) -> set[str]:
        if self._filenames is None:
            self._filenames = {row.filename for row in self.page.rows()}
        return self._filenames


class Project:
    """Every file of one name across its sources: the first source wins a filename."""

    def __init__(self, name: NormalizedName, listings: Sequence[Listing]) -> None:
        self.name = name
        self._usable: dict[Target, list[Candidate]] = {}
        # Each non-empty source with its groups and the filenames of the sources before it
        # (a file on two indexes, a mirror or a local copy: the first one wins).
        self._sources: list[tuple[Listing, _Groups, _Groups, set[str] | None]] = []
        before: list[Listing] = []
        for listing in listings:
            if not listing.page.links:
                continue
            shadow = set().union(*(b.filenames() for b in before)) if before else None
            every, own = listing.groups(name)
            self._sources.append((listing, every, own, shadow))
            before.append(listing)

    def _versions(self, own: bool) -> list[Version]:
        keys: dict[Version, None] = {}
        for _, every, mine, _ in self._sources:
            for version in mine if own else every:
                keys.setdefault(version, None)  # equal versions: the first spelling stays
        return sorted(keys, reverse=True)

    def _files(self, version: Version, own: bool) -> Iterator[tuple[FileRow, Listing]]:
        """The files of one version: sources in order, each in page order."""
        for listing, every, mine, shadow in self._sources:
            for row in (mine if own else every).get(version, ()):
                if shadow is None or row.filename not in shadow:
                    yield row, listing

    def release(self, version: Version) -> tuple[DistFile, ...]:
        """Every file of one release, for every platform (what a lock records hashes of)."""
        return tuple(
            dist_file(row, lst.index, lst.rewrite) for row, lst in self._files(version, False)
        )

    def usable(self, target: Target) -> list[Candidate]:
        """Releases with a file installable on ``target``, newest first; in each, its usable
        files best first (wheels by tag rank; an sdist only when no wheel fits)."""
        found = self._usable.get(target)
        if found is None:
            found = self._usable.setdefault(target, self._filter(target))
        return found

    def _filter(self, target: Target) -> list[Candidate]:
        if len(self._sources) == 1:  # the usual case: the listing's own answer, shared
            return self._sources[0][0].candidates(self.name, target)
        result: list[Candidate] = []
        sources = [
            (listing, listing.installable(self.name, target), shadow)
            for listing, _, _, shadow in self._sources
        ]
        for version in self._versions(True):
            ranked: list[tuple[int, FileRow, Listing]] = []
            for listing, installable, shadow in sources:
                for rank, row in installable.get(version, ()):
                    if shadow is None or row.filename not in shadow:
                        ranked.append((rank, row, listing))
            if ranked:
                result.append(_candidate(self.name, version, ranked))
        return result


def _candidate(
    name: NormalizedName, version: Version, ranked: list[tuple[int, FileRow, Listing]]
) -> Candidate:
    """A release from its installable files in page order: best first, wheels over sdists."""
    index = ranked[0][2].index  # the first usable file's source, in page order
    ranked.sort(key=lambda item: item[0])
    wheels = [item for item in ranked if item[0] != _SDIST_RANK]
    chosen = wheels or ranked
    files = tuple(dist_file(row, lst.index, lst.rewrite) for _, row, lst in chosen)
    return Candidate(name, version, files, index)
