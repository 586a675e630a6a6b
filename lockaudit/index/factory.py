"""``build_index_client``: pip's configuration + the workspace's indexes → an IndexClient.

Routing: a package the workspace routes to an index (``Workspace.routes(variant)``) is looked
up only there, so a same-named package on another index (dependency confusion: a ``torch
9.9.9`` on the default index) can never be chosen. Every other package is looked up on pip's
``index-url`` (pip's own default when unset, none with ``no-index``), its ``extra-index-url``s,
its ``find-links``, and the workspace's indexes that route no package; releases are merged by
version.

TLS trusts ``cert`` from pip's configuration, else ``$REQUESTS_CA_BUNDLE`` or
``$CURL_CA_BUNDLE`` (which pip honours through requests), else ``$SSL_CERT_FILE``, else the
system store; pip's ``client-cert`` is presented, its ``trusted-host``s are not verified, its
``timeout`` and ``retries`` set the retry policy unless the caller gives one.
Credentials come from index URLs' userinfo (remembered per host, stripped from every URL that
is logged, cached or reported) or from ``~/.netrc``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.index.cache import default_cache_dir, page_ttl_from_env
from lockaudit.index.client import ClientOptions, IndexClient, IndexSource, Routing
from lockaudit.index.limits import limits_from
from lockaudit.index.pipconf import (
    PipConfig,
    default_file_host,
    default_index_url,
    read_pip_config,
)
from lockaudit.index.reporter import IndexReporter
from lockaudit.index.transport import Fetcher, RetryPolicy
from lockaudit.index.urls import Credentials, Mirrors, split_credentials
from lockaudit.workspace.model import Variant, Workspace

__all__ = ["build_index_client", "routing_for"]


def _source(url: str, kind: str, creds: dict[str, Credentials]) -> IndexSource:
    bare, found = split_credentials(url)
    if found is not None:
        creds[urlsplit(bare).netloc] = found
    if kind == "find-links":
        return IndexSource(bare, "find-links")
    return IndexSource(bare.rstrip("/"), "simple")


def routing_for(
    workspace: Workspace | None, pip_config: PipConfig
) -> tuple[Routing, dict[str, Credentials]]:
    """The routing of a workspace under a pip configuration, and credentials met on the way."""
    creds: dict[str, Credentials] = {}
    defaults: list[IndexSource] = []
    if not pip_config.no_index:
        defaults.append(_source(pip_config.index_url or default_index_url(), "simple", creds))
        defaults += [_source(u, "simple", creds) for u in pip_config.extra_index_urls]
    defaults += [_source(u, "find-links", creds) for u in pip_config.find_links]
    routes: list[tuple[Variant | None, NormalizedName, IndexSource]] = []
    extra: list[tuple[Variant | None, IndexSource]] = []
    for index in workspace.indexes if workspace else ():
        source = _source(index.url, "simple", creds)
        if index.packages:
            routes += [(index.variant, name, source) for name in index.packages]
        else:
            extra.append((index.variant, source))
    # A variant-specific route beats an all-variant one for the same name: list them first.
    routes.sort(key=lambda route: route[0] is None)
    routing = Routing(
        default=tuple(dict.fromkeys(defaults)),
        routes=tuple(routes),
        extra=tuple(extra),
    )
    return routing, creds


def build_index_client(
    workspace: Workspace | None,
    *,
    offline: bool = False,
    cache_dir: Path | None = None,
    reporter: IndexReporter | None = None,
    mirrors: Mapping[str, str] | None = None,
    pip_config: PipConfig | None = None,
    refresh: bool = False,
    retry: RetryPolicy | None = None,
) -> IndexClient:
    config = pip_config if pip_config is not None else read_pip_config()
    routing, creds = routing_for(workspace, config)
    options = ClientOptions(
        cache_dir=cache_dir if cache_dir is not None else default_cache_dir(),
        offline=offline,
        refresh=refresh,
        page_ttl=page_ttl_from_env(),
        retry=retry or _retry_policy(config),
        mirrors=_mirrors(workspace, config, mirrors),
        reviewed=_reviewed(workspace),
        limits=limits_from(dict(workspace.limits) if workspace is not None else None),
        link_hosts=link_hosts(workspace, config),
    )
    fetcher = Fetcher(
        retry=options.retry,
        cafile=ca_bundle(config),  # the context is built on the first https request, if any
        client_cert=config.client_cert,
        trusted_hosts=config.trusted_hosts,
        credentials=creds,
        reporter=reporter,
        offline=offline,
        limits=options.limits,
    )
    return IndexClient(routing, options, fetcher=fetcher, reporter=reporter)


def link_hosts(workspace: Workspace | None, config: PipConfig) -> dict[str, frozenset[str]]:
    """Per index URL (bare, as routing keys it), the other hosts its pages may link files on:
    each workspace index's ``link-hosts``, and for pip's own default index the file host the
    installed pip names (its pages and its files live on two hosts)."""
    allowed: dict[str, set[str]] = {}
    named = () if config.no_index else (config.index_url, *config.extra_index_urls)
    file_host = default_file_host() if named else None
    if file_host:
        default = _bare_index(default_index_url())
        if any(url is None or _bare_index(url) == default for url in named):
            allowed[default] = {file_host}
    for index in workspace.indexes if workspace else ():
        allowed.setdefault(_bare_index(index.url), set()).update(index.link_hosts)
    return {url: frozenset(hosts) for url, hosts in allowed.items() if hosts}


def _bare_index(url: str) -> str:
    return split_credentials(url)[0].rstrip("/")


def ca_bundle(config: PipConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle pip would verify against (None: the system store)."""
    env = os.environ if environ is None else environ
    for value in (
        config.cert,
        env.get("REQUESTS_CA_BUNDLE"),
        env.get("CURL_CA_BUNDLE"),
        env.get("SSL_CERT_FILE"),
    ):
        if value:
            return value
    return None


def _retry_policy(config: PipConfig) -> RetryPolicy:
    policy = RetryPolicy()
    if config.timeout is not None and config.timeout > 0:
        policy = replace(policy, connect_timeout=config.timeout, read_timeout=config.timeout)
    if config.retries is not None:
        policy = replace(policy, attempts=config.retries + 1)
    return policy


def _reviewed(
    workspace: Workspace | None,
) -> dict[tuple[NormalizedName, Version], tuple[Requirement, ...]]:
    """The workspace's hand-declared dependencies of sdists that would need a build."""
    if workspace is None:
        return {}
    return {
        (r.name, Version(r.version)): tuple(Requirement(t) for t in r.requires_dist)
        for r in workspace.reviewed_sdists
    }


def _mirrors(
    workspace: Workspace | None, config: PipConfig, explicit: Mapping[str, str] | None
) -> Mirrors:
    """Workspace mirrors, then ``LOCKAUDIT_INDEX_MIRRORS`` (this machine), then the caller's.

    A mirror written as ``default`` is the user's default index, so a workspace can say "take
    the PyTorch index from wherever pip installs from here" without naming a registry.
    """
    merged = dict(workspace.mirrors if workspace is not None else ())
    merged.update(Mirrors.from_env().prefixes)
    merged.update(explicit or {})
    default = config.index_url or default_index_url()
    resolved = {src: default if dest == "default" else dest for src, dest in merged.items()}
    return Mirrors.from_mapping(resolved)
