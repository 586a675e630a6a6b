"""``direct-reference``: VCS without a commit, nameless URLs, direct URLs without a hash, local
paths, editables and ``--no-binary`` are findings at their line with a fix in the hint; the
image that installs one is kept (by ``check`` and by ``init``)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.workspace.discover import discover_workspace

COMMIT = "0123456789abcdef0123456789abcdef01234567"

CONFIG = """\
[tool.lockaudit]
versions = ""
common = ""

[[tool.lockaudit.images]]
name = "app"
tag = "cpu"
dockerfile = "app/Dockerfile"
base-image = "python:3.11-slim"
requirements = ["app/requirements.txt"]
"""

DOCKERFILE = f"""\
FROM python:3.11-slim
COPY app/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
RUN pip install git+https://github.com/org/nameless.git
RUN pip install "pinned @ git+https://github.com/org/pinned.git@{COMMIT}"
RUN pip install --no-binary :all: lxml==5.2.1
COPY . /src
RUN pip install /src
RUN pip install /opt/vendor/tool-1.0-py3-none-any.whl /src/dist/app-1.0.tar.gz
COPY --from=src . /tmp/project
RUN pip install /tmp/project
COPY --from=example/tools:1 /wheels /tmp/wheels
RUN pip install /tmp/wheels
"""

REQUIREMENTS = f"""\
tool @ git+https://github.com/org/tool.git@main
exact @ git+https://github.com/org/exact.git@{COMMIT}
wheel @ https://files.example/wheel-1.0-py3-none-any.whl
hashed @ https://files.example/hashed-1.0-py3-none-any.whl#sha256={"a" * 64}
-e ./libs/shared
six==1.16.0
"""


def _workspace(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "libs/shared").mkdir(parents=True)
    (root / "pyproject.toml").write_text(CONFIG)
    (root / "app/Dockerfile").write_text(DOCKERFILE)
    (root / "app/requirements.txt").write_text(REQUIREMENTS)
    return root


def _check(root: Path, tmp_path: Path) -> tuple[int, list[dict[str, str]]]:
    result = CliRunner().invoke(
        app,
        ["check", "--workspace", str(root), "--format", "json", "--select", "direct-reference"],
        env={"LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)["findings"]


def test_direct_references_are_findings_at_their_lines(tmp_path: Path) -> None:
    code, found = _check(_workspace(tmp_path / "ws"), tmp_path)
    assert code == 1
    assert sorted((f["severity"], f["location"], f["package"]) for f in found) == [
        ("error", "app/Dockerfile:4", None),  # nameless VCS
        ("error", "app/requirements.txt:1", "tool"),  # VCS at a branch
        ("info", "app/Dockerfile:11", None),  # the checkout, from a named build context
        ("info", "app/Dockerfile:8", None),  # the repository's own checkout
        ("warning", "app/Dockerfile:13", None),  # a path copied from another image
        ("warning", "app/Dockerfile:6", None),  # --no-binary
        ("warning", "app/Dockerfile:9", None),  # a local path from outside the repository
        ("warning", "app/Dockerfile:9", None),  # an sdist of the checkout: a file, not it
        ("warning", "app/requirements.txt:3", "wheel"),  # a URL without a hash
        ("warning", "app/requirements.txt:5", None),  # editable local path: no name
    ]
    messages = {f["location"]: f["message"] for f in found}
    assert "installs the repository's own project" in messages["app/Dockerfile:8"]
    assert "installs a local path" in messages["app/Dockerfile:9"]
    hints = {f["location"]: f["hint"] for f in found}
    assert hints["app/requirements.txt:1"] == (
        "pin the commit: tool @ git+https://github.com/org/tool.git@<commit>"
    )
    assert hints["app/Dockerfile:4"] == (
        "name it and pin the commit: <name> @ git+https://github.com/org/nameless.git@<commit>"
    )
    assert "#sha256=<hash>" in hints["app/requirements.txt:3"]
    assert all(f["image"] == "app:cpu" for f in found)


def test_an_image_with_a_vcs_install_is_checked_not_dropped(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws")
    result = CliRunner().invoke(
        app,
        ["check", "--workspace", str(root), "--format", "json"],
        env={"LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache")},
    )
    rules = {f["rule"] for f in json.loads(result.stdout)["findings"]}
    assert "dockerfile-unreadable" not in rules
    assert "lock-missing" in rules  # the image is checked like any other


def test_init_keeps_an_image_that_installs_a_vcs_requirement(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "repo")
    (root / "pyproject.toml").unlink()
    found = discover_workspace(root)
    assert [image.dockerfile for image in found.images] == ["app/Dockerfile"]
    assert not [p for p in found.problems if "cannot read" in p]
    config = tomllib.loads(found.config_toml)["tool"]["lockaudit"]
    assert [i["dockerfile"] for i in config["images"]] == ["app/Dockerfile"]
