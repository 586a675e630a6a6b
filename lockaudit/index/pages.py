"""Project pages of a simple repository: PEP 691 JSON and PEP 503 HTML → :class:`DistFile`.

Pure functions over the bytes of a page. Relative file URLs are resolved against the page URL
(and a ``<base href>``), then rewritten by the mirrors; ``DistFile.index`` keeps the original
index URL. A page that cannot be decoded raises :class:`PageError`, which the fetcher treats
like a truncated body (retry, then ``IndexFetchError``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from lockaudit.index.types import DistFile

__all__ = ["JSON_ACCEPT", "PageError", "parse_html_page", "parse_json_page", "parse_page"]

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
JSON_ACCEPT = f"{JSON_CONTENT_TYPE}, text/html;q=0.1"

Rewrite = Callable[[str], str]


class PageError(ValueError):
    """A project page that is not valid PEP 691 JSON or PEP 503 HTML."""


def parse_page(
    body: bytes, content_type: str, page_url: str, index_url: str, rewrite: Rewrite
) -> tuple[DistFile, ...]:
    """Dispatch on the response's content type (HTML when the server does not say JSON)."""
    if content_type.split(";")[0].strip().lower() == JSON_CONTENT_TYPE:
        return parse_json_page(body, page_url, index_url, rewrite)
    return parse_html_page(body, page_url, index_url, rewrite)


def _specifier(text: object) -> SpecifierSet | None:
    if not isinstance(text, str) or not text.strip():
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


def parse_json_page(
    body: bytes, page_url: str, index_url: str, rewrite: Rewrite
) -> tuple[DistFile, ...]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PageError(f"invalid JSON project page: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise PageError("JSON project page without a 'files' list")
    meta = data.get("meta", {})
    version = str(meta.get("api-version", "1.0")) if isinstance(meta, dict) else "?"
    if version.split(".")[0] != "1":
        raise PageError(f"unsupported PEP 691 api-version {version}")
    files: list[DistFile] = []
    for entry in data["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            continue
        url = _absolute(page_url, str(entry.get("url", ""))).partition("#")[0]
        hashes = entry.get("hashes") if isinstance(entry.get("hashes"), dict) else {}
        sha = hashes.get("sha256") if isinstance(hashes, dict) else None
        meta = entry.get("core-metadata", entry.get("dist-info-metadata"))
        size = entry.get("size")
        upload = entry.get("upload-time")
        files.append(
            DistFile(
                filename=entry["filename"],
                url=rewrite(url),
                index=index_url,
                sha256=_sha256(sha),
                requires_python=_specifier(entry.get("requires-python")),
                yanked=_yanked(entry.get("yanked")),
                size=size if isinstance(size, int) else None,
                upload_time=upload if isinstance(upload, str) else None,
                metadata_sha256=_metadata_hash(meta),
            )
        )
    return tuple(files)


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


def parse_html_page(
    body: bytes, page_url: str, index_url: str, rewrite: Rewrite
) -> tuple[DistFile, ...]:
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
    files: list[DistFile] = []
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        # The PyTorch index quotes "+" of local versions in hrefs: the file name is unquoted.
        filename = unquote(url.rstrip("/").rsplit("/", 1)[-1]) or text
        meta = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        files.append(
            DistFile(
                filename=filename,
                url=rewrite(url),
                index=index_url,
                sha256=_hash_fragment(fragment),
                requires_python=_specifier(attrs.get("data-requires-python")),
                yanked=_yanked(attrs["data-yanked"] or True if "data-yanked" in attrs else None),
                metadata_sha256=_metadata_hash(meta),
            )
        )
    return tuple(files)
