"""The workspace every report test runs on, compiled for real against the loopback index.

The pipeline in small, with one of each thing the monthly report must show:

- ``numpy 1.24.3`` (common): 2.0.0 exists, held on CUDA images by ``numpy<2`` at
  ``constraints/cuda121.txt:2``; on ``base:cpu`` nothing holds it (a plain major);
- ``requests 2.30.0``: a known vulnerability, fixed in 2.31.0;
- ``tqdm 4.66.0``: yanked;
- ``torch 2.1.0+cu121`` (``base-ml:cuda``): 2.2.0 held by ``torch<2.2`` (line 3);
- ``transformers 4.35.0`` (``asr:cuda``): 4.40.0 needs ``torch>=2.2``: the parent's pin;
- ``tokenizers 0.14.1``: held by ``transformers`` requiring ``tokenizers<0.15,>=0.14``.

``asr:cuda`` copies a small application whose imports feed the unused-dependency review.
Helpers live here (and are imported by the other ``test_report_*`` modules); the tests here
check the fixture itself compiles as intended.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lockaudit.compile import CompileOptions, compile_workspace
from lockaudit.index.client import IndexClient
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.index.vulns import JsonApiVulnerabilityService
from lockaudit.locks import read_lock
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace
from tests.indexserver import IndexServer, Scenario, scenario_from_dict
from tests.workspace_builder import constraint, ml_chain
from tests.workspace_builder import write_workspace as build_workspace

MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
LINUX = "cp311-cp311-linux_x86_64"


def _project(*versions: str, tags: str = "py3-none-any", padding: int = 0) -> dict[str, Any]:
    files = [{"tags": tags, "padding": padding}]
    return {"releases": [{"version": v, "files": files} for v in versions]}


def report_scenario() -> Scenario:
    default: dict[str, Any] = {
        "numpy": _project("1.24.3", "1.26.4", "2.0.0", tags=MANYLINUX, padding=40_000),
        "requests": {
            **_project("2.30.0", "2.31.0"),
            "vulnerabilities": {
                "2.30.0": [
                    {
                        "id": "PYSEC-2023-74",
                        "summary": "Proxy-Authorization header leaked on redirect",
                        "aliases": ["CVE-2023-32681"],
                        "fixed_in": ["2.31.0"],
                    }
                ]
            },
        },
        "tqdm": {
            "releases": [
                {"version": "4.66.0", "files": [{"yanked": "broken progress bars"}]},
                {"version": "4.66.1"},
            ]
        },
        "soundfile": _project("0.12.1"),
        "python-dotenv": {
            "releases": [{"version": v, "top_level": ["dotenv"]} for v in ("1.0.0", "1.0.1")]
        },
        "filelock": _project("3.12.0"),
        "transformers": {
            "releases": [
                {
                    "version": "4.35.0",
                    "requires_dist": ["torch>=1.13", "tokenizers<0.15,>=0.14", "numpy>=1.17"],
                },
                {
                    "version": "4.40.0",
                    "requires_dist": ["torch>=2.2", "tokenizers<0.20,>=0.19", "numpy>=1.17"],
                },
            ]
        },
        "tokenizers": _project("0.14.1", "0.15.0", "0.19.1", tags=MANYLINUX),
    }
    torch = {
        "releases": [
            {
                "version": f"{v}+cu121",
                "requires_dist": ["filelock"],
                "files": [{"tags": LINUX, "padding": 300_000}],
            }
            for v in ("2.1.0", "2.2.0")
        ]
    }
    return scenario_from_dict(
        {
            "indexes": {
                "default": {"projects": default},
                "pytorch-cu121": {"projects": {"torch": torch}},
            }
        }
    )


FILES = {
    "versions.txt": "CUDA_VERSION=12.1\ntorch==2.1.0\ntransformers==4.35.0\n",
    "requirements-common.txt": (
        "numpy==1.24.3\nrequests==2.30.0\ntqdm==4.66.0\nsoundfile==0.12.1\npython-dotenv==1.0.0\n"
    ),
    "constraints/cuda121.txt": (
        "# CUDA 12.1 wheels are built against numpy 1.x\nnumpy<2\ntorch<2.2\n"
    ),
    "docker/base-ml/requirements.txt": "torch==2.1.0\n",
    "docker/asr/requirements.txt": "transformers==4.35.0\n",
    "docker/base/Dockerfile": "FROM python:3.11-slim\nRUN pip install -r requirements-common.txt\n",
    "docker/base-ml/Dockerfile": "FROM base:cuda\nRUN pip install torch==2.1.0\n",
    "docker/asr/Dockerfile": (
        "FROM base-ml:cuda\n"
        "COPY docker/asr/requirements.txt /tmp/\n"
        "RUN pip install -r /tmp/requirements.txt\n"
        "COPY docker/asr/app/ /app/\n"
    ),
    "docker/asr/app/main.py": (
        "import os\n"
        "import numpy as np\n"
        "from transformers import pipeline\n"
        "import yaml\n"
        "from . import helpers\n"
        "import helpers\n"
    ),
    "docker/asr/app/helpers.py": "from dotenv import load_dotenv\n",
}


@dataclass(frozen=True)
class ReportWorkspace:
    workspace: Workspace
    client: IndexClient
    server: IndexServer

    def vulns(self) -> JsonApiVulnerabilityService:
        return JsonApiVulnerabilityService(self.client, self.server.index_url("default"))


def write_workspace(root: Path, server: IndexServer) -> Workspace:
    tool = ml_chain(
        cu121=server.index_url("pytorch-cu121"),
        versions="versions.txt",
        constraints=[constraint("constraints/cuda121.txt", "cuda")],
    )
    return load_workspace(build_workspace(root, tool, FILES))


@dataclass(frozen=True)
class _Compiled:
    server: IndexServer
    root: Path
    cache: Path


def _hermetic(patch: pytest.MonkeyPatch, home: Path) -> None:
    """What the ``hermetic_pip`` fixture does, for a module-scoped fixture."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "LOCKAUDIT_")):
            patch.delenv(key)
    patch.setenv("PIP_CONFIG_FILE", os.devnull)
    patch.setenv("NO_PROXY", "127.0.0.1,localhost")
    patch.setenv("no_proxy", "127.0.0.1,localhost")
    patch.setenv("NETRC", str(home / "no-netrc"))


