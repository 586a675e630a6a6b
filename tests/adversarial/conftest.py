"""Shared by the hostile-index and fault tests: one loopback index and one compiled workspace
per test module, copied for each test, so a test's faults and writes never reach the next."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.harness import Cli, cli_env, make_workspace, reliability_scenario
from tests.indexserver import IndexServer


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(reliability_scenario()) as running:
        yield running


@pytest.fixture(scope="module")
def compiled(
    tmp_path_factory: pytest.TempPathFactory, server: IndexServer, request: pytest.FixtureRequest
) -> Path:
    """The workspace compiled once for the module; its cache lies beside it (``../cache``)."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    root = make_workspace(tmp_path_factory.mktemp(name) / "ws", server)
    ran = Cli(root, cli_env(server, root.parent / "cache")).run("compile", "--all")
    assert ran.returncode == 0, ran.stderr
    return root


@pytest.fixture
def root(compiled: Path, tmp_path: Path, server: IndexServer) -> Iterator[Path]:
    copy = tmp_path / "ws"
    shutil.copytree(compiled, copy)
    yield copy
    server.clear_faults()
