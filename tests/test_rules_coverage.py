"""The coverage rules: every Dockerfile of the repository is an image or excluded, and a
configured Dockerfile that cannot be read is a finding at its line, never a crash or a pass.

Each test writes a real two-image workspace into tmp_path and runs ``lockaudit check`` through
the CLI application (exit code, JSON findings), or the rules through ``run_checks``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.errors import InputError
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.tree import is_dockerfile, repository_dockerfiles

RULES = ("dockerfile-not-covered", "exclude-stale", "dockerfile-unreadable")

CONFIG = """\
[tool.lockaudit]
versions = ""
common = ""
{extra}
[[tool.lockaudit.images]]
name = "base"
tag = "cpu"
dockerfile = "base/Dockerfile"
base-image = "python:3.11-slim"

[[tool.lockaudit.images]]
name = "app"
tag = "cpu"
dockerfile = "app/Dockerfile"
parent = "base:cpu"
"""


def workspace(root: Path, extra: str = "", files: dict[str, str | bytes] | None = None) -> Path:
    (root / "base").mkdir(parents=True)
    (root / "app").mkdir()
    (root / "pyproject.toml").write_text(CONFIG.format(extra=extra))
    (root / "base/Dockerfile").write_text("FROM python:3.11-slim\nRUN echo base\n")
    (root / "app/Dockerfile").write_text("ARG PARENT=base:cpu\nFROM ${PARENT}\nRUN echo app\n")
    for path, content in (files or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (root / path).write_bytes(content)
        else:
            (root / path).write_text(content)
    return root


def check(root: Path, tmp_path: Path) -> tuple[int, list[dict[str, str]]]:
    """`lockaudit check --format json` of this module's rules (the workspace has no locks),
    in this process: the exit code and the findings."""
    result = CliRunner().invoke(
        app,
        ["check", "--workspace", str(root), "--format", "json"]
        + [word for rule in RULES for word in ("--select", rule)],
        env={"LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    findings = json.loads(result.stdout)["findings"]
    return result.exit_code, [f for f in findings if f["rule"] in RULES]


def summary(found: list[dict[str, str]]) -> list[str]:
    return sorted(f"{f['severity']} {f['location']} {f['rule']}" for f in found)


def test_a_clean_workspace_has_no_coverage_finding(tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    found = run_checks(load_workspace(root), select=RULES)
    assert found == ()


@pytest.mark.parametrize(
    "path",
    ["web/Dockerfile", "web/dockerfile", "docker/web.Dockerfile", "Dockerfile.dev", "DOCKERFILE"],
)
def test_a_dockerfile_no_image_builds_fails_the_gate(tmp_path: Path, path: str) -> None:
    root = workspace(tmp_path / "ws", files={path: "# node\n\nFROM node:20\nRUN npm ci\n"})
    code, found = check(root, tmp_path)
    assert code == 1
    assert summary(found) == [f"error {path}:3 dockerfile-not-covered"]
    assert "neither" not in found[0]["message"]
    assert f'{{path = "{path}", reason = "..."}}' in found[0]["hint"]


def test_skipped_folders_and_lookalike_names_are_not_dockerfiles(tmp_path: Path) -> None:
    files = {
        "node_modules/pkg/Dockerfile": "FROM node\n",
        ".git/Dockerfile": "FROM x\n",
        ".venv/pyvenv.cfg": "",
        "venv/pyvenv.cfg": "",
        "venv/lib/Dockerfile": "FROM x\n",
        "pkg.egg-info/Dockerfile": "FROM x\n",
        "src/dockerfile.py": "x = 1\n",
        "Dockerfile.dockerignore": "*\n",
        "docs/Dockerfile.md": "# about\n",
        ".github/actions/lint/Dockerfile": "FROM alpine\n",
    }
    root = workspace(tmp_path / "ws", files=files)
    assert repository_dockerfiles(root) == (
        ".github/actions/lint/Dockerfile",
        "app/Dockerfile",
        "base/Dockerfile",
    )
    assert not is_dockerfile("dockerfile.py") and is_dockerfile("dockerfile")
    assert is_dockerfile("Dockerfile_amd") and not is_dockerfile("Dockerfile_amd.md")


def test_excluded_dockerfiles_pass_and_a_stale_exclude_is_a_warning(tmp_path: Path) -> None:
    extra = (
        'exclude = [\n'
        '  {path = "web/Dockerfile", reason = "the Node front end"},\n'
        '  {path = "tests/**", reason = "test data"},\n'
        '  {path = "old/Dockerfile", reason = "moved away"},\n'
        "]\n"
    )
    files = {"web/Dockerfile": "FROM node\n", "tests/data/a/Dockerfile": "FROM x\n"}
    root = workspace(tmp_path / "ws", extra, files)
    code, found = check(root, tmp_path)
    assert code == 0  # a warning does not fail the gate
    assert summary(found) == ["warning pyproject.toml:7 exclude-stale"]
    assert "'old/Dockerfile' matches no Dockerfile" in found[0]["message"]


def test_an_exclude_that_names_an_image_dockerfile_is_stale(tmp_path: Path) -> None:
    extra = 'exclude = [{path = "app", reason = "oops"}]\n'
    root = workspace(tmp_path / "ws", extra)
    found = run_checks(load_workspace(root), select=RULES)
    assert [(f.rule, str(f.location), f.image) for f in found] == [
        ("exclude-stale", "pyproject.toml:4", "app:cpu")
    ]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ('exclude = [{path = "web"}]\n', "pyproject.toml:4: exclude 'web' needs a `reason`"),
        ('exclude = [{path = "web", reason = " "}]\n', "pyproject.toml:4: exclude 'web' needs"),
        ('exclude = "web"\n', "pyproject.toml:4: `exclude` must be a list of tables"),
        ('exclude = [{reason = "x"}]\n', "pyproject.toml:4: an `exclude` entry needs `path`"),
        ('exclude = [{path = "../x", reason = "x"}]\n', "pyproject.toml:4: exclude path '../x'"),
        ('exclude = [{path = "x", why = "x"}]\n', "pyproject.toml:4: unknown key 'why'"),
    ],
)
def test_a_bad_exclude_is_an_input_error_at_its_line(
    tmp_path: Path, extra: str, error: str
) -> None:
    root = workspace(tmp_path / "ws", extra)
    with pytest.raises(InputError) as raised:
        load_workspace(root)
    assert str(raised.value).startswith(error), str(raised.value)


@pytest.mark.parametrize(
    ("content", "location", "fragment"),
    [
        ("", "base/Dockerfile:1", "no FROM instruction"),
        (b"FROM python:3.11\n\x00\x01\x02", "base/Dockerfile:2", "binary file"),
        (b"FROM python:3.11\n\xff\xfe\n", "base/Dockerfile:2", "not UTF-8"),
        ("FROM python:3.11\nRUN pip install \\\n  numpy \\\n", "base/Dockerfile:3", "dangling"),
        ("FROM python:3.11\nRUN echo 'never closed\n", "base/Dockerfile:2", "unterminated"),
        (
            "FROM python:3.11 AS a\nCOPY --from=b /x /x\n"
            "FROM python:3.11 AS b\nCOPY --from=a /y /y\n",
            "base/Dockerfile:4",
            "circular dependency between stages: a -> b -> a",
        ),
    ],
    ids=["empty", "binary", "not-utf8", "dangling-continuation", "unterminated-quote", "cycle"],
)
def test_an_unreadable_dockerfile_is_a_finding_and_its_children_are_not_checked(
    tmp_path: Path, content: str | bytes, location: str, fragment: str
) -> None:
    root = workspace(tmp_path / "ws", files={"base/Dockerfile": content})
    code, found = check(root, tmp_path)
    assert code == 1
    assert summary(found) == [
        "error app/Dockerfile:1 dockerfile-unreadable",
        f"error {location} dockerfile-unreadable",
    ]
    own = next(f for f in found if f["image"] == "base:cpu")
    assert fragment in own["message"], own["message"]
    child = next(f for f in found if f["image"] == "app:cpu")
    assert "built on base:cpu" in child["message"]
    assert child["hint"] == f"fix {location}"


def test_a_new_dockerfile_is_seen_by_a_warm_check(tmp_path: Path) -> None:
    """The result cache must not hide a Dockerfile added after the last run."""
    root = workspace(tmp_path / "ws")
    assert check(root, tmp_path)[1] == []
    assert check(root, tmp_path)[1] == []  # warm
    (root / "web").mkdir()
    (root / "web/Dockerfile").write_text("FROM node\n")
    code, found = check(root, tmp_path)
    assert (code, summary(found)) == (1, ["error web/Dockerfile:1 dockerfile-not-covered"])


def test_a_missing_configured_dockerfile_stays_an_input_error(tmp_path: Path) -> None:
    root = workspace(tmp_path / "ws")
    (root / "app/Dockerfile").unlink()
    result = CliRunner().invoke(
        app, ["check", "--workspace", str(root)], env={"LOCKAUDIT_CACHE_DIR": str(tmp_path / "c")}
    )
    assert result.exit_code == 2
    assert "pyproject.toml:14: the Dockerfile app/Dockerfile of app:cpu does not exist" in (
        result.stderr
    )
