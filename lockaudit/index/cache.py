"""The on-disk cache of index answers: ``<cache_dir>/v1/<kind>/<key[:2]>/<key>``.

Three kinds of entries:

- **immutable** (``meta``: a file's METADATA / PKG-INFO, keyed by the file's sha256, or by
  the URL's hash when the index gives none): kept forever, since a file never changes under
  its hash;
- **projects** (a project page as a :class:`~lockaudit.index.pages.PageRecord`, msgpack,
  keyed by the hash of the URL it was fetched from): what resolving needs of a page and nothing
  else, read back without parsing JSON or a filename; the header names the record format and
  lockaudit's version, and an entry of another one is a miss (refetched, never misread). The
  rows are a fact of the page alone: mirrors, provenance, routing and the target act on them
  after they are read, so none of those can be answered from a stale entry;
- **pages** (project pages, JSON API answers, keyed by the URL's hash): fresh for a window
  (``page_ttl``, default 10 minutes, ``LOCKAUDIT_PAGE_TTL`` seconds), then revalidated with
  the ``ETag``/``Last-Modified`` the server sent, or refetched. The public index sends no
  validators, so the window is what makes a warm run free of requests.

An entry is one file: a magic line, a JSON header line (including the body's sha256 and
length), then the body. It is written to a temporary file in the same directory and moved
into place with ``os.replace``, so readers in other processes see the old entry or the new
one, never half of one. A body that does not match its checksum (a truncated or corrupted
entry) is deleted and treated as a miss.

With ``background=True`` (the index client's cache) entries are written by one writer thread,
in order: a cold compile writes hundreds of entries, nearly each into a new directory, and
that file-system work (0.3-1.5 ms an entry on a busy disk) held up the I/O loop the resolver
waits on; system calls release the GIL, so on their own thread they overlap with parsing and
resolving. Until written, an entry is answered from memory to every cache of the process;
:meth:`Cache.flush` (called by ``IndexClient.close``) waits for the writes, and the writer
finishes its queue before the interpreter exits.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import msgspec

from lockaudit import __version__
from lockaudit.index.pages import PageRecord
from lockaudit.workspace.parsecache import default_cache_dir

__all__ = [
    "DEFAULT_PAGE_TTL",
    "Cache",
    "PageEntry",
    "ProjectEntry",
    "default_cache_dir",
    "url_key",
]

DEFAULT_PAGE_TTL = 600.0
_MAGIC = b"lockaudit-cache 1\n"
# Temporary-file serials, process-wide: two Cache objects may share a root (client views).
_SERIAL = itertools.count()


# Bumped whenever what a page decodes to changes: an older record is then refetched.
RECORD_FORMAT = 2
_ROWS = msgspec.msgpack.Decoder(PageRecord)
_ROWS_ENCODER = msgspec.msgpack.Encoder()


def page_ttl_from_env(environ: Mapping[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    try:
        return float(env.get("LOCKAUDIT_PAGE_TTL", DEFAULT_PAGE_TTL))
    except ValueError:
        return DEFAULT_PAGE_TTL


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


@dataclass(frozen=True)
class PageEntry:
    """A cached answer for a mutable URL: the body plus what is needed to revalidate it."""

    url: str
    status: int
    body: bytes = field(repr=False)
    content_type: str = ""
    stored_at: float = 0.0
    etag: str | None = None
    last_modified: str | None = None

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.stored_at


@dataclass(frozen=True)
class ProjectEntry:
    """A cached project page as its record, with what is needed to revalidate it."""

    url: str
    status: int
    page: PageRecord = field(repr=False)
    content_type: str = ""
    stored_at: float = 0.0
    etag: str | None = None
    last_modified: str | None = None

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.stored_at


class _Writer:
    """The process's background cache writes: one thread, in order, pending ones readable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Path, bytes] = {}
        self._futures: set[Future[None]] = set()
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, path: Path, data: bytes, store: Callable[[Path, bytes], None]) -> None:
        with self._lock:
            self._pending[path] = data
            if self._executor is None:
                # Its worker is not a daemon: the interpreter joins it at exit, queue done.
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="lockaudit-cache")
            future = self._executor.submit(self._run, path, data, store)
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _run(self, path: Path, data: bytes, store: Callable[[Path, bytes], None]) -> None:
        try:
            store(path, data)
        finally:
            with self._lock:
                if self._pending.get(path) is data:  # not replaced by a newer write meanwhile
                    del self._pending[path]

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def pending(self, path: Path) -> bytes | None:
        with self._lock:
            return self._pending.get(path)

    def flush(self) -> None:
        with self._lock:
            futures = list(self._futures)
        wait(futures)


_WRITER = _Writer()


