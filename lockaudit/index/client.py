"""The index client: project pages → :class:`Candidate`, files → :class:`CoreMetadata`.

:class:`IndexClient` implements :class:`~lockaudit.index.types.MetadataSource` as a sync
facade over one asyncio loop (see :mod:`lockaudit.index.transport`). Every fetch is memoised
per client by key, so concurrent callers share one in-flight request and a URL is asked for at
most once per client (a failure is memoised too: asking again re-raises it without a request).

Metadata of a wheel, cheapest first: the file's metadata hash in the disk cache; the PEP 658
``<url>.metadata`` file (verified when the index declares its hash, tried anyway when not,
since the public index serves some without advertising them); the wheel's
``*.dist-info/METADATA`` through range requests; the whole wheel when ranges are refused
(verified against the file's sha256). An sdist: static PKG-INFO (PEP 643) or
:class:`NeedsBuild`. Package code is never built or run. ``CoreMetadata.top_level`` is left
empty so that metadata is identical whichever way it was served; :meth:`IndexClient.top_level`
reads ``top_level.txt`` on demand.

Local ``--find-links`` directories are hashed here (nobody else lists their hashes); the
hashes are cached by path, size and mtime.

Which indexes a name is looked up on is decided by :class:`Routing` (see
``lockaudit.index.factory.build_index_client`` for how pip's configuration and the workspace
produce one).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec
from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lockaudit import __version__ as lockaudit_version
from lockaudit.errors import IndexFetchError, OfflineMissError
from lockaudit.index import coremeta, wheelmeta
from lockaudit.index.cache import DEFAULT_PAGE_TTL, Cache, PageEntry, ProjectEntry
from lockaudit.index.coremeta import MetadataError
from lockaudit.index.limits import LimitExceeded, Limits
from lockaudit.index.pages import (
    EMPTY_PAGE,
    JSON_ACCEPT,
    JSON_CONTENT_TYPE,
    FileRow,
    PageError,
    PageRecord,
    PageSyntaxError,
    local_row,
    page_record,
    rows_of_html,
    rows_of_page,
)
from lockaudit.index.releases import Listing, Project
from lockaudit.index.reporter import IndexReporter, NullReporter
from lockaudit.index.tags import best_rank
from lockaudit.index.transport import Fetcher, Response, RetryPolicy
from lockaudit.index.types import Candidate, CoreMetadata, CrawlPlan, DistFile, NeedsBuild
from lockaudit.index.urls import Mirrors, host_of
from lockaudit.workspace.model import Target, Variant

__all__ = ["ClientOptions", "IndexClient", "IndexSource", "Routing"]

T = TypeVar("T")
G = TypeVar("G")


@dataclass(frozen=True)
class IndexSource:
    """One place packages are listed: a simple repository, or a ``--find-links`` location."""

    url: str  # as configured, without credentials (provenance)
    kind: Literal["simple", "find-links"] = "simple"


@dataclass(frozen=True)
class Routing:
    """Which sources a name is looked up on, per variant.

    ``routes``: (variant or None for all, name, source): a routed name is looked up **only**
    on its source. ``default``: sources of every unrouted name; ``extra``: more default
    sources for one variant (or all).
    """

    default: tuple[IndexSource, ...]
    routes: tuple[tuple[Variant | None, NormalizedName, IndexSource], ...] = ()
    extra: tuple[tuple[Variant | None, IndexSource], ...] = ()

    @classmethod
    def simple(cls, *urls: str) -> Routing:
        return cls(tuple(IndexSource(url) for url in urls))

    def sources(self, name: NormalizedName, variant: Variant) -> tuple[IndexSource, ...]:
        for route_variant, routed, source in self.routes:
            if routed == name and route_variant in (None, variant):
                return (source,)
        extra = tuple(s for v, s in self.extra if v in (None, variant))
        return tuple(dict.fromkeys(self.default + extra))


@dataclass(frozen=True)
class ClientOptions:
    """How the client fetches and caches; ``cache_dir=None`` keeps nothing on disk."""

    cache_dir: Path | None = None
    offline: bool = False
    refresh: bool = False  # refetch (revalidate) every project page once
    page_ttl: float = DEFAULT_PAGE_TTL
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    mirrors: Mirrors = field(default_factory=Mirrors)
    max_streams: int | None = None
    limits: Limits = field(default_factory=Limits)
    # index URL -> hosts besides its own (and its mirrors') its pages may link files on
    link_hosts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # (name, version) -> Requires-Dist a maintainer declared for an sdist that needs a build
    reviewed: Mapping[tuple[NormalizedName, Version], tuple[Requirement, ...]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class _Parsed:
    name: NormalizedName
    version: Version
    tags: frozenset[Tag] | None  # None: an sdist


# Big pages (torch, numpy) list thousands of files each: a small cache thrashes on a workspace.
@lru_cache(maxsize=1 << 18)
def _parse_filename(filename: str) -> _Parsed | None:
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            return _Parsed(name, version, tags)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return _Parsed(name, version, None)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass  # eggs, installers, odd names: not something pip would pick either
    return None


def _best_file(candidate: Candidate, target: Target) -> DistFile:
    def rank(file: DistFile) -> int:
        parsed = _parse_filename(file.filename)
        found = best_rank(parsed.tags, target) if parsed and parsed.tags else None
        return found if found is not None else 1 << 30

    return min(candidate.files, key=rank)


def _listing_key(source: IndexSource, name: NormalizedName) -> tuple[str, ...]:
    """The memo key of one source's listing of ``name`` (a page is keyed by its URL only, so
    it is valid under any routing and shared by every view of the session)."""
    if source.kind == "find-links":
        return ("links-of", source.url, name)
    return ("page", source.url.rstrip("/") + f"/{name}/")


def _unchanged(url: str) -> str:
    return url


def _local_link(page: PageRecord, mirrors: Mirrors) -> str | None:
    """A URL of ``page`` that is a file on this machine, after mirrors."""
    if not any(u.startswith("file:") for prefix in mirrors.prefixes for u in prefix):
        return page.local_link  # found when the page was decoded
    # Only a mirror from or to a local directory changes whether a URL is local.
    urls = (mirrors.rewrite(row.url) for row in page.rows())
    return next((url for url in urls if url.startswith("file:")), None)


def _foreign_link(
    rows: Iterable[FileRow], mirrors: Mirrors, allowed: frozenset[str]
) -> tuple[FileRow, str] | None:
    """The first row of ``rows`` whose file (after mirrors) lives on a host not ``allowed``,
    with that host. Hosts are worked out once per distinct ``scheme://netloc`` prefix: a page
    of ten thousand files names one or two."""
    verdicts: dict[str, str | None] = {}
    for row in rows:
        url = mirrors.rewrite(row.url) if mirrors.prefixes else row.url
        end = url.find("/", url.find("//") + 2) if "//" in url else -1
        prefix = url if end < 0 else url[:end]
        if prefix not in verdicts:
            host = host_of(url)
            verdicts[prefix] = None if host in allowed else host
        foreign = verdicts[prefix]
        if foreign is not None:
            return row, foreign
    return None


def _is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == JSON_CONTENT_TYPE


def _revalidation(accept: str, cached: PageEntry | ProjectEntry | None) -> dict[str, str]:
    headers = {"Accept": accept}
    if cached is not None and cached.etag:
        headers["If-None-Match"] = cached.etag
    if cached is not None and cached.last_modified:
        headers["If-Modified-Since"] = cached.last_modified
    return headers


def _meta_key(file: DistFile) -> str:
    return file.sha256 or "url-" + _sha256_of(file.url.encode())


def _local_path(url: str) -> Path | None:
    """The directory of a local find-links location (a path or a ``file:`` URL)."""
    if url.startswith("file:"):
        return Path(unquote(urlsplit(url).path))
    return None if "://" in url else Path(url)


def _hash_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _sha256_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _check_sha(expected: str | None, what: str) -> Callable[[Response], None]:
    def validate(response: Response) -> None:
        if expected is not None and _sha256_of(response.body) != expected:
            raise ValueError(f"{what} does not match its sha256 {expected[:16]}...")

    return validate


class IndexClient:
    """Candidates and metadata from package indexes, cached, concurrent, for any target."""

    def __init__(
        self,
        routing: Routing,
        options: ClientOptions | None = None,
        *,
        fetcher: Fetcher | None = None,
        reporter: IndexReporter | None = None,
    ) -> None:
        self.routing = routing
        self.options = options or ClientOptions()
        self.reporter: IndexReporter = reporter or NullReporter()
        self.fetcher = fetcher or Fetcher(
            retry=self.options.retry,
            reporter=self.reporter,
            offline=self.options.offline,
            max_streams=self.options.max_streams,
            limits=self.options.limits,
        )
        # Written in the background: file-system work off the I/O loop (see ``cache``).
        self.cache = Cache(self.options.cache_dir, page_ttl=self.options.page_ttl, background=True)
        self._tasks: dict[tuple[str, ...], asyncio.Future[Any]] = {}
        # Answers already known, for either thread to read without a hop to the I/O loop:
        # listings and metadata by URL (shared with views), projects and usable releases by
        # name under this client's routing. Filled with setdefault, so the first answer for a
        # key is the one every caller sees (one consistent view of the index per session).
        self._listings: dict[tuple[str, ...], Listing] = {}
        self._known_meta: dict[str, CoreMetadata | NeedsBuild] = {}
        self._projects: dict[tuple[object, ...], Project] = {}
        self._usable_memo: dict[tuple[NormalizedName, Target], list[Candidate]] = {}

    def with_routing(self, routing: Routing) -> IndexClient:
        """The same session (I/O loop, cache, pages and metadata already fetched and parsed)
        seen through other routing: what a `pip install --index-url ...` step sees."""
        view = IndexClient(routing, self.options, fetcher=self.fetcher, reporter=self.reporter)
        view._tasks = self._tasks  # keyed by URL only, so valid under any routing
        view._listings = self._listings
        view._known_meta = self._known_meta
        view._projects = self._projects  # keyed by the listings they merge
        return view

    def fetched_from(self, url: str) -> str:
        """Where a request for ``url`` really goes (:class:`~lockaudit.index.types.Mirrored`)."""
        return self.options.mirrors.rewrite(url)

    # MetadataSource ----------------------------------------------------------------------
    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]:
        name = canonicalize_name(name)
        known = self._candidates_now(name, target)
        if known is not None:
            return known  # no hop to the I/O thread for what needs no request
        return self.fetcher.run(self._candidates(name, target))

    def metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        known = self._metadata_now(candidate, target)
        if known is None:
            known = self.fetcher.run(self._metadata(candidate, target))
        return self._vouched(candidate, known)

    def _vouched(
        self, candidate: Candidate, result: CoreMetadata | NeedsBuild
    ) -> CoreMetadata | NeedsBuild:
        reviewed = self.options.reviewed.get((candidate.name, candidate.version))
        if isinstance(result, NeedsBuild) and reviewed is not None:
            # the maintainer vouched for these dependencies; nothing was built or run
            return CoreMetadata(candidate.name, candidate.version, reviewed)
        return result

    def prefetch(self, items: Iterable[NormalizedName | Candidate], target: Target) -> None:
        """Fetch pages / metadata concurrently; errors surface later, from the real call."""
        missing = [item for item in items if not self._known_now(item, target)]
        if missing:
            self.fetcher.run(self._prefetch(missing, target))

    def crawl(self, start: Iterable[G], target: Target, plan: CrawlPlan[G]) -> None:
        """Prefetch a likely closure without rounds (:class:`~lockaudit.index.types.Crawler`).

        Level-by-level prefetching waited, at every dependency level, for the slowest page and
        then the slowest metadata file of the level before asking for the next: two barriers
        per level, a dozen on a real image. Here each item goes page → pick → metadata →
        follow on its own, so requests stay in flight up to the per-origin limit throughout.
        """
        # What the cache answers is followed here, on the caller's thread; only the items
        # that need a request go to the I/O loop (a warm run makes no hop at all).
        queue, missing = list(start), []
        while queue:
            item = queue.pop()
            found = self._candidates_now(canonicalize_name(plan.name_of(item)), target)
            if found is None:
                missing.append(item)
                continue
            release = plan.pick(item, found)
            if release is None:
                continue
            metadata = self._metadata_now(release, target)
            if metadata is None:
                missing.append(item)
                continue
            queue.extend(plan.follow(item, release, self._vouched(release, metadata)))
        if missing:
            self.fetcher.run(self._crawl(missing, target, plan))

    # more facts --------------------------------------------------------------------------
    def top_level(self, candidate: Candidate, target: Target) -> tuple[str, ...]:
        """Import names of a release's wheel (``top_level.txt``); () when it has none.

        Kept out of :meth:`metadata` so that metadata is the same whichever way the index
        serves it (a PEP 658 file holds METADATA only); costs range requests, cached for good.
        """
        if not candidate.files:
            return ()
        file = _best_file(candidate, target)
        return self.fetcher.run(self._top_level(candidate, file))

    def release_files(
        self, name: NormalizedName, version: Version, target: Target
    ) -> tuple[DistFile, ...]:
        """Every file of one release on the indexes ``name`` routes to, for every platform.

        What a lock needs to record hashes for all platforms; no tag filtering.
        """

        name = canonicalize_name(name)
        project = self._project_now(name, target.variant)
        if project is None:
            project = self.fetcher.run(self._project(name, target.variant))
        return project.release(version)

    def close(self) -> None:
        self.fetcher.close()
        self.cache.flush()  # what this session fetched is on disk for the next process

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # memoisation -------------------------------------------------------------------------
    def _once(self, key: tuple[str, ...], make: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """One task per key for the client's life: callers share it (runs on the loop)."""
        task = self._tasks.get(key)
        if task is None:

            async def runner() -> T:
                return await make()

            task = self._tasks[key] = asyncio.ensure_future(runner())
        return task

    async def _prefetch(self, items: list[NormalizedName | Candidate], target: Target) -> None:
        total, done = len(items), 0
        self.reporter.on_progress(0, total)

        async def one(item: NormalizedName | Candidate) -> None:
            nonlocal done
            try:
                if isinstance(item, Candidate):
                    await self._metadata(item, target)
                else:
                    await self._candidates(canonicalize_name(item), target)
            except (IndexFetchError, OfflineMissError):
                pass  # memoised: the caller that needs this item gets the error
            done += 1
            self.reporter.on_progress(done, total)

        await asyncio.gather(*(one(item) for item in items))

    async def _crawl(self, start: list[G], target: Target, plan: CrawlPlan[G]) -> None:
        pending: list[asyncio.Future[None]] = []
        total, done = 0, 0

        def spawn(items: Iterable[G]) -> None:
            nonlocal total
            for item in items:
                total += 1
                pending.append(asyncio.ensure_future(visit(item)))

        async def visit(item: G) -> None:
            nonlocal done
            try:
                found = await self._candidates(canonicalize_name(plan.name_of(item)), target)
                release = plan.pick(item, found)
                if release is not None:
                    metadata = await self._metadata(release, target)
                    spawn(plan.follow(item, release, self._vouched(release, metadata)))
            except (IndexFetchError, OfflineMissError):
                pass  # memoised: the caller that needs this item gets the error
            finally:
                done += 1
                self.reporter.on_progress(done, total)

        spawn(start)
        self.reporter.on_progress(0, total)
        errors: list[BaseException] = []
        while pending:
            # Never cancel the others on an error: they may be awaiting memoised fetches that
            # other callers share, and a cancelled memo would fail those callers too.
            try:
                await pending.pop()
            except Exception as e:
                errors.append(e)
        if errors:
            raise errors[0]

    # answers without the network --------------------------------------------------------
    def _known_now(self, item: NormalizedName | Candidate, target: Target) -> bool:
        if isinstance(item, Candidate):
            return not item.files or self._metadata_now(item, target) is not None
        return self._candidates_now(canonicalize_name(item), target) is not None

    def _candidates_now(self, name: NormalizedName, target: Target) -> list[Candidate] | None:
        """The usable releases if no request is needed for them (memo or cache), else None."""
        key = (name, target)
        found = self._usable_memo.get(key)
        if found is None:
            project = self._project_now(name, target.variant)
            if project is None:
                return None
            found = self._usable_memo.setdefault(key, project.usable(target))
        return found

    def _project_now(self, name: NormalizedName, variant: Variant) -> Project | None:
        sources = self.routing.sources(name, variant)
        key = (name, *(_listing_key(s, name) for s in sources))
        project = self._projects.get(key)
        if project is not None:
            return project
        listings: list[Listing] = []
        for source in sources:
            listing = self._listing_now(source, name)
            if listing is None:
                return None
            listings.append(listing)
        return self._projects.setdefault(key, Project(name, listings))

    def _listing_now(self, source: IndexSource, name: NormalizedName) -> Listing | None:
        key = _listing_key(source, name)
        known = self._listings.get(key)
        if known is not None:
            return known
        if source.kind == "find-links":
            local = _local_path(source.url)
            if local is None:
                return None  # a remote find-links page: the loop fetches it
            # Disk only (hashes cached by path, size and mtime): read here, not on the loop.
            listing = Listing(page_record(self._local_dir(local, name)), source.url, _unchanged)
            return self._listings.setdefault(key, listing)
        page_url = key[1]
        fetch_url = self.options.mirrors.rewrite(page_url)
        if fetch_url.startswith("file:"):
            cached = self._local_page(fetch_url)
        elif self.options.refresh:
            return None
        else:
            cached = self.cache.get_project(fetch_url)
            if cached is not None and not (self.options.offline or self.cache.is_fresh(cached)):
                return None
        if cached is None:
            return None
        try:
            listing = self._checked(source, name, page_url, cached)
        except IndexFetchError:
            return None  # the loop raises it again, memoised, to whoever needs it
        self.reporter.on_cache_hit(page_url)
        return self._listings.setdefault(key, listing)

    def _local_page(self, url: str) -> ProjectEntry | None:
        """A ``file:`` index page read here, as the fetcher reads one (a directory stands for
        its index.html, HTML); None for anything the loop should answer (and report)."""
        path = Path(unquote(urlsplit(url).path))
        try:
            if path.is_dir():
                path = path / "index.html"
            if path.stat().st_size > self.options.limits.response_bytes:
                return None
            body = path.read_bytes()
        except FileNotFoundError:
            return ProjectEntry(url, 404, EMPTY_PAGE)
        except OSError:
            return None
        try:
            page = page_record(rows_of_page(body, "text/html", url))
            return ProjectEntry(url, 200, page, "text/html")
        except PageError:
            return None

    def _metadata_now(
        self, candidate: Candidate, target: Target
    ) -> CoreMetadata | NeedsBuild | None:
        if not candidate.files:
            return None
        file = _best_file(candidate, target)
        known = self._known_meta.get(file.url)
        if known is not None:
            return known
        decoded = self._stored_metadata(candidate, file)
        return None if decoded is None else self._known_meta.setdefault(file.url, decoded)

    def _stored_metadata(
        self, candidate: Candidate, file: DistFile
    ) -> CoreMetadata | NeedsBuild | None:
        stored = self.cache.get_blob("meta", _meta_key(file))
        decoded = None if stored is None else _decode_stored(stored, candidate)
        if decoded is not None:
            self.reporter.on_cache_hit(file.url)
        return decoded

    # pages -------------------------------------------------------------------------------
    async def _candidates(self, name: NormalizedName, target: Target) -> list[Candidate]:
        # Filtering files by wheel tags costs milliseconds on big pages (torch, numpy), and every
        # image of a workspace asks again: one answer per (name, target) for the client's life.
        key = (name, target)
        found = self._usable_memo.get(key)
        if found is None:
            project = await self._project(name, target.variant)
            found = self._usable_memo.setdefault(key, project.usable(target))
        return found

    async def _project(self, name: NormalizedName, variant: Variant) -> Project:
        sources = self.routing.sources(name, variant)
        key = (name, *(_listing_key(s, name) for s in sources))
        project = self._projects.get(key)
        if project is None:
            listings = await asyncio.gather(*(self._listing(s, name) for s in sources))
            project = self._projects.setdefault(key, Project(name, listings))
        return project

    async def _listing(self, source: IndexSource, name: NormalizedName) -> Listing:
        key = _listing_key(source, name)
        known = self._listings.get(key)
        if known is not None:
            return known
        listing = await self._once(key, lambda: self._fetch_listing(source, name, key))
        return self._listings.setdefault(key, listing)

    async def _fetch_listing(
        self, source: IndexSource, name: NormalizedName, key: tuple[str, ...]
    ) -> Listing:
        if source.kind == "find-links":
            local = _local_path(source.url)
            if local is not None:
                # Hashing local files is blocking work: off the I/O loop, one project at a time.
                rows = await asyncio.to_thread(self._local_dir, local, name)
                return Listing(page_record(rows), source.url, _unchanged)
            rows = await self._once(("links", source.url), lambda: self._find_links(source))
            own = page_record([row for row in rows if row.project == name])
            return Listing(own, source.url, self.options.mirrors.rewrite)
        page_url = key[1]
        entry = await self._cached_project(page_url, f"the project page of {name}")
        return self._checked(source, name, page_url, entry)

    def _checked(
        self, source: IndexSource, name: NormalizedName, page_url: str, entry: ProjectEntry
    ) -> Listing:
        """A page's rows, refused when they break a rule (checked on every read, cached too,
        so that a limit lowered since still holds)."""
        mirrors = self.options.mirrors
        page = entry.page if entry.status != 404 else EMPTY_PAGE
        listing = Listing(page, source.url, mirrors.rewrite)
        if not mirrors.rewrite(page_url).startswith("file:"):
            local = _local_link(page, mirrors)
            if local is not None:
                # A remote page must not point at this machine's files (a credential file, a
                # planted wheel): pip would follow it; a gate refuses it loudly.
                raise IndexFetchError(
                    page_url,
                    f"the project page of {name} links to a local file ({local}): refused",
                    hint="only a file: index may list file: URLs; report the index",
                )
            self._refuse_foreign_host(source, name, page_url, page)
        most = self.options.limits.links_per_page
        if page.links > most:
            over = LimitExceeded(f"a page of {page.links} links", most, "links_per_page")
            raise IndexFetchError(page_url, f"the project page of {name}: {over}", hint=over.hint)
        return listing

    def _refuse_foreign_host(
        self, source: IndexSource, name: NormalizedName, page_url: str, page: PageRecord
    ) -> None:
        """A remote page may link files only on its own host, its mirrors', or a host its
        index's ``link-hosts`` allow: pip would follow any link, and a compromised or confused
        index could send the download anywhere nobody vouched for."""
        mirrors = self.options.mirrors
        allowed = {host_of(mirrors.rewrite(page_url)), host_of(source.url)}
        allowed |= {host_of(dest) for _, dest in mirrors.prefixes}
        allowed |= self.options.link_hosts.get(source.url, frozenset())
        found = _foreign_link(page.rows(), mirrors, frozenset(allowed))
        if found is not None:
            row, host = found
            raise IndexFetchError(
                page_url,
                f"the project page of {name} links {row.filename} on another host "
                f"({host}): refused",
                hint=f'if that host is the index\'s own file store, add link-hosts = ["{host}"] '
                "to its [[tool.lockaudit.indexes]] entry (docs/CONFIG.md)",
            )

    async def _cached_project(self, url: str, what: str) -> ProjectEntry:
        """A project page through the cache of rows (freshness window, then revalidation).

        Cached under the URL it is really fetched from (after mirrors): what a page says is a
        fact of that URL, so a mirror added, changed or removed can never answer from a page
        another place served (a warm cache once kept the default index's torch for the
        PyTorch index after its mirror was removed). Which index a name is looked up on, the
        target and this program's version act on the rows, never cached.
        """
        fetch_url = self.options.mirrors.rewrite(url)
        local = fetch_url.startswith("file:")
        cached = None if local else self.cache.get_project(fetch_url)
        fresh = cached is not None and not self.options.refresh and self.cache.is_fresh(cached)
        if cached is not None and (fresh or self.options.offline):
            self.reporter.on_cache_hit(url)
            return cached
        if self.options.offline and not local:
            raise OfflineMissError(url, what)
        decoded: list[PageRecord] = []

        def validate(response: Response) -> None:
            # A truncated or garbled JSON body raises PageSyntaxError here: retried like a
            # reset. The rows decoded here are the ones kept (the page is decoded once).
            decoded.clear()
            if response.status != 200 or "json" not in response.content_type:
                return
            if not _is_json(response.content_type):
                json.loads(response.body)  # JSON of another kind: whole, at least
                return
            try:
                rows = rows_of_page(response.body, response.content_type, fetch_url)
                decoded.append(page_record(rows))
            except PageSyntaxError:
                raise
            except PageError:
                pass  # not worth a retry: decoded again below, to name the problem

        response = await self.fetcher.get(
            fetch_url,
            what=what,
            headers=_revalidation(JSON_ACCEPT, cached),
            expect=frozenset({200, 304, 404, 410}),
            validate=validate,
        )
        now = time.time()
        if response.status == 304 and cached is not None:
            entry = ProjectEntry(
                fetch_url,
                cached.status,
                cached.page,
                cached.content_type,
                now,
                cached.etag,
                cached.last_modified,
            )
        else:
            page = EMPTY_PAGE
            if response.status == 200:
                try:
                    page = decoded[0] if decoded else self._decode(response, fetch_url)
                except PageError as e:
                    raise IndexFetchError(
                        url, f"{what}: {e}", hint="is this a simple index URL?"
                    ) from e
            entry = ProjectEntry(
                fetch_url,
                404 if response.status in (404, 410) else 200,
                page,
                response.content_type,
                now,
                response.headers.get("etag"),
                response.headers.get("last-modified"),
            )
        if not local:
            self.cache.put_project(entry)
        return entry

    async def fetch_document(self, url: str, what: str, accept: str) -> PageEntry:
        """A mutable document (a page, a JSON API answer) through the page cache.

        A coroutine for the client's loop (``client.fetcher.run``); memoised per URL.
        """
        return await self._once(("doc", url), lambda: self._cached_page(url, what, accept))

    async def _cached_page(self, url: str, what: str, accept: str) -> PageEntry:
        """A mutable document through the page cache (freshness window, then revalidation),
        cached under the URL it is really fetched from, as :meth:`_cached_project` explains."""
        fetch_url = self.options.mirrors.rewrite(url)
        cached = self.cache.get_page(fetch_url)
        fresh = cached is not None and not self.options.refresh and self.cache.is_fresh(cached)
        if cached is not None and (fresh or self.options.offline):
            self.reporter.on_cache_hit(url)
            return cached
        if self.options.offline and not fetch_url.startswith("file:"):
            raise OfflineMissError(url, what)
        headers = _revalidation(accept, cached)

        def validate(response: Response) -> None:
            # A truncated or garbled body raises ValueError here: retried like a reset.
            if response.status != 200:
                return
            if "json" in response.content_type:
                json.loads(response.body)

        response = await self.fetcher.get(
            fetch_url,
            what=what,
            headers=headers,
            expect=frozenset({200, 304, 404, 410}),
            validate=validate,
        )
        now = time.time()
        if response.status == 304 and cached is not None:
            entry = PageEntry(
                fetch_url,
                cached.status,
                cached.body,
                cached.content_type,
                now,
                cached.etag,
                cached.last_modified,
            )
        else:
            entry = PageEntry(
                fetch_url,
                404 if response.status in (404, 410) else 200,
                response.body if response.status == 200 else b"",
                response.content_type,
                now,
                response.headers.get("etag"),
                response.headers.get("last-modified"),
            )
        if not fetch_url.startswith("file:"):
            self.cache.put_page(entry)
        return entry

    @staticmethod
    def _decode(response: Response, url: str) -> PageRecord:
        return page_record(rows_of_page(response.body, response.content_type, url))

    async def _find_links(self, source: IndexSource) -> tuple[FileRow, ...]:
        url = source.url
        entry = await self._cached_page(url, f"the find-links page {url}", "text/html")
        if entry.status == 404:
            return ()
        return rows_of_html(entry.body, self.options.mirrors.rewrite(url))

    def _local_dir(self, directory: Path, name: NormalizedName) -> tuple[FileRow, ...]:
        """Files of ``name`` in a local directory, hashed here (nobody else lists hashes)."""
        if not directory.is_dir():
            return ()
        files: list[FileRow] = []
        for path in sorted(directory.iterdir()):
            parsed = _parse_filename(path.name)
            if parsed is None or parsed.name != name or not path.is_file():
                continue
            stat = path.stat()
            key = _sha256_of(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
            stored = self.cache.get_blob("local-sha256", key)
            digest = stored.decode() if stored else _hash_file(path)
            if stored is None:
                self.cache.put_blob("local-sha256", key, digest.encode())
            files.append(local_row(path.name, path.resolve().as_uri(), digest, stat.st_size))
        return tuple(files)

    # metadata ----------------------------------------------------------------------------
    async def _metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        if not candidate.files:
            raise IndexFetchError(
                candidate.index, f"{candidate.name} {candidate.version} has no files"
            )
        file = _best_file(candidate, target)
        known = self._known_meta.get(file.url)
        if known is not None:
            return known
        found = await self._once(("meta", file.url), lambda: self._file_metadata(candidate, file))
        return self._known_meta.setdefault(file.url, found)

    async def _file_metadata(
        self, candidate: Candidate, file: DistFile
    ) -> CoreMetadata | NeedsBuild:
        key = _meta_key(file)
        what = f"the metadata of {candidate.name} {candidate.version} ({file.filename})"
        decoded = self._stored_metadata(candidate, file)
        if decoded is not None:
            return decoded
        if self.options.offline and not file.url.startswith("file:"):
            raise OfflineMissError(file.url, what)
        try:
            if file.is_wheel:
                raw = await self._wheel_metadata(candidate, file, what)
                try:
                    record = _StoredMeta("wheel", coremeta.read_fields(raw))
                except MetadataError as e:
                    record = _StoredMeta("wheel", None, _unusable(e))
            else:
                pkg_info = await self._sdist_pkg_info(file, what)
                found = coremeta.sdist_fields(pkg_info, candidate.name, candidate.version)
                if isinstance(found, NeedsBuild):
                    record = _StoredMeta("sdist", None, found.reason)
                else:
                    record = _StoredMeta("sdist", found)
                    coremeta.from_fields(found)  # broken metadata raises here, not cached
            result = _outcome(record, candidate)
        except (MetadataError, wheelmeta.ZipFormatError) as e:
            raise IndexFetchError(
                file.url, f"{what}: {e}", hint="the file on the index looks broken; report it"
            ) from e
        except LimitExceeded as e:
            raise IndexFetchError(file.url, f"{what}: {e}", hint=e.hint) from None
        if (result.name, result.version) != (candidate.name, candidate.version):
            raise IndexFetchError(
                file.url,
                f"{what}: the file's metadata says {result.name} {result.version}",
                hint="the index serves a file whose name does not match its metadata",
            )
        self.cache.put_blob("meta", key, _META_ENCODER.encode(record))
        return result

    async def _wheel_metadata(self, candidate: Candidate, file: DistFile, what: str) -> bytes:
        declared = file.metadata_sha256
        response = await self.fetcher.get(
            file.url + ".metadata",
            what=what,
            expect=frozenset({200, 403, 404, 410}),
            validate=_check_sha(declared, "the PEP 658 metadata file"),
            # A declared hash that does not match is retried once, then refused.
            attempts=2 if declared else None,
            max_bytes=self.options.limits.metadata_bytes,
        )
        if response.status == 200:
            if declared:
                # Verified against the declared hash; parsed once, by the caller (parsing
                # Requires-Dist was a quarter of a cold compile's I/O thread, done twice here).
                return response.body
            try:
                parsed = coremeta.parse_core_metadata(response.body)
            except MetadataError:
                parsed = None
            if parsed and (parsed.name, parsed.version) == (candidate.name, candidate.version):
                return response.body
        return (await self._wheel_by_ranges(candidate, file, what))[0]

    async def _top_level(self, candidate: Candidate, file: DistFile) -> tuple[str, ...]:
        key = file.sha256 or "url-" + _sha256_of(file.url.encode())
        stored = self.cache.get_blob("top", key)
        if stored is not None:
            self.reporter.on_cache_hit(file.url)
            return tuple(stored.decode("utf-8", "replace").split())
        what = f"the import names of {candidate.name} {candidate.version} ({file.filename})"
        if not file.is_wheel:
            return ()
        if self.options.offline and not file.url.startswith("file:"):
            raise OfflineMissError(file.url, what)
        try:
            _, lines = await self._wheel_by_ranges(candidate, file, what)
        except wheelmeta.ZipFormatError as e:
            raise IndexFetchError(file.url, f"{what}: {e}") from e
        except LimitExceeded as e:
            raise IndexFetchError(file.url, f"{what}: {e}", hint=e.hint) from None
        names = tuple(line.strip() for line in lines if line.strip())
        self.cache.put_blob("top", key, "\n".join(names).encode())
        return names

    async def _wheel_by_ranges(
        self, candidate: Candidate, file: DistFile, what: str
    ) -> tuple[bytes, list[str]]:
        response = await self.fetcher.get(
            file.url,
            what=what,
            headers={"Range": f"bytes=-{wheelmeta.TAIL_SIZE}"},
            expect=frozenset({200, 206}),
            validate=lambda r: None if r.status == 206 else _check_sha(file.sha256, "the wheel")(r),
        )
        most = self.options.limits.metadata_bytes
        if response.status == 200:  # ranges refused: we got (and verified) the whole wheel
            return wheelmeta.read_members_from_whole(response.body, candidate.name, most)
        reader = _RangeReader(self.fetcher, file.url, what, response, most)
        tail = await reader.read(reader.size - len(response.body), reader.size)
        cd_offset, cd_size = wheelmeta.find_directory(tail, reader.size - len(tail))
        directory = await reader.read(cd_offset, cd_offset + cd_size)
        entries = wheelmeta.parse_central_directory(directory)
        meta, top = wheelmeta.dist_info_members(entries, candidate.name)
        wanted = [meta] + ([top] if top else [])
        start = min(e.local_offset for e in wanted)
        end = max(e.local_offset + wheelmeta.member_span(e) for e in wanted)
        if end - start < 1 << 20:  # neighbours (the dist-info is written together): one request
            await reader.read(start, min(reader.size, end + 1024))
        raw = await reader.member(meta)
        top_lines = (
            (await reader.member(top)).decode("utf-8", "replace").splitlines() if top else []
        )
        return raw, top_lines

    async def _sdist_pkg_info(self, file: DistFile, what: str) -> bytes | None:
        if file.metadata_sha256:
            response = await self.fetcher.get(
                file.url + ".metadata",
                what=what,
                expect=frozenset({200}),
                validate=_check_sha(file.metadata_sha256, "the PEP 658 metadata file"),
                attempts=2,
                max_bytes=self.options.limits.metadata_bytes,
            )
            return response.body
        response = await self.fetcher.get(
            file.url, what=what, validate=_check_sha(file.sha256, "the sdist")
        )
        return coremeta.read_pkg_info(
            response.body, file.filename, self.options.limits.metadata_bytes
        )


class _RangeReader:
    """Byte ranges of one remote file, remembering what it already holds."""

    def __init__(self, fetcher: Fetcher, url: str, what: str, first: Response, most: int) -> None:
        self.fetcher, self.url, self.what, self.most = fetcher, url, what, most
        self.size = _total_size(first, url)
        self.segments: list[tuple[int, bytes]] = [(self.size - len(first.body), first.body)]

    async def read(self, start: int, end: int) -> bytes:
        for seg_start, data in self.segments:
            if seg_start <= start and end <= seg_start + len(data):
                return data[start - seg_start : end - seg_start]
        response = await self.fetcher.get(
            self.url,
            what=self.what,
            headers={"Range": f"bytes={start}-{end - 1}"},
            expect=frozenset({206}),
            validate=lambda r: _check_length(r, end - start),
        )
        self.segments.append((start, response.body))
        return response.body

    async def member(self, entry: wheelmeta.ZipEntry) -> bytes:
        end = min(self.size, entry.local_offset + wheelmeta.member_span(entry))
        for _ in range(2):
            if entry.size > self.most:  # before asking for its bytes
                raise LimitExceeded(f"{entry.name} of the wheel", self.most, "metadata_bytes")
            got = wheelmeta.member_data(await self.read(entry.local_offset, end), entry, self.most)
            if isinstance(got, bytes):
                return got
            end = min(self.size, entry.local_offset + got)  # the local extra field was longer
        raise wheelmeta.ZipFormatError(f"cannot locate {entry.name} in the wheel")


def _total_size(response: Response, url: str) -> int:
    content_range = response.headers.get("content-range", "")
    _, _, total = content_range.rpartition("/")
    if not total.isdigit():
        raise IndexFetchError(
            url, f"a range answer without a usable Content-Range ({content_range!r})"
        )
    return int(total)


def _check_length(response: Response, expected: int) -> None:
    if len(response.body) != expected:
        raise ValueError(f"range answer of {len(response.body)} bytes, asked for {expected}")


class _StoredMeta(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A metadata cache entry: the fields resolving reads, or why the release is unusable."""

    kind: Literal["wheel", "sdist"]
    fields: coremeta.MetadataFields | None
    needs_build: str | None = None  # the reason, when the fields are not usable
    lockaudit: str = lockaudit_version  # an entry of another version is refetched


_META_ENCODER = msgspec.msgpack.Encoder()
_META_DECODER = msgspec.msgpack.Decoder(_StoredMeta)


def _unusable(error: MetadataError) -> str:
    # pip skips a release whose metadata is invalid (an old ``PyYAML (>=5.1.*)`` specifier,
    # say) and goes on with the next one; so does the resolver, given a NeedsBuild value.
    return f"invalid metadata, skipped as pip skips it: {error}"


def _outcome(record: _StoredMeta, candidate: Candidate) -> CoreMetadata | NeedsBuild:
    """What a cache entry says of ``candidate``; an sdist's broken fields raise MetadataError."""
    if record.fields is None:
        return NeedsBuild(candidate.name, candidate.version, record.needs_build or "")
    if record.kind == "sdist":
        return coremeta.from_fields(record.fields)
    try:
        return coremeta.from_fields(record.fields)
    except MetadataError as e:
        return NeedsBuild(candidate.name, candidate.version, _unusable(e))


def _decode_stored(stored: bytes, candidate: Candidate) -> CoreMetadata | NeedsBuild | None:
    """A cache entry's answer, or None (not ours, another version's, or not about this
    release): refetched."""
    try:
        record = _META_DECODER.decode(stored)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if record.lockaudit != lockaudit_version:
        return None
    try:
        result = _outcome(record, candidate)
    except MetadataError:
        return None
    if (result.name, result.version) != (candidate.name, candidate.version):
        return None
    return result
