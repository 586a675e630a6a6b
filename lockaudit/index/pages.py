"""Project pages of a simple repository: PEP 691 JSON and PEP 503 HTML → :class:`FileRow`.

Pure functions over the bytes of a page. A page decodes to rows, one per file: what a lock and
the resolver need of it (URL, hashes, Requires-Python, yanked, size) plus what its filename
says (project, version, wheel tags), worked out once when the page is fetched, so that a
cached page (:mod:`lockaudit.index.cache` keeps the rows, not the page) is read without
parsing a filename or a JSON document again. Relative file URLs are resolved against the page
URL (and a ``<base href>``); mirrors are applied later, when a row becomes a
:class:`DistFile` (:func:`dist_file`), so rows stay a fact of the page alone. A page that cannot
be decoded raises :class:`PageError`, which the fetcher treats like a truncated body (retry,
then ``IndexFetchError``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin

import msgspec
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lockaudit.index.types import DistFile

__all__ = [
    "EMPTY_PAGE",
    "JSON_ACCEPT",
    "FileRow",
    "PageError",
    "PageRecord",
    "PageSyntaxError",
    "Release",
    "dist_file",
    "local_row",
    "page_record",
    "parse_html_page",
    "parse_json_page",
    "parse_page",
    "rows_of_html",
    "rows_of_json",
    "rows_of_page",
    "version_of",
]

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
JSON_ACCEPT = f"{JSON_CONTENT_TYPE}, text/html;q=0.1"

Rewrite = Callable[[str], str]


class PageError(ValueError):
    """A project page that is not valid PEP 691 JSON or PEP 503 HTML."""


class PageSyntaxError(PageError):
    """A JSON page that does not parse: a truncated or garbled body, worth fetching again."""


class FileRow(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One file of a page, as cached: a :class:`DistFile` before mirrors and provenance.

    ``project`` is empty when the filename is neither a wheel nor an sdist pip would pick.
    """

    filename: str
    url: str  # absolute, without its fragment, before mirror rewriting
    sha256: str | None
    requires_python: str | None
    yanked: str | None
    size: int | None
    upload_time: str | None
    metadata_sha256: str | None
    project: str  # canonical name from the filename, "" when it does not parse
    version: str  # the filename's version, normalised
    tags: str | None  # a wheel's compressed tag set ("cp311-none-any"); None: an sdist


