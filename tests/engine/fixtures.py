"""The ``docker_engine`` fixture: a running Docker engine, or a skip saying why there is none.

An engine that already answers is used as it is. Otherwise, as root and unless
``LOCKAUDIT_NO_ENGINE_START`` is set, ``scripts/engine.sh start`` installs and starts one
(about two minutes the first time on a fresh machine, seconds afterwards) and the fixture stops
it at the end of the session. Tests import the fixture from here (pytest finds it by name).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_SCRIPT = REPO / "scripts" / "engine.sh"
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


def _start() -> str | None:
    """Start an engine with the repo's script; returns why it could not, or None."""
    if os.environ.get("LOCKAUDIT_NO_ENGINE_START"):
        return "no Docker engine answers and LOCKAUDIT_NO_ENGINE_START is set"
    if os.geteuid() != 0:
        return "no Docker engine answers, and starting one needs root"
    result = subprocess.run(
        ["bash", str(ENGINE_SCRIPT), "start"], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        return "scripts/engine.sh start failed: " + result.stderr.strip()[-500:]
    return None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """A running engine with the local base images; skips with the reason when impossible."""
    started = False
    if not engine_answers():
        why = _start()
        if why is not None:
            pytest.skip(why)
        started = True
    for image in (PYTHON_BASE, BUSYBOX_BASE):
        if _docker("image", "inspect", image).returncode != 0:
            made = subprocess.run(
                ["bash", str(ENGINE_SCRIPT), "images"],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if made.returncode != 0:
                pytest.skip(f"cannot make the local base image {image}: {made.stderr[-500:]}")
    yield
    if started:
        subprocess.run(["bash", str(ENGINE_SCRIPT), "stop"], capture_output=True, check=False)


def remove_images(prefix: str) -> None:
    """Remove every local image whose repository starts with ``prefix`` (test clean-up)."""
    listed = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    refs = [ref for ref in listed.stdout.split() if ref.startswith(prefix)]
    if refs:
        _docker("image", "rm", "--force", *refs, timeout=120)


def images_with_prefix(prefix: str) -> list[str]:
    listed = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    return sorted(ref for ref in listed.stdout.split() if ref.startswith(prefix))