class Cache:
    """The cache; ``root=None`` disables it (every lookup misses, nothing is written)."""

    def __init__(
        self, root: Path | None, *, page_ttl: float = DEFAULT_PAGE_TTL, background: bool = False
    ) -> None:
        self.root = root / "v1" if root is not None else None
        self.page_ttl = page_ttl
        self.background = background
        # Directories this process made or found: a cold run writes hundreds of entries into a
        # few hundred directories, and a mkdir per write was a tenth of its I/O thread.
        self._dirs: set[Path] = set()

    def _path(self, kind: str, key: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / kind / key[:2] / key

    def _read(self, path: Path | None) -> tuple[dict[str, object], bytes] | None:
        if path is None:
            return None
        data = _WRITER.pending(path)
        if data is None:
            try:
                data = path.read_bytes()
            except OSError:
                return None
        entry = _decode(data)
        if entry is None:
            # Corrupt or truncated (a crash mid-write elsewhere, a full disk): drop and refetch.
            with contextlib.suppress(OSError):
                path.unlink()
        return entry

    def _write(self, path: Path | None, header: dict[str, object], body: bytes) -> None:
        if path is None:
            return
        header = {**header, "sha256": hashlib.sha256(body).hexdigest(), "length": len(body)}
        data = _MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + body
        if self.background:
            _WRITER.submit(path, data, self._store)
        else:
            self._store(path, data)

    def flush(self) -> None:
        """Wait until every background write of the process so far is on disk."""
        _WRITER.flush()

    def _store(self, path: Path, data: bytes) -> None:
        try:
            if path.parent not in self._dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._dirs.add(path.parent)
            # Unique per process and write (O_EXCL guards the rest), without mkstemp's random
            # names and retries; a leftover from a crash is never read (entries are read by key).
            tmp = path.parent / f".tmp-{os.getpid()}-{next(_SERIAL)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            try:
                fd = os.open(tmp, flags, 0o600)
            except FileNotFoundError:  # the directory went away since (a cache cleared)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, flags, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            pass  # a cache that cannot be written only costs speed, never correctness

    # immutable entries -------------------------------------------------------------------
    def get_blob(self, kind: str, key: str) -> bytes | None:
        entry = self._read(self._path(kind, key))
        return entry[1] if entry else None

    def put_blob(self, kind: str, key: str, body: bytes) -> None:
        self._write(self._path(kind, key), {}, body)

    # pages -------------------------------------------------------------------------------
    def get_page(self, url: str) -> PageEntry | None:
        entry = self._read(self._path("pages", url_key(url)))
        if entry is None:
            return None
        header, body = entry
        if header.get("url") != url:
            return None
        return PageEntry(url=url, body=body, **_revalidation(header))

    def put_page(self, entry: PageEntry) -> None:
        header = _header(entry)
        self._write(self._path("pages", url_key(entry.url)), header, entry.body)

    # project records -------------------------------------------------------------------
    def get_project(self, url: str) -> ProjectEntry | None:
        entry = self._read(self._path("projects", url_key(url)))
        if entry is None:
            return None
        header, body = entry
        if (
            header.get("url") != url
            or header.get("format") != RECORD_FORMAT
            or header.get("lockaudit") != __version__
        ):
            return None
        try:
            page = _ROWS.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # whole but not ours (checksums right): refetch
        return ProjectEntry(url=url, page=page, **_revalidation(header))

    def put_project(self, entry: ProjectEntry) -> None:
        header = {**_header(entry), "format": RECORD_FORMAT, "lockaudit": __version__}
        body = _ROWS_ENCODER.encode(entry.page)
        self._write(self._path("projects", url_key(entry.url)), header, body)

    def is_fresh(self, entry: PageEntry | ProjectEntry) -> bool:
        return 0 <= entry.age() < self.page_ttl


def _header(entry: PageEntry | ProjectEntry) -> dict[str, object]:
    """What a page and a project record both keep to answer and revalidate from the cache."""
    return {
        "url": entry.url,
        "status": entry.status,
        "content_type": entry.content_type,
        "stored_at": entry.stored_at,
        "etag": entry.etag,
        "last_modified": entry.last_modified,
    }


class _Revalidation(TypedDict):
    status: int
    content_type: str
    stored_at: float
    etag: str | None
    last_modified: str | None


def _revalidation(header: Mapping[str, object]) -> _Revalidation:
    """The fields of :func:`_header` read back leniently (an old or odd header still answers)."""
    return _Revalidation(
        status=_int(header.get("status"), 200),
        content_type=str(header.get("content_type") or ""),
        stored_at=_float(header.get("stored_at")),
        etag=_str_or_none(header.get("etag")),
        last_modified=_str_or_none(header.get("last_modified")),
    )


def _int(value: object, default: int) -> int:
    return int(value) if isinstance(value, int | float) else default


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _decode(data: bytes) -> tuple[dict[str, object], bytes] | None:
    if not data.startswith(_MAGIC):
        return None
    header_line, sep, body = data[len(_MAGIC) :].partition(b"\n")
    if not sep:
        return None
    try:
        header = json.loads(header_line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    if (
        header.get("length") != len(body)
        or header.get("sha256") != hashlib.sha256(body).hexdigest()
    ):
        return None
    return header, body
