"""The rule registry, the shared CheckContext and the runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockaudit.errors import InputError, Location, LockauditError
from lockaudit.rules import CheckContext, Rule, registered_rules, rule, run_checks
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.config import load_workspace

DATA = Path(__file__).parent / "data" / "rules"
STATIC = {
    "from-mismatch", "shell-redirect", "unpinned-install", "duplicate-heavy-install",
    "versions-mismatch", "pin-drift", "orphan-requirements", "dockerfile-requirements-mismatch",
    "common-repeated", "cache-mount-disabled", "code-before-deps", "fallback-missing-install",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(DATA / "_base", target)
    return target


def test_every_static_rule_is_registered_with_a_description() -> None:
    rules = {r.id: r for r in registered_rules()}
    assert set(rules) >= STATIC
    for rule_id in STATIC:
        assert rules[rule_id].description
        assert isinstance(rules[rule_id].severity, Severity)


def test_finding_defaults_to_the_rule_severity_and_can_override_it() -> None:
    example = Rule("example", Severity.WARNING, "an example", lambda ctx: ())
    plain = example.finding("m", Location("a", 1), package="x", hint="h")
    louder = example.finding("m", Location("a", 1), severity=Severity.ERROR)
    assert (plain.rule, plain.severity, plain.package) == ("example", Severity.WARNING, "x")
    assert louder.severity is Severity.ERROR


def test_registering_a_second_function_under_one_id_is_refused() -> None:
    registered_rules()
    with pytest.raises(ValueError, match="registered twice"):

        @rule("from-mismatch", Severity.ERROR, "impostor")
        def impostor(ctx: CheckContext) -> list[Finding]:
            return []


def test_unknown_rule_ids_are_usage_errors(root: Path) -> None:
    workspace = load_workspace(root)
    with pytest.raises(LockauditError, match="unknown rule id 'from-mismatchh'") as info:
        run_checks(workspace, select=["from-mismatchh"])
    assert info.value.hint is not None and "from-mismatch" in info.value.hint
    with pytest.raises(LockauditError):
        run_checks(workspace, ignore=["nope"])


def test_select_and_ignore(root: Path) -> None:
    (root / "app" / "requirements.txt").write_text("httpx\ntqdm==4.66.0\n")
    workspace = load_workspace(root)
    both = run_checks(workspace, select=["unpinned-install", "common-repeated"])
    assert {f.rule for f in both} == {"unpinned-install", "common-repeated"}
    one = run_checks(workspace, select=["unpinned-install", "common-repeated"],
                     ignore=["common-repeated"])
    assert {f.rule for f in one} == {"unpinned-install"}


def test_findings_are_sorted_worst_first(root: Path) -> None:
    (root / "app" / "requirements.txt").write_text("httpx\ntqdm==4.66.0\n")
    (root / "app" / "Dockerfile").write_text(
        "ARG REGISTRY=reg\nFROM ${REGISTRY}/app-ml:cpu\nWORKDIR /app\n"
        "COPY app/requirements.txt .\nRUN pip install -r requirements.txt rich\n"
    )
    found = run_checks(load_workspace(root), select=sorted(STATIC))
    ranks = [f.severity.rank for f in found]
    assert ranks == sorted(ranks)
    assert found[0].severity is Severity.ERROR
    assert any(f.severity is Severity.WARNING for f in found)


def test_context_parses_each_input_once_with_the_image_build_args(root: Path) -> None:
    ctx = CheckContext.load(load_workspace(root))
    assert set(ctx.dockerfiles) == {"base:cpu", "ml:cpu", "app:cpu"}
    assert ctx.dockerfiles["app:cpu"].final.from_line.image == "reg/app-ml:cpu"
    assert ctx.common is not None and ctx.common.path == "requirements-common.txt"
    assert ctx.versions is not None and ctx.versions.pin("numpy") is not None
    assert ctx.installs["app:cpu"].files == ("app/requirements.txt",)
    assert ctx.installs["ml:cpu"].files == ("ml/requirements.txt",)
    assert [str(i.line.name) for i in ctx.installs["ml:cpu"].items] == ["torch", "scipy"]


def test_a_bad_input_line_is_an_input_error_not_a_traceback(root: Path) -> None:
    (root / "app" / "requirements.txt").write_text("httpx==0.27.0\nnot a requirement !!\n")
    with pytest.raises(InputError) as info:
        run_checks(load_workspace(root))
    assert info.value.location.path == "app/requirements.txt"
    assert info.value.location.line == 2
