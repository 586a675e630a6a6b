"""The static check rules, one scenario directory per case (``tests/data/rules/<case>/``).

Each scenario is the small three-image workspace of ``_base/`` with the scenario's files laid
over it, and an ``expected.toml``: the rules to run (``select``), the exact findings they must
give (``severity path:line rule package``) and fragments their messages or hints must hold.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from lockaudit.rules import run_checks
from lockaudit.rules.findings import Finding
from lockaudit.workspace.config import load_workspace

DATA = Path(__file__).parent / "data" / "rules"
SCENARIOS = sorted(p.name for p in DATA.iterdir() if (p / "expected.toml").is_file())


def build(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(DATA / "_base", root)
    for source in (DATA / name).rglob("*"):
        if source.is_file() and source.name != "expected.toml":
            target = root / source.relative_to(DATA / name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return root


def summary(finding: Finding) -> str:
    return f"{finding.severity.value} {finding.location} {finding.rule} {finding.package or '-'}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(tmp_path: Path, name: str) -> None:
    expected = tomllib.loads((DATA / name / "expected.toml").read_text())
    workspace = load_workspace(build(tmp_path, name))
    found = run_checks(workspace, select=expected["select"])
    assert sorted(summary(f) for f in found) == sorted(expected["findings"])
    messages = " | ".join(f"{f.message} ({f.hint})" for f in found)
    for fragment in expected["messages"]:
        assert fragment in messages
    for finding in found:
        assert finding.hint, f"{finding.rule} gives no next step"
        assert not Path(finding.location.path).is_absolute()


def test_scenarios_cover_every_static_rule() -> None:
    covered = {
        rule
        for name in SCENARIOS
        for rule in tomllib.loads((DATA / name / "expected.toml").read_text())["select"]
        if tomllib.loads((DATA / name / "expected.toml").read_text())["findings"]
    }
    static = {
        "from-mismatch", "shell-redirect", "unpinned-install", "duplicate-heavy-install",
        "versions-mismatch", "pin-drift", "orphan-requirements",
        "dockerfile-requirements-mismatch", "common-repeated", "cache-mount-disabled",
        "code-before-deps", "fallback-missing-install",
    }
    assert static <= covered
