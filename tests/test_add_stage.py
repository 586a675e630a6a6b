"""``lockaudit add-stage``: a scaffolded stage passes ``check`` right after, against the loopback
index; a refused request writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockaudit.errors import UsageError
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.migrate import apply_migration, plan_migration
from lockaudit.migrate.stage import StageRequest, add_stage_files, plan_stage
from lockaudit.rules import run_checks
from lockaudit.rules.findings import Severity
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Variant
from tests.indexserver import IndexServer
from tests.migrate_repo import make_repo, scenario


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(scenario()) as running:
        yield running


@pytest.fixture
def workspace(tmp_path: Path, server: IndexServer, hermetic_pip: None) -> Path:
    """The test repository, migrated: a locked workspace to add stages to."""
    root = make_repo(tmp_path / "repo")
    config = PipConfig(index_url=server.index_url("default"))
    result = apply_migration(
        plan_migration(root),
        lambda ws: build_index_client(ws, cache_dir=tmp_path / "cache", pip_config=config),
    )
    assert result.ok
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_new_stage_is_locked_and_passes_check(
    workspace: Path, server: IndexServer, tmp_path: Path
) -> None:
    config = PipConfig(index_url=server.index_url("default"))
    plan = plan_stage(
        load_workspace(workspace), StageRequest("worker", "base:cpu", packages=("idna==3.7",))
    )
    result = add_stage_files(
        plan, lambda ws: build_index_client(ws, cache_dir=tmp_path / "cache", pip_config=config)
    )
    assert result.ok
    ws = load_workspace(workspace)
    image = ws.image("worker:cpu")
    assert image.parent == "base:cpu" and image.requirements == ("docker/worker/requirements.in",)
    dockerfile = (workspace / "docker/worker/Dockerfile").read_text()
    assert "ARG PARENT_IMAGE=app-base:cpu\n" in dockerfile
    assert "FROM ${REGISTRY}/${PARENT_IMAGE}\n" in dockerfile
    layer = (workspace / "locks/worker-cpu.layer.txt").read_text()
    assert "idna==3.7" in layer and "rich==" not in layer
    errors = [f for f in run_checks(ws) if f.severity is Severity.ERROR]
    assert errors == []
    text = (workspace / "pyproject.toml").read_text()
    assert "# proposed by `lockaudit init`; review, then commit" in text  # comments survive
    assert tomllib.loads(text)["tool"]["lockaudit"]["images"][-1]["name"] == "worker"


def test_refused_requests_write_nothing(workspace: Path) -> None:
    ws = load_workspace(workspace)
    before = _snapshot(workspace)
    for request in (
        StageRequest("ml", "base:cpu"),  # exists
        StageRequest("Bad Name", "base:cpu"),
        StageRequest("gpu", "base:cpu", variant=Variant.CUDA),
    ):
        with pytest.raises(UsageError):
            plan_stage(ws, request)
    assert _snapshot(workspace) == before


def test_cli_add_stage_then_check(workspace: Path, server: IndexServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PIP_INDEX_URL": server.index_url("default"),
        "LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    }
    for args in (
        ("add-stage", "worker", "--parent", "base", "--package", "filelock"),
        ("check",),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "lockaudit", *args],
            capture_output=True, text=True, env=env, cwd=workspace, check=False, timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert "filelock==3.13.1" in (workspace / "locks/worker-cpu.layer.txt").read_text()
