"""How much an index may make lockaudit hold or wait for: sizes, links, deadlines.

An index is input like any other, and a hostile or broken one can answer with a gzip body that
inflates to gigabytes, a wheel whose METADATA does, a 100 MB METADATA file, a page of millions
of links, or a body fed a byte at a time (each read inside the read timeout). Each limit turns
one of these into :class:`LimitExceeded`, which the client reports as an
:class:`~lockaudit.errors.IndexFetchError` naming the URL and the setting to raise; it is never
retried (the same answer would come again).

The defaults are generous for real indexes: the biggest project pages of the public index are
tens of MB of JSON (a 200,000-file page is about 60 MB), METADATA a few MB at most, and a
whole wheel (fetched only when an index refuses range requests) under a GB. Each can be set in
``[tool.lockaudit.limits]`` (key ``response-bytes`` ...) or by the environment
(``LOCKAUDIT_LIMIT_RESPONSE_BYTES`` ...), which wins: a machine may know its network better
than the repository.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["LIMIT_KEYS", "LimitExceeded", "Limits", "limits_from"]

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Ceilings on what one index answer (or one command) may cost."""

    response_bytes: int = 1024 * MiB  # one answer as received (a whole wheel at most)
    decompressed_bytes: int = 256 * MiB  # one answer after its Content-Encoding
    metadata_bytes: int = 32 * MiB  # one METADATA / PKG-INFO, inflated
    links_per_page: int = 500_000  # files listed on one project page
    request_timeout: float = 600.0  # seconds for one request, its retries included
    command_timeout: float = 3600.0  # seconds for every request of one command

    def setting(self, attribute: str) -> str:
        """How a user names a limit: the config key and the environment variable."""
        key = attribute.replace("_", "-")
        return f"[tool.lockaudit.limits] {key} or {_env_name(attribute)}"


# config key → attribute; the keys ``[tool.lockaudit.limits]`` accepts
LIMIT_KEYS: Mapping[str, str] = {f.name.replace("_", "-"): f.name for f in fields(Limits)}


def _env_name(attribute: str) -> str:
    return "LOCKAUDIT_LIMIT_" + attribute.upper()


class LimitExceeded(Exception):
    """An answer (or a command) went over one of :class:`Limits`; not worth a retry."""

    def __init__(self, what: str, value: float, attribute: str) -> None:
        unit = "s" if attribute.endswith("timeout") else ""
        shown = _size(value) if attribute.endswith("bytes") else f"{value:g}{unit}"
        super().__init__(f"{what} exceeds the limit of {shown}")
        self.attribute = attribute

    @property
    def hint(self) -> str:
        return (
            "the index sent more than lockaudit accepts from one answer; if this index is "
            f"trusted, raise {Limits().setting(self.attribute)}"
        )


def _size(value: float) -> str:
    return f"{value / MiB:g} MiB" if value >= MiB else f"{value:g} bytes"


def limits_from(
    configured: Mapping[str, float] | None = None, environ: Mapping[str, str] | None = None
) -> Limits:
    """The defaults, overridden by the workspace's ``[tool.lockaudit.limits]`` (config keys,
    values already validated), then by ``LOCKAUDIT_LIMIT_*`` variables (ignored when they are
    not a positive number, like ``LOCKAUDIT_PAGE_TTL``)."""
    env = os.environ if environ is None else environ
    limits = Limits()
    changes: dict[str, float] = {}
    for key, value in (configured or {}).items():
        if key in LIMIT_KEYS:
            changes[LIMIT_KEYS[key]] = value
    for attribute in LIMIT_KEYS.values():
        text = env.get(_env_name(attribute))
        if text is None:
            continue
        try:
            number = float(text)
        except ValueError:
            continue
        if number > 0:
            changes[attribute] = number
    typed: dict[str, Any] = {
        name: value if name.endswith("timeout") else int(value) for name, value in changes.items()
    }
    return replace(limits, **typed)
