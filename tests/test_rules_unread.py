"""What an install reads and leaves unread: ``remote-requirements`` (``-r <URL>``),
``lock-not-used`` (a poetry/uv/pipenv/pdm lock copied in, never read), ``unknown-extra``
(``pip install '.[x]'`` of a project that defines no extra ``x``) — each at its line, and
quiet on the forms that are right."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockaudit.rules.runner import run_checks
from lockaudit.workspace.config import load_workspace

CONFIG = """\
[project]
name = "app"
version = "1.0"
optional-dependencies = { nlp = ["spacy>=3"], "Dev_Tools" = ["pytest"] }

[tool.lockaudit]
versions = ""
common = ""

[[tool.lockaudit.images]]
name = "app"
tag = "cpu"
dockerfile = "app/Dockerfile"
base-image = "python:3.11-slim"
requirements = []
"""


def _findings(
    root: Path, dockerfile: str, rule: str, files: dict[str, str] | None = None
) -> list[tuple[int, str]]:
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(CONFIG)
    (root / "app/Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    found = run_checks(load_workspace(root), select=[rule])
    return [(f.location.line, f.message) for f in found if f.location.path == "app/Dockerfile"]


def test_remote_requirements_at_the_install_and_not_a_mismatch(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.11-slim\n"
        "ARG BRANCH=main\n"
        "RUN pip install -r https://example.org/p/$BRANCH/developer.txt\n"
        "COPY app/requirements.txt /tmp/r.txt\n"
        "RUN pip install -r /tmp/r.txt -c https://example.org/c.txt\n"
    )
    found = _findings(tmp_path, dockerfile, "remote-requirements",
                      {"app/requirements.txt": "six==1.16.0\n"})
    assert [line for line, _ in found] == [3, 5], found
    assert "-r https://example.org/p/main/developer.txt" in found[0][1]
    assert "-c https://example.org/c.txt" in found[1][1]
    # the URL is not also "a -r path no COPY provides"
    mismatch = run_checks(load_workspace(tmp_path), select=["dockerfile-requirements-mismatch"])
    assert not [f for f in mismatch if "https://" in f.message], mismatch


@pytest.mark.parametrize(
    ("install", "reported"),
    [
        ("RUN pip install -e .", True),
        ("RUN curl -sSL https://install.example/poetry | python3 - && pip install .", True),
        ("RUN poetry install --no-root", False),
        ("RUN python -m poetry sync", False),
        ("RUN poetry export -o r.txt && pip install -r r.txt", False),
        ("RUN sh install.sh", False),  # the script runs poetry install
    ],
)
def test_lock_not_used(tmp_path: Path, install: str, reported: bool) -> None:
    dockerfile = (
        "FROM python:3.11-slim\n"
        "WORKDIR /src\n"
        "COPY pyproject.toml poetry.lock ./\n"
        "COPY app/install.sh .\n"
        f"{install}\n"
    )
    found = _findings(tmp_path, dockerfile, "lock-not-used", {"poetry.lock": "# lock\n",
                       "app/install.sh": "poetry install --only main\n"})
    assert [line for line, _ in found] == ([3] if reported else []), found
    if reported:
        assert "poetry.lock is copied in, but no RUN runs poetry" in found[0][1]


def test_uv_lock_read_by_uv_sync_only(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.11-slim\nCOPY pyproject.toml uv.lock /app/\nWORKDIR /app\n"
        "RUN uv pip install .\n"
    )
    found = _findings(tmp_path, dockerfile, "lock-not-used", {"uv.lock": "version = 1\n"})
    assert [line for line, _ in found] == [2], found
    (tmp_path / "app/Dockerfile").write_text(dockerfile.replace("uv pip install .",
                                                                "uv sync --frozen"))
    assert not run_checks(load_workspace(tmp_path), select=["lock-not-used"])


def test_unknown_extra_names_the_extras_the_project_defines(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.11-slim\n"
        "WORKDIR /app/pkg\n"
        "COPY pyproject.toml .\n"
        "RUN pip install -e .[graph]\n"
        "RUN pip install '.[nlp,dev-tools]'\n"  # defined (Dev_Tools normalizes to dev-tools)
        "RUN pip install '/app/pkg[nlp,vector]'\n"
    )
    found = _findings(tmp_path, dockerfile, "unknown-extra")
    assert [line for line, _ in found] == [4, 6], found
    assert "defines no extra 'graph' (its extras: dev-tools, nlp)" in found[0][1]
    assert "'vector'" in found[1][1] and "'nlp'" not in found[1][1]


def test_unknown_extra_skips_dynamic_and_untraced_projects(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.11-slim\nCOPY pyproject.toml /src/\nRUN pip install '/src[graph]'\n"
        "RUN pip install '/elsewhere[graph]'\n"
    )
    assert [line for line, _ in _findings(tmp_path, dockerfile, "unknown-extra")] == [3]
    text = CONFIG.replace('optional-dependencies = { nlp = ["spacy>=3"], "Dev_Tools" = '
                          '["pytest"] }', 'dynamic = ["optional-dependencies"]')
    (tmp_path / "pyproject.toml").write_text(text)
    assert not run_checks(load_workspace(tmp_path), select=["unknown-extra"])
