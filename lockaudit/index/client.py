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

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
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

from lockaudit.errors import IndexFetchError, OfflineMissError
from lockaudit.index import coremeta, wheelmeta
from lockaudit.index.cache import DEFAULT_PAGE_TTL, Cache, PageEntry
from lockaudit.index.coremeta import MetadataError
from lockaudit.index.limits import LimitExceeded, Limits
from lockaudit.index.pages import JSON_ACCEPT, PageError, parse_html_page, parse_page
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
    # index URL -> hosts besides its own (and its mirror's) its pages may link files on
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


@lru_cache(maxsize=4096)
def _python_ok(requires_python: SpecifierSet, python: str) -> bool:
    return requires_python.contains(python, prereleases=True)


def _usable(files: Iterable[DistFile], name: NormalizedName, target: Target) -> list[Candidate]:
    by_version: dict[Version, list[tuple[int, DistFile]]] = {}
    index_of: dict[Version, str] = {}
    sdist_rank = 1 << 30
    for file in files:
        parsed = _parse_filename(file.filename)
        if parsed is None or parsed.name != name:
            continue
        rp = file.requires_python
        if rp is not None and not _python_ok(rp, target.python):
            continue
        rank = sdist_rank if parsed.tags is None else best_rank(parsed.tags, target)
        if rank is None:
            continue
        by_version.setdefault(parsed.version, []).append((rank, file))
        index_of.setdefault(parsed.version, file.index)
    result: list[Candidate] = []
    for version in sorted(by_version, reverse=True):
        ranked = sorted(by_version[version], key=lambda item: item[0])
        wheels = [f for rank, f in ranked if rank != sdist_rank]
        chosen = wheels or [f for _, f in ranked]
        result.append(Candidate(name, version, tuple(chosen), index_of[version]))
    return result


