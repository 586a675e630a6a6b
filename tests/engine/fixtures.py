"""The ``docker_engine`` fixture: a running Docker engine, or a skip saying why there is none.

Engine tests are opt-in: the suite never installs packages or starts a daemon on its own. A
user who wants them starts an engine on purpose (``bash scripts/engine.sh start`` installs and
starts one, about two minutes the first time) and sets ``LOCKAUDIT_ENGINE_TESTS=1``; without
both, every engine test skips with a reason that says so. Tests import the fixture from here
(pytest finds it by name).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_BASE = "local/python-base:3.11"
BUSYBOX_BASE = "local/busybox-base:1"


def _docker(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return _docker("version", "--format", "{{.Server.Version}}", timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def buildx_available() -> bool:
    return shutil.which("docker") is not None and _docker("buildx", "version").returncode == 0


OPT_IN = "LOCKAUDIT_ENGINE_TESTS"
HOW = f"start one with `bash scripts/engine.sh start` and set {OPT_IN}=1"


def why_not_engine() -> str | None:
    """Why the engine tests cannot run here, or None when they may."""
    if os.environ.get(OPT_IN) != "1":
        return f"engine tests are opt-in: {HOW}"
    if not engine_answers():
        return f"{OPT_IN}=1 but no Docker engine answers: {HOW}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A running engine with the local base images; skips with the reason when there is none."""
    why = why_not_engine()
    if why is not None:
        pytest.skip(why)
    for image in (PYTHON_BASE, BUSYBOX_BASE):
        if _docker("image", "inspect", image).returncode != 0:
            pytest.skip(f"the local base image {image} is missing: `bash scripts/engine.sh images`")


def remove_images(prefix: str) -> None:
    """Remove every local image whose repository starts with ``prefix`` (test clean-up)."""
    listed = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    refs = [ref for ref in listed.stdout.split() if ref.startswith(prefix)]
    if refs:
        _docker("image", "rm", "--force", *refs, timeout=120)


def images_with_prefix(prefix: str) -> list[str]:
    listed = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    return sorted(ref for ref in listed.stdout.split() if ref.startswith(prefix))
