"""Package index access: the one place lockaudit gets package metadata (see ``types``).

The resolver depends on :class:`~lockaudit.index.types.MetadataSource` only;
:func:`build_index_client` gives the implementation wired from pip's configuration and the
workspace. Modules: ``client`` (IndexClient, Routing), ``factory`` (build_index_client),
``pipconf`` (pip's configuration), ``cache``, ``tags`` (target wheel tags), ``pages``
(PEP 691/503), ``wheelmeta`` (METADATA by range requests), ``coremeta`` (METADATA, PEP 643),
``transport`` (the async HTTP loop, retries), ``http1`` (its plain-http client),
``reporter``, ``vulns``, ``urls`` (mirrors).
"""

from lockaudit.index.cache import Cache, default_cache_dir
from lockaudit.index.client import ClientOptions, IndexClient, IndexSource, Routing
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig, default_index_url, read_pip_config
from lockaudit.index.reporter import IndexReporter, NullReporter
from lockaudit.index.tags import best_rank, compatible_tags
from lockaudit.index.transport import RetryPolicy
from lockaudit.index.urls import Mirrors
from lockaudit.index.vulns import JsonApiVulnerabilityService, VulnerabilityService

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
