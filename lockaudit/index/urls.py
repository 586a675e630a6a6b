"""URL helpers: mirror rewriting, credential stripping, the project JSON API location."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lockaudit.redact import bare_url, redact, redact_text, strip_userinfo

__all__ = [
    "Credentials",
    "Mirrors",
    "bare_url",
    "host_of",
    "json_api_root",
    "redact",
    "redact_text",
    "split_credentials",
]

MIRRORS_ENV = "LOCKAUDIT_INDEX_MIRRORS"


@dataclass(frozen=True)
class Mirrors:
    """``FROM`` prefix → ``TO`` prefix: a URL under ``FROM`` is fetched from ``TO`` instead.

    The longest matching prefix wins, so a mirror of one index can sit next to a mirror of its
    host. Provenance (``DistFile.index``, ``Candidate.index``) keeps the original URL.
    """

    prefixes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> Mirrors:
        ordered = sorted(mapping.items(), key=lambda item: len(item[0]), reverse=True)
        return cls(tuple(ordered))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
    ) -> Mirrors:
        """``LOCKAUDIT_INDEX_MIRRORS="FROM=TO,FROM2=TO2"`` merged with ``extra`` (which wins)."""
        env = os.environ if environ is None else environ
        mapping: dict[str, str] = {}
        for item in env.get(MIRRORS_ENV, "").split(","):
            source, sep, dest = item.strip().partition("=")
            if sep and source and dest:
                mapping[source.strip()] = dest.strip()
        mapping.update(extra or {})
        return cls.from_mapping(mapping)

    def rewrite(self, url: str) -> str:
        for source, dest in self.prefixes:
            if url.startswith(source):
                return dest + url[len(source) :]
        return url


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """``https://u:p@host/x`` → (``https://host/x``, credentials); URLs never carry secrets on."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    return strip_userinfo(url), Credentials(unquote(parts.username), unquote(parts.password or ""))


def json_api_root(index_url: str) -> str:
    """``https://host/simple`` → ``https://host/pypi``: where the project JSON API lives."""
    base = index_url.rstrip("/")
    if base.endswith("/simple"):
        base = base[: -len("/simple")]
    return base + "/pypi"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> str:
    """``https://U:P@Files.Example:443/x`` → ``files.example``: the host a link points at, as
    the ``link-hosts`` of an index name it (lower case, no credentials, default port dropped)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal, as written in a URL
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"{host}:{port}"
