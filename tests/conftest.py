"""Shared fixtures. Keep each fixture documented; group them by subsystem.

Index fixtures (see ``tests/indexserver``):

- ``hermetic_pip``: no pip configuration or ``PIP_*``/``LOCKAUDIT_*`` variables leak in from
  the machine; loopback bypasses proxies; ``NETRC`` points nowhere.
- ``index_server``: a factory ``index_server(scenario) -> IndexServer``, started now and
  stopped after the test.
- ``test_index``: an :class:`IndexServer` serving :func:`pytorch_scenario`, fresh per test.
- ``fast_retry``: a :class:`RetryPolicy` with millisecond backoff and short timeouts.
- ``make_client``: a factory of :class:`IndexClient` over index URLs, with a per-test cache
  directory (``cache_dir`` fixture) and ``fast_retry``; closed after the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lockaudit.index.client import ClientOptions, IndexClient, Routing
from lockaudit.index.transport import RetryPolicy
from tests.indexserver import IndexServer, Scenario, pytorch_scenario


@pytest.fixture
def hermetic_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("PIP_", "LOCKAUDIT_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.fixture
def index_server() -> Iterator[Callable[[Scenario], IndexServer]]:
    servers: list[IndexServer] = []

    def start(scenario: Scenario) -> IndexServer:
        server = IndexServer(scenario).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def test_index(index_server: Callable[[Scenario], IndexServer]) -> IndexServer:
    return index_server(pytorch_scenario())


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(
        attempts=3, backoff=0.01, max_backoff=0.05, connect_timeout=2, read_timeout=2
    )


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def make_client(
    hermetic_pip: None, cache_dir: Path, fast_retry: RetryPolicy
) -> Iterator[Callable[..., IndexClient]]:
    """``make_client(*urls_or_routing, **ClientOptions fields)``."""
    clients: list[IndexClient] = []

    def make(*sources: str | Routing, **options: Any) -> IndexClient:
        routing = (
            sources[0]
            if len(sources) == 1 and isinstance(sources[0], Routing)
            else Routing.simple(*(str(s) for s in sources))
        )
        options.setdefault("cache_dir", cache_dir)
        options.setdefault("retry", fast_retry)
        client = IndexClient(routing, ClientOptions(**options))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