def _best_file(candidate: Candidate, target: Target) -> DistFile:
    def rank(file: DistFile) -> int:
        parsed = _parse_filename(file.filename)
        found = best_rank(parsed.tags, target) if parsed and parsed.tags else None
        return found if found is not None else 1 << 30

    return min(candidate.files, key=rank)


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
        self._usable_memo: dict[tuple[NormalizedName, Target], list[Candidate]] = {}

    def with_routing(self, routing: Routing) -> IndexClient:
        """The same session (I/O loop, cache, pages and metadata already fetched and parsed)
        seen through other routing: what a `pip install --index-url ...` step sees."""
        view = IndexClient(routing, self.options, fetcher=self.fetcher, reporter=self.reporter)
        view._tasks = self._tasks  # keyed by URL only, so valid under any routing
        return view

    # MetadataSource ----------------------------------------------------------------------
    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]:
        known = self._usable_memo.get((canonicalize_name(name), target))
        if known is not None:
            return known  # no hop to the I/O thread for what is already known
        return self.fetcher.run(self._candidates(canonicalize_name(name), target))

    def metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        return self._vouched(candidate, self.fetcher.run(self._metadata(candidate, target)))

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
        self.fetcher.run(self._prefetch(list(items), target))

    def crawl(self, start: Iterable[G], target: Target, plan: CrawlPlan[G]) -> None:
        """Prefetch a likely closure without rounds (:class:`~lockaudit.index.types.Crawler`).

        Level-by-level prefetching waited, at every dependency level, for the slowest page and
        then the slowest metadata file of the level before asking for the next: two barriers
        per level, a dozen on a real image. Here each item goes page → pick → metadata →
        follow on its own, so requests stay in flight up to the per-origin limit throughout.
        """
        self.fetcher.run(self._crawl(list(start), target, plan))

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

        async def collect() -> tuple[DistFile, ...]:
            files = await self._files(canonicalize_name(name), target.variant)
            return tuple(
                f
                for f in files
                if (p := _parse_filename(f.filename)) is not None and p.version == version
            )

        return self.fetcher.run(collect())

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

    # pages -------------------------------------------------------------------------------
    async def _candidates(self, name: NormalizedName, target: Target) -> list[Candidate]:
        # Filtering files by wheel tags costs milliseconds on big pages (torch, numpy), and every
        # image of a workspace asks again: one answer per (name, target) for the client's life.
        key = (name, target)
        found = self._usable_memo.get(key)
        if found is None:
            found = _usable(await self._files(name, target.variant), name, target)
            self._usable_memo[key] = found
        return found

    async def _files(self, name: NormalizedName, variant: Variant) -> tuple[DistFile, ...]:
        sources = self.routing.sources(name, variant)
        pages = await asyncio.gather(*(self._source_files(s, name) for s in sources))
        seen: set[str] = set()
        merged: list[DistFile] = []
        for files in pages:
            for file in files:
                # The same file on two indexes (a mirror, a local copy): the first source wins.
                if file.filename not in seen:
                    seen.add(file.filename)
                    merged.append(file)
        return tuple(merged)

    async def _source_files(
        self, source: IndexSource, name: NormalizedName
    ) -> tuple[DistFile, ...]:
        if source.kind == "find-links":
            local = _local_path(source.url)
            if local is not None:
                # Hashing local files is blocking work: off the I/O loop, one project at a time.
                return await self._once(
                    ("local", source.url, name),
                    lambda: asyncio.to_thread(self._local_dir, local, source.url, name),
                )
            listing = await self._once(("links", source.url), lambda: self._find_links(source))
            return tuple(
                f for f in listing if (p := _parse_filename(f.filename)) and p.name == name
            )
        page_url = source.url.rstrip("/") + f"/{name}/"
        return await self._once(("page", page_url), lambda: self._page(source, name, page_url))

    async def _page(
        self, source: IndexSource, name: NormalizedName, page_url: str
    ) -> tuple[DistFile, ...]:
        mirrors = self.options.mirrors
        entry = await self._cached_page(page_url, f"the project page of {name}", JSON_ACCEPT)
        if entry.status == 404:
            return ()  # an unknown project is data: no candidates
        # Relative links are relative to where the page was really fetched from (a mirror).
        fetched = mirrors.rewrite(page_url)
        try:
            files = parse_page(entry.body, entry.content_type, fetched, source.url, mirrors.rewrite)
        except PageError as e:
            raise IndexFetchError(
                page_url, f"the project page of {name}: {e}", hint="is this a simple index URL?"
            ) from e
        if not fetched.startswith("file:"):
            self._refuse_foreign_links(source, name, page_url, fetched, files)
        most = self.options.limits.links_per_page
        if len(files) > most:
            over = LimitExceeded(f"a page of {len(files)} links", most, "links_per_page")
            raise IndexFetchError(page_url, f"the project page of {name}: {over}", hint=over.hint)
        return files

    def _refuse_foreign_links(
        self,
        source: IndexSource,
        name: NormalizedName,
        page_url: str,
        fetched: str,
        files: Sequence[DistFile],
    ) -> None:
        """A remote page may link files only on its own host, its mirror's, or a host the
        index's ``link-hosts`` allow. pip would follow any link: a page that points at this
        machine's files (a credential file, a planted wheel) or at a host nobody vouched for
        (a compromised or confused index sending the download elsewhere) is refused loudly."""
        local = next((f for f in files if f.url.startswith("file:")), None)
        if local is not None:
            raise IndexFetchError(
                page_url,
                f"the project page of {name} links to a local file ({local.url}): refused",
                hint="only a file: index may list file: URLs; report the index",
            )
        allowed = {host_of(fetched), host_of(source.url)}
        allowed |= {host_of(dest) for _, dest in self.options.mirrors.prefixes}
        allowed |= self.options.link_hosts.get(source.url, frozenset())
        foreign = next((f for f in files if host_of(f.url) not in allowed), None)
        if foreign is not None:
            host = host_of(foreign.url)
            raise IndexFetchError(
                page_url,
                f"the project page of {name} links {foreign.filename} on another host "
                f"({host}): refused",
                hint=f'if that host is the index\'s own file store, add link-hosts = ["{host}"] '
                "to its [[tool.lockaudit.indexes]] entry (docs/CONFIG.md)",
            )

    async def fetch_document(self, url: str, what: str, accept: str) -> PageEntry:
        """A mutable document (a page, a JSON API answer) through the page cache.

        A coroutine for the client's loop (``client.fetcher.run``); memoised per URL.
        """
        return await self._once(("doc", url), lambda: self._cached_page(url, what, accept))

    async def _cached_page(self, url: str, what: str, accept: str) -> PageEntry:
        """A mutable document through the page cache (freshness window, then revalidation).

        Cached under the URL it is really fetched from (after mirrors): what a page says is a
        fact of that URL, so a mirror added, changed or removed can never answer from a page
        another place served (a warm cache once kept the default index's torch for the
        PyTorch index after its mirror was removed). Which index a name is looked up on, the
        target and this program's version act on the parsed page, never cached.
        """
        fetch_url = self.options.mirrors.rewrite(url)
        cached = self.cache.get_page(fetch_url)
        fresh = cached is not None and not self.options.refresh and self.cache.is_fresh(cached)
        if cached is not None and (fresh or self.options.offline):
            self.reporter.on_cache_hit(url)
            return cached
        if self.options.offline and not fetch_url.startswith("file:"):
            raise OfflineMissError(url, what)
        headers = {"Accept": accept}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified

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

    async def _find_links(self, source: IndexSource) -> tuple[DistFile, ...]:
        url = source.url
        entry = await self._cached_page(url, f"the find-links page {url}", "text/html")
        if entry.status == 404:
            return ()
        rewrite = self.options.mirrors.rewrite
        return parse_html_page(entry.body, rewrite(url), url, rewrite)

    def _local_dir(
        self, directory: Path, origin: str, name: NormalizedName
    ) -> tuple[DistFile, ...]:
        """Files of ``name`` in a local directory, hashed here (nobody else lists hashes)."""
        if not directory.is_dir():
            return ()
        files: list[DistFile] = []
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
            files.append(
                DistFile(path.name, path.resolve().as_uri(), origin, digest, size=stat.st_size)
            )
        return tuple(files)

    # metadata ----------------------------------------------------------------------------
    async def _metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        if not candidate.files:
            raise IndexFetchError(
                candidate.index, f"{candidate.name} {candidate.version} has no files"
            )
        file = _best_file(candidate, target)
        return await self._once(("meta", file.url), lambda: self._file_metadata(candidate, file))

    async def _file_metadata(
        self, candidate: Candidate, file: DistFile
    ) -> CoreMetadata | NeedsBuild:
        key = file.sha256 or "url-" + _sha256_of(file.url.encode())
        stored = self.cache.get_blob("meta", key)
        what = f"the metadata of {candidate.name} {candidate.version} ({file.filename})"
        if stored is not None:
            decoded = _decode_stored(stored, candidate)
            if decoded is not None:
                self.reporter.on_cache_hit(file.url)
                return decoded
        if self.options.offline and not file.url.startswith("file:"):
            raise OfflineMissError(file.url, what)
        record: dict[str, object]
        try:
            if file.is_wheel:
                raw = await self._wheel_metadata(candidate, file, what)
                record = {"kind": "wheel", "metadata": raw.decode("utf-8", "replace")}
                result: CoreMetadata | NeedsBuild = _parse_or_unusable(raw, candidate)
            else:
                pkg_info = await self._sdist_pkg_info(file, what)
                result = coremeta.sdist_metadata(pkg_info, candidate.name, candidate.version)
                record = {
                    "kind": "sdist",
                    "metadata": pkg_info.decode("utf-8", "replace") if pkg_info else None,
                }
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
        self.cache.put_blob("meta", key, json.dumps(record).encode())
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


def _parse_or_unusable(raw: bytes, candidate: Candidate) -> CoreMetadata | NeedsBuild:
    """Wheel METADATA that does not parse makes the release unusable, as pip treats it.

    pip skips a release whose metadata is invalid (an old ``PyYAML (>=5.1.*)`` specifier, say)
    and goes on with the next one; so does the resolver, given this :class:`NeedsBuild` value.
    """
    try:
        return coremeta.parse_core_metadata(raw)
    except MetadataError as e:
        return NeedsBuild(
            candidate.name,
            candidate.version,
            f"invalid metadata, skipped as pip skips it: {e}",
        )


def _decode_stored(stored: bytes, candidate: Candidate) -> CoreMetadata | NeedsBuild | None:
    try:
        record = json.loads(stored)
        text = record.get("metadata")
        raw = text.encode() if isinstance(text, str) else None
        if record.get("kind") == "wheel" and raw is not None:
            return _parse_or_unusable(raw, candidate)
        if record.get("kind") == "sdist":
            return coremeta.sdist_metadata(raw, candidate.name, candidate.version)
    except (ValueError, AttributeError):
        pass  # an entry from another version of lockaudit: refetch
    return None
