"""``lockaudit report`` on the embedded workspace against the public index (opt-in: -m network).

The workspace is copied to a temporary directory first, so a missing lock compiled here never
lands in the repository. The index URL comes from the user's pip configuration (or pip's
default), as for every command.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from lockaudit.compile import CompileOptions, compile_workspace
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import default_index_url, read_pip_config
from lockaudit.index.vulns import JsonApiVulnerabilityService
from lockaudit.locks import lock_paths
from lockaudit.report import outdated_report, write_reports
from lockaudit.report.writers.html import BAR_COLOUR
from lockaudit.workspace.config import load_workspace

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_PARTS = (
    "pyproject.toml",
    "versions.txt",
    "requirements-common.txt",
    "constraints",
    "docker",
    "locks",
)


def _copy_workspace(target: Path) -> Path:
    target.mkdir()
    for part in WORKSPACE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        elif source.is_file():
            shutil.copy2(source, target / part)
    return target


@pytest.mark.network
def test_report_on_the_embedded_workspace_writes_three_files(tmp_path: Path) -> None:
    workspace = load_workspace(_copy_workspace(tmp_path / "ws"))
    client = build_index_client(workspace, cache_dir=tmp_path / "cache")
    try:
        missing = [
            i
            for i in workspace.images
            if not workspace.path(lock_paths(workspace, i).full).is_file()
        ]
        if missing:
            result = compile_workspace(workspace, client, CompileOptions())
            assert result.ok, [r.reason for r in result.results if r.reason]
        index = read_pip_config().index_url or default_index_url()
        vulns = JsonApiVulnerabilityService(client, index)
        report = outdated_report(workspace, client, vulns, date.today())
    finally:
        client.close()
    month = f"{report.today:%Y-%m}"
    paths = write_reports(report, tmp_path / "reports", month)
    assert [p.suffix for p in paths] == [".md", ".json", ".html"]
    data = json.loads(paths[1].read_text(encoding="utf-8"))
    assert [i["image"] for i in data["images"]] == [i.key for i in workspace.images]
    assert sum(len(i["packages"]) for i in data["images"]) > 10
    assert "torch" in {p["name"] for i in data["images"] for p in i["packages"]}
    assert paths[2].read_text(encoding="utf-8").count(f'fill="{BAR_COLOUR}"') == len(
        workspace.images
    )
