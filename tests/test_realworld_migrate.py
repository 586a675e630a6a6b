"""``lockaudit migrate`` on the real-repository corpus (``tests/realworld/``).

Without the index: the plan of every repository whose trimmed copy is here changes no byte of a
Dockerfile outside its pip install steps (measured by difflib, apart from the planner's edits).
With it (``-m network``): the repositories migrate fully passes on are written and checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockaudit.migrate import plan_migration
from tests.realworld.compare import corpus_repos, data_root
from tests.realworld.migrate_measure import migrate_copy, outside_bytes

# Corpus repositories whose migration passes `check` (no error) today.
PASSING = (
    "aiidateam__aiida-core",
    "mamba-org__micromamba-docker",
    "mem0ai__mem0",
    "onyx-dot-app__onyx",
    "open-telemetry__opentelemetry-demo",
    "pytorch__serve",
    "rapidsai__docker",
)


def _copy(repo: str, tmp_path: Path) -> Path:
    tree = data_root() / repo
    if not tree.is_dir():
        pytest.skip(f"no trimmed copy of {repo} (see tests/realworld/README.md)")
    return Path(shutil.copytree(tree, tmp_path / repo))


@pytest.mark.parametrize("repo", corpus_repos())
def test_only_install_lines_change(repo: str, tmp_path: Path) -> None:
    plan = plan_migration(_copy(repo, tmp_path))
    assert {change.path: outside_bytes(change) for change in plan.dockerfiles} == {
        change.path: 0 for change in plan.dockerfiles
    }


def test_outside_bytes_sees_a_change_outside_the_installs() -> None:
    from lockaudit.migrate import FileChange

    old = "FROM python:3.12\nENV A=1\nRUN pip install rich\n"
    new = "FROM python:3.12\nENV A=2\nCOPY locks/x.layer.txt /l\nRUN pip install -r /l\n"
    assert outside_bytes(FileChange("Dockerfile", old, new, ())) == len("ENV A=1\n") * 2
    fine = "FROM python:3.12\nENV A=1\nCOPY locks/x.layer.txt /l\nRUN pip install -r /l\n"
    assert outside_bytes(FileChange("Dockerfile", old, fine, ())) == 0


@pytest.mark.network
@pytest.mark.parametrize("repo", PASSING)
def test_migrate_write_then_check_passes(repo: str, tmp_path: Path) -> None:
    migrated = migrate_copy(repo, _copy(repo, tmp_path))
    assert migrated.outcome == "written"
    assert migrated.errors == ()
    assert migrated.outside == 0
