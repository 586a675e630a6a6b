"""Discovery follows what an image installs back to the files of its build context."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockaudit.parsing.dockerfile import parse_dockerfile
from lockaudit.workspace.discover._installed import declares_dependencies, installed_files

PROJECT = '[project]\nname = "app"\nversion = "1"\ndependencies = ["attrs"]\n'
DYNAMIC = '[project]\nname = "app"\nversion = "1"\ndynamic = ["dependencies"]\n'
TOOLS_ONLY = "[tool.ruff]\nline-length = 100\n"


def _files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _found(root: Path, dockerfile: str, files: dict[str, str], **kw: str) -> list[str]:
    _files(root, {"Dockerfile": dockerfile, **files})
    return installed_files(root, parse_dockerfile(root, "Dockerfile"), ".", **kw)


def test_uv_sync_after_cd_installs_the_projects_lock(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.12\n"
        "COPY lib/pyproject.toml lib/uv.lock lib/\n"
        "RUN cd lib && uv sync --frozen\n"
        "COPY other other\n"
        "RUN uv sync --project other\n"
    )
    files = {"lib/pyproject.toml": PROJECT, "lib/uv.lock": "version = 1\n",
             "other/pyproject.toml": PROJECT}
    # no uv.lock copied for `other`: uv sync resolves its pyproject.toml
    assert _found(tmp_path, dockerfile, files) == ["lib/uv.lock", "other/pyproject.toml"]


def test_pip_install_of_a_project_reads_its_pyproject_only_when_it_declares_dependencies(
    tmp_path: Path,
) -> None:
    dockerfile = (
        "FROM python:3.12\n"
        "WORKDIR /src\n"
        "COPY pyproject.toml .\n"
        "RUN pip install -e .[extra]\n"
        "COPY dyn /dyn\n"
        "RUN uv pip install /dyn\n"
        "COPY tools /tools\n"
        "RUN pip install /tools\n"
    )
    files = {"pyproject.toml": PROJECT, "dyn/pyproject.toml": DYNAMIC,
             "tools/pyproject.toml": TOOLS_ONLY}
    assert _found(tmp_path, dockerfile, files) == ["pyproject.toml"]
    assert not declares_dependencies(tmp_path / "dyn/pyproject.toml")  # setup.py decides


def test_a_copied_requirements_file_is_not_an_input_until_something_installs_it(
    tmp_path: Path,
) -> None:
    dockerfile = (
        "FROM python:3.12\n"
        "COPY . /app\n"
        "WORKDIR /app\n"
        "RUN pip install -r requirements.txt\n"
    )
    files = {"requirements.txt": "attrs\n", "dev-requirements.txt": "pytest\n"}
    assert _found(tmp_path, dockerfile, files) == ["requirements.txt"]


def test_a_helper_script_is_followed_in_the_directory_the_run_is_in(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.12\n"
        "COPY . /srv\n"
        "WORKDIR /srv\n"
        "RUN bash scripts/install.sh --quiet\n"
    )
    files = {
        "scripts/install.sh": "set -e\npip install -r requirements/base.txt\n./scripts/more.sh\n",
        "scripts/more.sh": "pip install -c requirements/pins.txt attrs\n",
        "requirements/base.txt": "attrs\n",
        "requirements/pins.txt": "attrs==23.1.0\n",
    }
    assert _found(tmp_path, dockerfile, files) == [
        "requirements/base.txt", "requirements/pins.txt"
    ]


def test_a_bind_mounted_file_is_followed(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.12\n"
        "RUN --mount=type=bind,source=reqs/app.txt,target=/tmp/r.txt pip install -r /tmp/r.txt\n"
    )
    assert _found(tmp_path, dockerfile, {"reqs/app.txt": "attrs\n"}) == ["reqs/app.txt"]


@pytest.mark.parametrize(
    ("copied", "expected"),
    [("/venv /venv", ["requirements.txt"]), ("/app/site /srv/site", [])],
)
def test_a_builder_stage_counts_only_when_its_environment_is_copied(
    tmp_path: Path, copied: str, expected: list[str]
) -> None:
    dockerfile = (
        "FROM python:3.12 AS build\n"
        "COPY requirements.txt /tmp/\n"
        "RUN python -m venv /venv && /venv/bin/pip install -r /tmp/requirements.txt\n"
        "FROM python:3.12-slim\n"
        f"COPY --from=build {copied}\n"
    )
    assert _found(tmp_path, dockerfile, {"requirements.txt": "attrs\n"}) == expected


def test_stages_of_the_parent_image_are_the_parents(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.12 AS runtime\n"
        "COPY requirements.txt /tmp/\n"
        "RUN pip install -r /tmp/requirements.txt\n"
        "FROM runtime AS dev\n"
        "COPY dev.txt /tmp/\n"
        "RUN pip install -r /tmp/dev.txt\n"
        "FROM python:3.12 AS other\n"
        "COPY other.txt /tmp/\n"
        "RUN pip install -r /tmp/other.txt\n"
    )
    files = {"requirements.txt": "attrs\n", "dev.txt": "pytest\n", "other.txt": "six\n"}
    assert _found(tmp_path, dockerfile, files, target="dev") == ["requirements.txt", "dev.txt"]
    assert _found(tmp_path, dockerfile, files, target="dev", parent_stage="runtime") == [
        "dev.txt"
    ]
    assert _found(tmp_path, dockerfile, files) == ["other.txt"]  # the last stage alone