@pytest.fixture(scope="module")
def _compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Compiled]:
    """Serve the scenario and compile the workspace once per module (compiling is the slow
    part); each test gets its own copy of the files."""
    base = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch, IndexServer(report_scenario()) as server:
        _hermetic(patch, base)
        workspace = write_workspace(base / "ws", server)
        client = _client(workspace, server, base / "cache")
        try:
            result = compile_workspace(workspace, client, CompileOptions())
        finally:
            client.close()
        assert result.ok, [r.reason for r in result.results]
        yield _Compiled(server, base / "ws", base / "cache")


def _client(workspace: Workspace, server: IndexServer, cache: Path) -> IndexClient:
    return build_index_client(
        workspace, pip_config=PipConfig(index_url=server.index_url("default")), cache_dir=cache
    )


@pytest.fixture
def report_ws(
    hermetic_pip: None, _compiled: _Compiled, tmp_path: Path
) -> Iterator[ReportWorkspace]:
    """The workspace above with every lock compiled (nothing mocked), in a fresh directory."""
    root = tmp_path / "ws"
    shutil.copytree(_compiled.root, root)
    workspace = load_workspace(root)
    client = _client(workspace, _compiled.server, _compiled.cache)
    try:
        yield ReportWorkspace(workspace, client, _compiled.server)
    finally:
        client.close()


def test_fixture_locks_the_pins_the_report_tests_rely_on(report_ws: ReportWorkspace) -> None:
    ws = report_ws.workspace
    base = read_lock(ws.path("locks/base-cuda.txt"))
    asr = read_lock(ws.path("locks/asr-cuda.txt"))
    versions: dict[str, str] = {p.name: str(p.version) for p in asr.packages}
    assert versions["numpy"] == "1.24.3"
    assert versions["tqdm"] == "4.66.0"
    assert versions["torch"] == "2.1.0+cu121"
    assert versions["tokenizers"] == "0.14.1"
    assert {p.name for p in base.layer_packages} >= {"numpy", "requests", "tqdm"}
