"""Package index access: the one place lockaudit gets package metadata (see ``types``).

The resolver depends on :class:`~lockaudit.index.types.MetadataSource` only;
:func:`build_index_client` gives the implementation wired from pip's configuration and the
workspace. Modules: ``client`` (IndexClient, Routing), ``factory`` (build_index_client),
``pipconf`` (pip's configuration), ``cache``, ``tags`` (target wheel tags), ``pages``
(PEP 691/503), ``wheelmeta`` (METADATA by range requests), ``coremeta`` (METADATA, PEP 643),
``transport`` (the async HTTP loop on httpx, retries, limits),
``reporter``, ``vulns``, ``urls`` (mirrors).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The public names, each imported from its module on first use (PEP 562): `compile` needs
# `coremeta` on every run, and a no-op compile must not pay for the client and its HTTP stack.
_LAZY = {
    "Cache": "lockaudit.index.cache",
    "default_cache_dir": "lockaudit.index.cache",
    "ClientOptions": "lockaudit.index.client",
    "IndexClient": "lockaudit.index.client",
    "IndexSource": "lockaudit.index.client",
    "Routing": "lockaudit.index.client",
    "build_index_client": "lockaudit.index.factory",
    "PipConfig": "lockaudit.index.pipconf",
    "default_index_url": "lockaudit.index.pipconf",
    "read_pip_config": "lockaudit.index.pipconf",
    "IndexReporter": "lockaudit.index.reporter",
    "NullReporter": "lockaudit.index.reporter",
    "best_rank": "lockaudit.index.tags",
    "compatible_tags": "lockaudit.index.tags",
    "RetryPolicy": "lockaudit.index.transport",
    "Mirrors": "lockaudit.index.urls",
    "JsonApiVulnerabilityService": "lockaudit.index.vulns",
    "VulnerabilityService": "lockaudit.index.vulns",
}

if TYPE_CHECKING:
    from lockaudit.index.cache import Cache, default_cache_dir
    from lockaudit.index.client import ClientOptions, IndexClient, IndexSource, Routing
    from lockaudit.index.factory import build_index_client
    from lockaudit.index.pipconf import PipConfig, default_index_url, read_pip_config
    from lockaudit.index.reporter import IndexReporter, NullReporter
    from lockaudit.index.tags import best_rank, compatible_tags
    from lockaudit.index.transport import RetryPolicy
    from lockaudit.index.urls import Mirrors
    from lockaudit.index.vulns import JsonApiVulnerabilityService, VulnerabilityService


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Cache",
    "ClientOptions",
    "IndexClient",
    "IndexReporter",
    "IndexSource",
    "JsonApiVulnerabilityService",
    "Mirrors",
    "NullReporter",
    "PipConfig",
    "RetryPolicy",
    "Routing",
    "VulnerabilityService",
    "best_rank",
    "build_index_client",
    "compatible_tags",
    "default_cache_dir",
    "default_index_url",
    "read_pip_config",
]
