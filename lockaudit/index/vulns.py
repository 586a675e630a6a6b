"""Known vulnerabilities of pinned releases: a pluggable service, one implementation.

:class:`JsonApiVulnerabilityService` reads ``<root>/pypi/<name>/<version>/json`` (the project
JSON API next to a simple index whose URL ends in ``/simple``) and its ``vulnerabilities``
list. A 404 means "no data for this release", not an error: the public index answers 404 on
per-version URLs from some networks, so the absence of data is never proof of safety.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Protocol

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockaudit.errors import IndexFetchError
from lockaudit.index.client import IndexClient
from lockaudit.index.types import Vulnerability
from lockaudit.index.urls import json_api_root

__all__ = ["JsonApiVulnerabilityService", "Pin", "VulnerabilityService"]

Pin = tuple[NormalizedName, Version]


class VulnerabilityService(Protocol):
    def query(self, pins: Iterable[Pin]) -> Mapping[Pin, tuple[Vulnerability, ...]]:
        """Vulnerabilities of each pin (an empty tuple: none known, or no data)."""
        ...


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _vulnerability(entry: Mapping[str, object]) -> Vulnerability | None:
    if entry.get("withdrawn"):
        return None
    fixed: list[Version] = []
    for text in _strings(entry.get("fixed_in")):
        try:
            fixed.append(Version(text))
        except InvalidVersion:
            continue
    link = entry.get("link")
    return Vulnerability(
        id=str(entry.get("id", "")),
        summary=str(entry.get("summary") or entry.get("details") or ""),
        aliases=_strings(entry.get("aliases")),
        fixed_in=tuple(fixed),
        link=link if isinstance(link, str) else None,
    )


def parse_vulnerabilities(body: bytes) -> tuple[Vulnerability, ...]:
    data = json.loads(body)
    entries = data.get("vulnerabilities") if isinstance(data, dict) else None
    found = (_vulnerability(e) for e in entries or () if isinstance(e, dict))
    return tuple(v for v in found if v is not None)


class JsonApiVulnerabilityService:
    """Asks the project JSON API of ``index_url``, through ``client``'s I/O and page cache."""

    def __init__(self, client: IndexClient, index_url: str) -> None:
        self.client = client
        self.root = json_api_root(index_url)

    def query(self, pins: Iterable[Pin]) -> Mapping[Pin, tuple[Vulnerability, ...]]:
        unique = list(dict.fromkeys(pins))
        return dict(zip(unique, self.client.fetcher.run(self._all(unique)), strict=True))

    async def _all(self, pins: list[Pin]) -> list[tuple[Vulnerability, ...]]:
        return list(await asyncio.gather(*(self._one(name, version) for name, version in pins)))

    async def _one(self, name: NormalizedName, version: Version) -> tuple[Vulnerability, ...]:
        url = f"{self.root}/{name}/{version}/json"
        what = f"the vulnerability data of {name} {version}"
        entry = await self.client.fetch_document(url, what, "application/json")
        if entry.status == 404:
            return ()
        try:
            return parse_vulnerabilities(entry.body)
        except (ValueError, AttributeError, TypeError) as e:
            raise IndexFetchError(url, f"{what}: not the JSON API's format ({e})") from e
