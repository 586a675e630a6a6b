"""Inline ignores: ``# lockaudit: ignore[CODE] reason`` above a Dockerfile instruction or at the
end of a requirements line; unused ones are reported (LA902); the summary counts per code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.errors import Location
from lockaudit.rules.findings import Finding
from lockaudit.rules.runner import CheckResult, check_workspace
from lockaudit.workspace.config import load_workspace

DATA = Path(__file__).parent / "data" / "rules"
REDIRECT = (
    "ARG REGISTRY=reg\nFROM ${REGISTRY}/app-ml:cpu\nWORKDIR /app\nCOPY app/requirements.txt .\n"
    "RUN pip install --no-cache-dir -r requirements.txt\n"
)
UNQUOTED = "RUN pip install --no-cache-dir rich>=13.0 \\\n    click<9\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(DATA / "_base", target)
    return target


def _dockerfile(root: Path, *lines: str) -> None:
    (root / "app" / "Dockerfile").write_text(REDIRECT + "".join(lines))


def _check(root: Path, *select: str) -> CheckResult:
    return check_workspace(load_workspace(root), select=list(select) or None)


def _where(findings: Sequence[Finding]) -> list[str]:
    return [f"{f.code} {f.location}" for f in findings]


def test_a_comment_above_an_instruction_silences_its_lines(root: Path) -> None:
    _dockerfile(root, UNQUOTED)
    before = _check(root, "LA302")
    assert _where(before.findings) == ["LA302 app/Dockerfile:6", "LA302 app/Dockerfile:7"]
    _dockerfile(root, "# lockaudit: ignore[LA302] the shell quoting is fixed upstream\n", UNQUOTED)
    after = _check(root, "LA302", "LA902")
    assert after.findings == ()
    assert _where(after.ignored) == ["LA302 app/Dockerfile:7", "LA302 app/Dockerfile:8"]


def test_names_and_several_selectors_work_and_a_comment_block_counts(root: Path) -> None:
    _dockerfile(
        root,
        "# lockaudit: ignore[code-before-deps, shell-redirect] reviewed\n",
        "# (reviewed by the platform team)\n",
        UNQUOTED,
    )
    result = _check(root, "LA302", "LA902")
    assert result.findings == () and len(result.ignored) == 2


def test_the_end_of_a_requirements_line_silences_that_line(root: Path) -> None:
    requirements = root / "app" / "requirements.txt"
    requirements.write_text("httpx\ntqdm==4.66.0\n")
    assert _where(_check(root, "LA210").findings) == ["LA210 app/requirements.txt:1"]
    requirements.write_text("httpx  # lockaudit: ignore[LA210] the lock pins it\ntqdm==4.66.0\n")
    result = _check(root, "LA210", "LA902")
    assert result.findings == ()
    assert _where(result.ignored) == ["LA210 app/requirements.txt:1"]


def test_unused_ignores_are_reported_as_infos(root: Path) -> None:
    _dockerfile(
        root,
        "# lockaudit: ignore[LA302] nothing to silence any more\n",
        "RUN pip install --no-cache-dir 'rich>=13.0'\n",
        "# lockaudit: ignore[LA999] a typo\n",
        "RUN pip install --no-cache-dir 'click<9'\n",
        "# lockaudit: ignore[LA304] floating\n",
        "\n",
        "COPY app/ /app/\n",
        "# lockaudit: ignore[LA110] an audit rule: check does not judge it\n",
        "COPY app/ /app2/\n",
    )
    misplaced = "# lockaudit: ignore[LA210] wrong place\nhttpx\n"
    (root / "app" / "requirements.txt").write_text(misplaced)
    result = _check(root)
    unused = {f.location: f for f in result.findings if f.code == "LA902"}
    assert set(unused) == {
        Location("app/Dockerfile", 6),
        Location("app/Dockerfile", 8),
        Location("app/Dockerfile", 10),
        Location("app/requirements.txt", 1),
    }
    assert all(f.severity.value == "info" and f.rule == "unused-ignore" for f in unused.values())
    assert unused[Location("app/Dockerfile", 6)].message == (
        "lockaudit: ignore[LA302] silences nothing: nothing it names is reported here"
    )
    assert "LA999 names no rule" in unused[Location("app/Dockerfile", 8)].message
    assert "not directly above an instruction" in unused[Location("app/Dockerfile", 10)].message
    assert "end of the line" in unused[Location("app/requirements.txt", 1)].message
    # --ignore LA902 drops them like any rule
    quiet = check_workspace(load_workspace(root), ignore=["LA902"])
    assert not any(f.code == "LA902" for f in quiet.findings)


def test_cli_summary_counts_what_was_ignored_per_code(root: Path) -> None:
    _dockerfile(root, "# lockaudit: ignore[LA302] reviewed\n", UNQUOTED)
    args = ["check", "--workspace", str(root), "--select", "LA302"]
    for _ in range(2):  # the second run answers from the check cache: same counts
        text = CliRunner().invoke(app, args)
        assert "(2 ignored inline: LA302 2)" in text.stdout
    data = json.loads(CliRunner().invoke(app, [*args, "-f", "json"]).stdout)
    assert data["findings"] == []
    assert [f["code"] for f in data["ignored_inline"]] == ["LA302", "LA302"]
