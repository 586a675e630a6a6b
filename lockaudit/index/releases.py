"""A project's files on the indexes a name routes to → the releases usable on a target.

Pure functions over :class:`~lockaudit.index.pages.FileRow` records. A big page (pydantic-core,
torch) lists thousands of files, and a workspace asks for them on several targets: the rows are
grouped by release once, each target's filter then looks each distinct Requires-Python text
and each distinct tag set up once, and :class:`DistFile` values are made only for the files
an answer holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache

from packaging.tags import Tag, parse_tag
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockaudit.index.pages import FileRow, Rewrite, dist_file, specifier
from lockaudit.index.tags import best_rank
from lockaudit.index.types import Candidate, DistFile
from lockaudit.workspace.model import Target

__all__ = ["Listing", "Project"]

_SDIST_RANK = 1 << 30


@lru_cache(maxsize=1 << 14)
def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=1 << 14)
def _tags(compressed: str) -> frozenset[Tag]:
    return parse_tag(compressed)


_Groups = dict[Version, list[FileRow]]


class Listing:
    """The rows of one source's page for a name (a project page, a find-links location) with
    their provenance, grouped by release on first use (a listing is shared by every view of a
    session and every target)."""

    def __init__(self, rows: Sequence[FileRow], index: str, rewrite: Rewrite) -> None:
        self.rows = rows
        self.index = index  # the index URL files are attributed to (provenance)
        self.rewrite = rewrite  # mirrors, applied to a row's URL when it becomes a DistFile
        self._grouped: tuple[_Groups, dict[str, _Groups]] | None = None

    def groups(self, name: NormalizedName) -> tuple[_Groups, _Groups]:
        """(every parsed file by version, the files named ``name`` by version), page order;
        a filename listed twice counts once."""
        if self._grouped is None:
            every: _Groups = {}
            by_name: dict[str, _Groups] = {}
            seen: set[str] = set()
            for row in self.rows:
                if row.filename in seen or not row.project:
                    continue
                seen.add(row.filename)
                version = _version(row.version)
                if version is not None:
                    every.setdefault(version, []).append(row)
                    by_name.setdefault(row.project, {}).setdefault(version, []).append(row)
            self._grouped = (every, by_name)
        every, by_name = self._grouped
        return every, by_name.get(name, {})

    def filenames(self) -> set[str]:
        return {row.filename for row in self.rows}


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
            if not listing.rows:
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
        python_ok: dict[str | None, bool] = {None: True}
        ranks: dict[str | None, int | None] = {None: _SDIST_RANK}
        result: list[Candidate] = []
        for version in self._versions(True):
            ranked: list[tuple[int, FileRow, Listing]] = []
            for row, listing in self._files(version, True):
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
                    ranked.append((rank, row, listing))
            if not ranked:
                continue
            index = ranked[0][2].index  # the first usable file's source, in page order
            ranked.sort(key=lambda item: item[0])
            wheels = [item for item in ranked if item[0] != _SDIST_RANK]
            chosen = wheels or ranked
            files = tuple(dist_file(row, lst.index, lst.rewrite) for _, row, lst in chosen)
            result.append(Candidate(self.name, version, files, index))
        return result
