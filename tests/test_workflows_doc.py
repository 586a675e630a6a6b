"""docs/WORKFLOWS.md runs as written: every ``bash`` block, in order, in a copy of
``examples/unlocked``, against the loopback index (so the page cannot rot)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.indexserver import IndexServer
from tests.migrate_repo import EXAMPLE, scenario

DOC = Path(__file__).resolve().parents[1] / "docs" / "WORKFLOWS.md"


def _blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_page_has_its_three_workflows() -> None:
    text = DOC.read_text(encoding="utf-8")
    for title in ("## Migrate a repository", "## Add a stage", "## Bump a pin"):
        assert title in text
    commands = "\n".join(_blocks())
    for command in ("lockaudit migrate --write", "lockaudit add-stage", "lockaudit compile --all"):
        assert command in commands


def test_every_block_runs_as_written(tmp_path: Path, hermetic_pip: None) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(EXAMPLE, clone / "examples" / "unlocked")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    blocks = _blocks()
    assert blocks[0].startswith("cp -r examples/unlocked ../unlocked && cd ../unlocked")
    with IndexServer(scenario()) as server:
        env["PIP_INDEX_URL"] = server.index_url("default")
        cwd = clone
        for number, block in enumerate(blocks, start=1):
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block],
                cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300,
            )
            assert done.returncode == 0, f"block {number}:\n{block}\n{done.stdout}{done.stderr}"
            cwd = tmp_path / "unlocked"  # the first block moved there
            if "lockaudit check" in block:
                assert re.search(r"(?m)^0 errors", done.stdout), f"block {number}: {done.stdout}"
    repo = tmp_path / "unlocked"
    assert "rich==14.2.0" in (repo / "locks/base-cpu.layer.txt").read_text()
    assert "filelock==3.13.1" in (repo / "locks/worker-cpu.layer.txt").read_text()
    assert (repo / "docker/worker/Dockerfile").is_file()