class Release(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The files of one project and version on a page, in page order."""

    project: str
    version: str  # normalised; equal versions spelled apart ("1.0", "1.0.0") are one release
    rows: tuple[FileRow, ...]


class PageRecord(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A page as cached: its files grouped by release, and the facts the rules on a whole
    page need (so that a warm read looks at releases, never at every file)."""

    links: int  # every link on the page
    local_link: str | None  # the first file: URL (before mirrors), if any
    releases: tuple[Release, ...]
    unparsed: tuple[FileRow, ...]  # links whose filename is no wheel or sdist

    def rows(self) -> Iterator[FileRow]:
        for release in self.releases:
            yield from release.rows
        yield from self.unparsed


EMPTY_PAGE = PageRecord(0, None, (), ())


def page_record(rows: Sequence[FileRow]) -> PageRecord:
    """Group a page's rows by release; a filename listed twice counts once (the first)."""
    grouped: dict[tuple[str, Version], list[FileRow]] = {}
    unparsed: list[FileRow] = []
    seen: set[str] = set()
    for row in rows:
        if row.filename in seen:
            continue
        seen.add(row.filename)
        version = version_of(row.version) if row.project else None
        if version is None:
            unparsed.append(row)
        else:
            grouped.setdefault((row.project, version), []).append(row)
    releases = tuple(
        Release(p, group[0].version, tuple(group)) for (p, _), group in grouped.items()
    )
    local = next((row.url for row in rows if row.url.startswith("file:")), None)
    return PageRecord(len(rows), local, releases, tuple(unparsed))


@lru_cache(maxsize=1 << 14)
def version_of(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def local_row(filename: str, url: str, sha256: str, size: int) -> FileRow:
    """A file of a local ``--find-links`` directory, hashed by the caller."""
    return _row(filename, url, sha256, None, None, size, None, None)


def dist_file(row: FileRow, index: str, rewrite: Rewrite) -> DistFile:
    return DistFile(
        filename=row.filename,
        url=rewrite(row.url),
        index=index,
        sha256=row.sha256,
        requires_python=specifier(row.requires_python),
        yanked=row.yanked,
        size=row.size,
        upload_time=row.upload_time,
        metadata_sha256=row.metadata_sha256,
    )


def _dist_files(rows: Sequence[FileRow], index_url: str, rewrite: Rewrite) -> tuple[DistFile, ...]:
    return tuple(dist_file(row, index_url, rewrite) for row in rows)


@lru_cache(maxsize=1 << 16)
def _filename_facts(filename: str) -> tuple[str, str, str | None]:
    """(canonical project, version as written, tags or None for an sdist); ("", "", None)."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return name, str(version), "-".join(filename[:-4].split("-")[-3:])
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return name, str(version), None
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass  # eggs, installers, odd names: not something pip would pick either
    return "", "", None


def _row(
    filename: str,
    url: str,
    sha256: str | None,
    requires_python: object,
    yanked: str | None,
    size: int | None,
    upload_time: str | None,
    metadata_sha256: str | None,
) -> FileRow:
    project, version, tags = _filename_facts(filename)
    rp = requires_python if isinstance(requires_python, str) and requires_python.strip() else None
    return FileRow(
        filename,
        url,
        sha256,
        rp,
        yanked,
        size,
        upload_time,
        metadata_sha256,
        project,
        version,
        tags,
    )


def rows_of_page(body: bytes, content_type: str, page_url: str) -> tuple[FileRow, ...]:
    """Dispatch on the response's content type (HTML when the server does not say JSON)."""
    if content_type.split(";")[0].strip().lower() == JSON_CONTENT_TYPE:
        return rows_of_json(body, page_url)
    return rows_of_html(body, page_url)


def parse_page(
    body: bytes, content_type: str, page_url: str, index_url: str, rewrite: Rewrite
) -> tuple[DistFile, ...]:
    return _dist_files(rows_of_page(body, content_type, page_url), index_url, rewrite)


def specifier(text: str | None) -> SpecifierSet | None:
    """A Requires-Python value, parsed once per distinct text; None when absent or malformed."""
    if text is None or not text.strip():
        return None
    return _parse_specifier(text)


@lru_cache(maxsize=4096)
def _parse_specifier(text: str) -> SpecifierSet | None:
    # A page lists thousands of files sharing a handful of Requires-Python values.
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        # pip ignores a malformed Requires-Python rather than the file; so do we.
        return None


def _absolute(base: str, url: str) -> str:
    # urljoin is the slow part of parsing a large page; most file URLs are already absolute.
    return url if url.startswith(("https://", "http://")) else urljoin(base, url)


def _yanked(value: object) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str):
        return value
    return None


def _metadata_hash(value: object) -> str | None:
    if isinstance(value, Mapping):
        digest = value.get("sha256")
        return digest.lower() if isinstance(digest, str) else None
    if isinstance(value, str) and value.startswith("sha256="):
        return value.removeprefix("sha256=").lower()
    return None


# PEP 691 as typed structs: msgspec decodes a well-formed page straight into these, several
# times faster than json.loads plus a walk over dicts. A page with an unexpected type anywhere
# falls back to the lenient walk, which keeps what it can, as before.
class _JsonFile(msgspec.Struct, rename="kebab"):
    filename: str
    url: str = ""
    hashes: dict[str, str] = {}
    requires_python: str | None = None
    yanked: bool | str | None = None
    size: int | None = None
    upload_time: str | None = None
    # UNSET, not None: a key given as null hides the older key, as dict.get's default did.
    core_metadata: bool | dict[str, str] | str | msgspec.UnsetType | None = msgspec.UNSET
    dist_info_metadata: bool | dict[str, str] | str | None = None


class _JsonMeta(msgspec.Struct, rename="kebab", frozen=True):
    api_version: str = "1.0"


class _JsonPage(msgspec.Struct):
    files: list[_JsonFile]
    meta: _JsonMeta = _JsonMeta()


_TYPED = msgspec.json.Decoder(_JsonPage)
_UNTYPED = msgspec.json.Decoder()


def rows_of_json(body: bytes, page_url: str) -> tuple[FileRow, ...]:
    try:
        page = _TYPED.decode(body)
    except msgspec.ValidationError:
        return _rows_of_loose_json(body, page_url)
    except msgspec.DecodeError as e:
        raise PageSyntaxError(f"invalid JSON project page: {e}") from e
    _check_api_version(page.meta.api_version)
    rows: list[FileRow] = []
    for entry in page.files:
        meta = entry.core_metadata
        if meta is msgspec.UNSET:
            meta = entry.dist_info_metadata
        rows.append(
            _row(
                entry.filename,
                _absolute(page_url, entry.url).partition("#")[0],
                _sha256(entry.hashes.get("sha256")),
                entry.requires_python,
                _yanked(entry.yanked),
                entry.size,
                entry.upload_time,
                _metadata_hash(meta),
            )
        )
    return tuple(rows)


def _check_api_version(version: str) -> None:
    if version.split(".")[0] != "1":
        raise PageError(f"unsupported PEP 691 api-version {version}")


def _rows_of_loose_json(body: bytes, page_url: str) -> tuple[FileRow, ...]:
    try:
        data = _UNTYPED.decode(body)
    except msgspec.DecodeError as e:
        raise PageSyntaxError(f"invalid JSON project page: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise PageError("JSON project page without a 'files' list")
    meta = data.get("meta", {})
    _check_api_version(str(meta.get("api-version", "1.0")) if isinstance(meta, dict) else "?")
    rows: list[FileRow] = []
    for entry in data["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            continue
        hashes = entry.get("hashes") if isinstance(entry.get("hashes"), dict) else {}
        sha = hashes.get("sha256") if isinstance(hashes, dict) else None
        size, upload = entry.get("size"), entry.get("upload-time")
        rows.append(
            _row(
                entry["filename"],
                _absolute(page_url, str(entry.get("url", ""))).partition("#")[0],
                _sha256(sha),
                entry.get("requires-python"),
                _yanked(entry.get("yanked")),
                size if isinstance(size, int) else None,
                upload if isinstance(upload, str) else None,
                _metadata_hash(entry.get("core-metadata", entry.get("dist-info-metadata"))),
            )
        )
    return tuple(rows)


def parse_json_page(
    body: bytes, page_url: str, index_url: str, rewrite: Rewrite
) -> tuple[DistFile, ...]:
    return _dist_files(rows_of_json(body, page_url), index_url, rewrite)


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "a":
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open, "".join(self._text).strip()))
            self._open = None


def _hash_fragment(fragment: str) -> str | None:
    name, _, value = fragment.partition("=")
    return _sha256(value) if name == "sha256" else None


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _sha256(value: object) -> str | None:
    """A file's sha256 as the page gives it, or None when it is not one (a hash that can never
    match would be written into the lock, and every install from it would fail)."""
    return value.lower() if isinstance(value, str) and _SHA256.fullmatch(value) else None


def rows_of_html(body: bytes, page_url: str) -> tuple[FileRow, ...]:
    """PEP 503 anchors; also used for ``--find-links`` HTML pages (filename from the link)."""
    parser = _AnchorParser()
    try:
        parser.feed(body.decode("utf-8"))
        parser.close()
    except UnicodeDecodeError as e:
        raise PageError(f"project page is not UTF-8: {e}") from e
    except AssertionError as e:  # html.parser's way of refusing some markup (`<![...`)
        raise PageError(f"project page is not HTML: {e}") from e
    base = urljoin(page_url, parser.base) if parser.base else page_url
    rows: list[FileRow] = []
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        # The PyTorch index quotes "+" of local versions in hrefs: the file name is unquoted.
        filename = unquote(url.rstrip("/").rsplit("/", 1)[-1]) or text
        meta = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        rows.append(
            _row(
                filename,
                url,
                _hash_fragment(fragment),
                attrs.get("data-requires-python"),
                _yanked(attrs["data-yanked"] or True if "data-yanked" in attrs else None),
                None,
                None,
                _metadata_hash(meta),
            )
        )
    return tuple(rows)


def parse_html_page(
    body: bytes, page_url: str, index_url: str, rewrite: Rewrite
) -> tuple[DistFile, ...]:
    return _dist_files(rows_of_html(body, page_url), index_url, rewrite)
