"""The one registry of check and audit rules: codes, names as aliases, docs/rules.md in sync."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.errors import Location, LockauditError
from lockaudit.rules import find_rule, matches, registered_rules, rule_specs, run_checks
from lockaudit.rules.catalog import entries
from lockaudit.rules.docs import PAGE, render_rules_page
from lockaudit.rules.findings import SCHEMA_VERSION, Finding, Severity
from lockaudit.workspace.config import load_workspace

DATA = Path(__file__).parent / "data" / "rules"
ROOT = Path(__file__).resolve().parents[1]

# The published codes: a test fails when one changes, since users write them in configs.
CODES = {
    "LA101": "from-mismatch",
    "LA102": "duplicate-heavy-install",
    "LA103": "common-repeated",
    "LA104": "orphan-requirements",
    "LA105": "dockerfile-requirements-mismatch",
    "LA106": "fallback-missing-install",
    "LA107": "dockerfile-not-covered",
    "LA108": "exclude-stale",
    "LA109": "dockerfile-unreadable",
    "LA110": "reinstalls-parent-package",
    "LA111": "version-drift",
    "LA112": "hoist-candidate",
    "LA201": "lock-missing",
    "LA202": "lock-stale",
    "LA203": "lock-not-superset",
    "LA204": "lock-hash-missing",
    "LA205": "lock-provenance",
    "LA206": "lock-tampered",
    "LA207": "lock-inconsistent",
    "LA210": "unpinned-install",
    "LA211": "versions-mismatch",
    "LA212": "pin-drift",
    "LA213": "direct-reference",
    "LA220": "yanked-pin",
    "LA221": "vulnerable-pin",
    "LA301": "dockerfile-not-from-lock",
    "LA302": "shell-redirect",
    "LA303": "cache-mount-disabled",
    "LA304": "code-before-deps",
    "LA310": "needs-build",
    "LA311": "replay-skipped",
    "LA320": "install-failure-hidden",
    "LA321": "replaced-by-later-install",
    "LA322": "uninstalls-parent-package",
    "LA323": "conda-and-pip",
    "LA324": "apt-python-package",
    "LA401": "install-conflict",
    "LA402": "broken-environment",
    "LA403": "matrix-conflict",
    "LA501": "cuda-in-cpu-image",
    "LA502": "cuda-mismatch",
    "LA503": "torch-family-mismatch",
    "LA901": "index-unreachable",
    "LA902": "unused-ignore",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(DATA / "_base", target)
    return target


def test_published_codes_name_the_same_rules() -> None:
    for code, name in CODES.items():
        spec = find_rule(code)
        assert spec is not None and (spec.code, spec.id) == (code, name)
        assert find_rule(name) is spec


def test_codes_are_unique_well_formed_and_every_catalogued_rule_exists() -> None:
    specs = rule_specs()
    coded = [s.code for s in specs if s.code]
    assert len(coded) == len(set(coded))
    assert all(re.fullmatch(r"LA[1-9]\d\d", code) for code in coded)
    registered = {s.id for s in specs}
    assert {doc.name for doc in entries()} <= registered


def test_every_catalogued_rule_has_a_bad_and_a_good_example() -> None:
    for doc in entries():
        assert doc.why and doc.bad.strip() and doc.good.strip(), doc.code
        assert doc.bad != doc.good, doc.code


def test_check_and_audit_share_the_registry() -> None:
    commands = {s.command for s in rule_specs()}
    assert commands >= {"check", "audit"}
    assert {r.id for r in registered_rules("audit")} >= {"install-conflict", "matrix-conflict"}
    assert "install-conflict" not in {r.id for r in registered_rules()}


def test_docs_rules_md_is_generated_from_the_registry() -> None:
    assert PAGE == ROOT / "docs" / "rules.md"
    assert PAGE.read_text(encoding="utf-8") == render_rules_page(rule_specs()), (
        "docs/rules.md is out of date: run `python -m lockaudit.rules.docs`"
    )
    done = subprocess.run(
        [sys.executable, "-m", "lockaudit.rules.docs", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def test_the_page_documents_each_rule_with_examples() -> None:
    page = render_rules_page(rule_specs())
    section = page.split("### LA302 shell-redirect", 1)[1].split("\n### ", 1)[0]
    assert "Bad:" in section and "Good:" in section
    assert "RUN pip install fastapi>=0.100" in section
    assert "RUN pip install 'fastapi>=0.100'" in section
    assert "| [LA403](#la403-matrix-conflict) | `matrix-conflict` | audit | error |" in page


def test_a_finding_gets_its_code_from_the_catalogue_and_json_has_separate_fields() -> None:
    finding = Finding(
        "from-mismatch",
        Severity.ERROR,
        "m",
        Location("docker/a/Dockerfile", 3),
        related=(Location("docker/b/Dockerfile", 4),),
    )
    assert finding.code == "LA101"
    data = finding.as_json()
    assert data["code"] == "LA101" and data["rule"] == "from-mismatch"
    assert (data["path"], data["line"], data["location"]) == (
        "docker/a/Dockerfile",
        3,
        "docker/a/Dockerfile:3",
    )
    assert data["related"] == [{"path": "docker/b/Dockerfile", "line": 4}]
    assert Finding("no-such-rule", Severity.INFO, "m", Location("x")).as_json()["code"] is None


def test_selectors_are_codes_code_prefixes_names_and_name_prefixes() -> None:
    spec = find_rule("lock-stale")
    assert spec is not None
    for selector in ("LA202", "LA2", "la20", "lock-stale", "lock-"):
        assert matches(spec, (selector,)), selector
    for selector in ("LA203", "LA3", "lock-stalee", "LA", "stale"):
        assert not matches(spec, (selector,)), selector


def test_check_selects_by_code_and_name_alike(root: Path) -> None:
    (root / "app" / "requirements.txt").write_text("httpx\ntqdm==4.66.0\n")
    workspace = load_workspace(root)
    by_name = run_checks(workspace, select=["unpinned-install", "common-repeated"])
    by_code = run_checks(workspace, select=["LA210", "LA103"])
    assert by_name == by_code and {f.code for f in by_code} == {"LA210", "LA103"}
    assert {f.code for f in run_checks(workspace, select=["LA2"], ignore=["LA210"])} <= {
        "LA201", "LA202", "LA203", "LA204", "LA205", "LA206", "LA207", "LA211", "LA212",
    }
    with pytest.raises(LockauditError, match="unknown rule id 'LA999'"):
        run_checks(workspace, select=["LA999"])


def test_check_json_carries_schema_version_and_codes(root: Path) -> None:
    (root / "app" / "requirements.txt").write_text("httpx\ntqdm==4.66.0\n")
    result = CliRunner().invoke(
        app, ["check", "--workspace", str(root), "--no-cache", "-f", "json", "--select", "LA210"]
    )
    data = json.loads(result.stdout)
    assert data["schema_version"] == SCHEMA_VERSION == 1
    (finding,) = data["findings"]
    assert (finding["code"], finding["rule"], finding["severity"]) == (
        "LA210",
        "unpinned-install",
        "warning",
    )
    assert (finding["path"], finding["line"]) == ("app/requirements.txt", 1)
    text = CliRunner().invoke(
        app, ["check", "--workspace", str(root), "--no-cache", "--select", "LA210"]
    )
    assert "app/requirements.txt:1 LA210 unpinned-install: " in text.stdout


def test_sarif_rules_carry_the_catalogue_entry() -> None:
    from lockaudit.audit.sarif import to_sarif

    spec = find_rule("LA302")
    assert spec is not None
    log = to_sarif([], [(spec.id, spec.severity, spec.description)])
    (entry,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert entry["properties"]["code"] == "LA302"
    assert entry["fullDescription"]["text"].startswith("An unquoted `>` or `<`")
    assert "RUN pip install 'fastapi>=0.100'" in entry["help"]["markdown"]
