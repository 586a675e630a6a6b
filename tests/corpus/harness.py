"""What the reliability suite shares: the base workspace, the CLI as a subprocess, byte snapshots.

The base workspace (``tests/corpus/workspace``) is the speech pipeline in small, the same shape
as ``tests/test_compile``'s: ``base:cuda``/``base:cpu`` → ``base-ml:cuda`` (torch routed to a
PyTorch-style index) → ``asr:cuda`` and its CPU fallback ``asr:cpu``. Its ``pyproject.toml``
names the routed indexes ``@CU121@`` and ``@CPU@``; :func:`make_workspace` fills them in with
the loopback index's URLs. The index (:func:`reliability_scenario`) is
``tests.test_compile``'s plus three projects: ``colorama`` with an advertised PEP 658 file
(metadata hash faults), ``soundfile`` with two releases (an index that changes between two
requests) and ``pesq``, an sdist only, whose ``setup.py`` writes a marker file if anything runs
it. Its default index also serves ``torch 9.9.9`` (the dependency-confusion trap).

Decisions:
- The CLI runs as ``python -m lockaudit`` in a child process with a hermetic environment: no
  ``PIP_*``/``LOCKAUDIT_*`` variable of the machine leaks in, ``PIP_CONFIG_FILE`` is the null
  device, ``PIP_INDEX_URL`` is the loopback index and the cache is a directory of the test.
- "Nothing lost" is always a byte comparison: :func:`snapshot` maps every file of a workspace
  (except the cache) to its bytes, so a temporary file left behind is caught as well as a
  changed lock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockaudit.compile import CompileOptions, CompileResult, compile_workspace
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.index.transport import RetryPolicy
from lockaudit.workspace.config import load_workspace
from tests.indexserver import IndexServer, Scenario, scenario_from_dict
from tests.test_compile import MANYLINUX, _releases, _torch, _torchaudio

__all__ = [
    "BASE",
    "CORPUS",
    "FAST_RETRY",
    "Cli",
    "cli_env",
    "compile_in_process",
    "lock_bytes",
    "make_workspace",
    "reliability_scenario",
    "snapshot",
]

CORPUS = Path(__file__).parent
BASE = CORPUS / "workspace"
CACHE = ".cache"  # inside the workspace, skipped by snapshots
FAST_RETRY = RetryPolicy(
    attempts=3, backoff=0.01, max_backoff=0.05, connect_timeout=2, read_timeout=2
)


def reliability_scenario() -> Scenario:
    advertised = {"tags": "py3-none-any", "metadata": "advertised"}
    default = {
        "torch": _releases("9.9.9"),
        "numpy": _releases("1.24.3", "1.26.4", tags=MANYLINUX),
        "rich": _releases("14.1.0", "14.2.0"),
        "tqdm": {"releases": [{"version": "4.66.0"}, {"version": "4.67.0"}]},
        "colorama": {"releases": [{"version": "0.4.6", "files": [advertised]}]},
        "soundfile": _releases("0.12.0", "0.12.1"),
        "pesq": {"releases": [{"version": "0.0.4", "files": [{"kind": "sdist"}]}]},
        "filelock": _releases("3.12.0"),
        "whisperx": _releases("3.1.1", requires=("torch>=2.0", "numpy")),
    }
    return scenario_from_dict(
        {
            "indexes": {
                "default": {"projects": default},
                "pytorch-cu121": {
                    "projects": {"torch": _torch("cu121", 1000), "torchaudio": _torchaudio("cu121")}
                },
                "pytorch-cpu": {
                    "projects": {"torch": _torch("cpu", 1000), "torchaudio": _torchaudio("cpu")}
                },
            }
        }
    )


def make_workspace(root: Path, server: IndexServer) -> Path:
    """Copy the base workspace to ``root`` and point its routed indexes at ``server``."""
    shutil.copytree(BASE, root, dirs_exist_ok=True)
    config = root / "pyproject.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("@CU121@", server.index_url("pytorch-cu121"))
    config.write_text(text.replace("@CPU@", server.index_url("pytorch-cpu")), encoding="utf-8")
    return root


def compile_in_process(
    root: Path,
    server: IndexServer,
    *,
    retry: RetryPolicy = FAST_RETRY,
    cache: Path | None = None,
    **options: object,
) -> CompileResult:
    """``lockaudit compile`` as a library call, with a fast retry policy for fault tests."""
    workspace = load_workspace(root)
    client = build_index_client(
        workspace,
        cache_dir=cache or root / CACHE,
        pip_config=PipConfig(index_url=server.index_url("default")),
        retry=retry,
    )
    try:
        return compile_workspace(workspace, client, CompileOptions(**options))  # type: ignore[arg-type]
    finally:
        client.close()


def cli_env(server: IndexServer | None, cache: Path) -> dict[str, str]:
    """The environment of a CLI child: hermetic pip configuration, loopback index, own cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "LOCKAUDIT_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["LOCKAUDIT_CACHE_DIR"] = str(cache)
    env["COLUMNS"] = "400"  # long `path:line: message` lines stay on one line
    if server is not None:
        env["PIP_INDEX_URL"] = server.index_url("default")
    return env


@dataclass(frozen=True)
class Cli:
    """Runs ``python -m lockaudit`` against one workspace."""

    root: Path
    env: Mapping[str, str]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "lockaudit", *args, "--workspace", str(self.root)]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=dict(self.env),
            cwd=self.root,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(self.env),
            cwd=self.root,
        )


def snapshot(root: Path, skip: Sequence[str] = (CACHE,)) -> dict[str, bytes]:
    """Every file under ``root`` (relative path → bytes), except the ``skip`` directories."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in skip or not path.is_file():
            continue
        files[relative.as_posix()] = path.read_bytes()
    return files


def lock_bytes(root: Path) -> dict[str, bytes]:
    """The lock directory's files (names → bytes); empty when there is none."""
    locks = root / "locks"
    if not locks.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(locks.iterdir())}


def check_json(root: Path, *, no_cache: bool = False) -> tuple[int, list[dict[str, Any]]]:
    """``lockaudit check --format json`` in process: the exit code and the findings."""
    from typer.testing import CliRunner

    from lockaudit.cli import app

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PIP_")}
    args = ["check", "--format", "json", *(["--no-cache"] if no_cache else []), "--workspace"]
    result = CliRunner().invoke(app, [*args, str(root)], env=env)
    assert isinstance(result.exception, SystemExit | None), result.exception
    return result.exit_code, json.loads(result.stdout)["findings"]
