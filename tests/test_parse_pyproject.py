"""A project's pyproject.toml and uv.lock read as requirement inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockaudit.errors import InputError
from lockaudit.parsing.requirements import parse_requirements

PYPROJECT = """[build-system]
requires = ["hatchling"]

[project]
name = "app"
version = "1"
dependencies = [
    "attrs>=23",
    "six; python_version < '3.13'",
]
"""
UV_LOCK = """version = 1

[[package]]
name = "app"
version = "1"
source = { editable = "." }

[[package]]
name = "attrs"
version = "23.2.0"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "numpy"
version = "1.26.4"
source = { registry = "https://example.invalid/simple" }

[[package]]
name = "numpy"
version = "2.1.0"
source = { registry = "https://example.invalid/simple" }
"""


def test_pyproject_dependencies_are_requirements_with_their_lines(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    parsed = parse_requirements(tmp_path, "pyproject.toml")
    assert [str(r.requirement) for r in parsed.requirements] == [
        "attrs>=23", 'six; python_version < "3.13"'
    ]
    assert [r.location.line for r in parsed.requirements] == [8, 9]


def test_uv_lock_is_its_projects_requirements_within_the_locks_pins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    parsed = parse_requirements(tmp_path, "uv.lock")
    assert [r.name for r in parsed.requirements] == ["attrs", "six"]
    # the project itself is no pin, numpy is locked per platform: left to the resolver
    assert [(str(c.requirement), c.location.line) for c in parsed.constraints] == [
        ("attrs==23.2.0", 9)
    ]
    assert all(c.constraint for c in parsed.constraints)
    assert parsed.includes == ("uv.lock", "pyproject.toml")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[project]\nname = "a"\nversion = "1"\ndynamic = ["dependencies"]\n', 4, "dynamic"),
        ("[tool.black]\nline-length = 100\n", 1, "no [project] table"),
        ("[project\n", 1, "not valid TOML"),
    ],
)
def test_a_pyproject_without_declared_dependencies_is_refused_at_its_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(InputError) as caught:
        parse_requirements(tmp_path, "pyproject.toml")
    assert caught.value.location.line == line
    assert words in str(caught.value)


def test_a_uv_lock_without_its_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    with pytest.raises(InputError, match=r"no pyproject\.toml beside"):
        parse_requirements(tmp_path, "uv.lock")
