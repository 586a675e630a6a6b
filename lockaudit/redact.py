"""Credentials out of URLs: the one place a URL is made fit to leave the process.

Light on purpose (no HTTP library): the CLI's output path imports it for ``--version`` too.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["bare_url", "redact", "redact_text", "strip_userinfo"]

# ``scheme://userinfo@``: the userinfo ends at the last ``@`` before the path, and cannot hold
# ``/``, ``?``, ``#`` or whitespace (RFC 3986), so this also finds URLs inside free text.
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]*(?:@[^/?#@\s]*)*)@"
)


def _mask(match: re.Match[str]) -> str:
    user, sep, _password = match["userinfo"].partition(":")
    # A lone userinfo is a token (``https://TOKEN@host``): the whole of it is the secret.
    return f"{match['scheme']}{user}:***@" if sep else f"{match['scheme']}***@"


def redact(url: str) -> str:
    """``https://user:token@host/x`` → ``https://user:***@host/x``; a lone token → ``***@``.

    The one form in which a URL may leave the process: output, errors, locks, reports.
    """
    return _USERINFO.sub(_mask, url, count=1)


def redact_text(text: str) -> str:
    """Every URL's credentials masked in free text (an HTTP library's message, say)."""
    return _USERINFO.sub(_mask, text)


def strip_userinfo(url: str) -> str:
    """``https://u:p@host/x`` → ``https://host/x``: the form a URL is recorded in."""
    parts = urlsplit(url)
    if parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@functools.lru_cache(maxsize=4096)
def bare_url(url: str) -> str:
    """The URL as provenance compares it: without credentials or a trailing slash."""
    # Cached: the provenance rule asks this of every file of every lock, and a workspace
    # names only a few indexes.
    return strip_userinfo(url).rstrip("/")
