"""Where the report commands get their facts: the index client and the vulnerability service.

Kept out of the CLI so each command body stays a few lines. The vulnerability data is asked of
the project JSON API next to the *default* index (the user's pip ``index-url``, else pip's own
default): extra indexes such as a PyTorch wheel index have no such API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lockaudit.index.client import IndexClient
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import default_index_url, read_pip_config
from lockaudit.index.reporter import IndexReporter
from lockaudit.index.vulns import JsonApiVulnerabilityService
from lockaudit.workspace.model import Workspace

__all__ = ["open_sources"]


@contextmanager
def open_sources(
    workspace: Workspace,
    *,
    offline: bool = False,
    cache_dir: Path | None = None,
    reporter: IndexReporter | None = None,
) -> Iterator[tuple[IndexClient, JsonApiVulnerabilityService]]:
    """An index client for ``workspace`` and the vulnerability service beside it; closed after."""
    config = read_pip_config()
    client = build_index_client(
        workspace, offline=offline, cache_dir=cache_dir, reporter=reporter, pip_config=config
    )
    try:
        index = config.index_url or default_index_url()
        yield client, JsonApiVulnerabilityService(client, index)
    finally:
        client.close()
