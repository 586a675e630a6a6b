"""The layer boundaries of docs/ARCHITECTURE.md, read from the source with ``ast``.

A module below the output layer that imports rich, typer or httpx drags a terminal, a CLI
framework or a network stack into code meant to be pure, and slows every ``check`` start-up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lockaudit"

# Which modules may import each edge library (paths relative to the package; a folder admits
# every module in it).
ALLOWED = {
    "typer": {"cli.py"},
    "rich": {"cli.py", "render.py", "builder/_render.py", "output/"},
    "httpx": {"index/transport.py"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _allowed(relative: str, library: str) -> bool:
    return any(
        relative == entry or (entry.endswith("/") and relative.startswith(entry))
        for entry in ALLOWED[library]
    )


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("library", sorted(ALLOWED))
def test_edge_libraries_stay_at_the_edges(library: str) -> None:
    offenders = [
        path.relative_to(PACKAGE).as_posix()
        for path in _modules()
        if library in _imports(path) and not _allowed(path.relative_to(PACKAGE).as_posix(), library)
    ]
    assert offenders == [], f"{library} imported below its layer: {offenders}"


def test_the_checker_sees_imports() -> None:
    """The walk finds the edge imports that do exist (else the test above proves nothing)."""
    seen = {lib for path in _modules() for lib in _imports(path)}
    assert {"typer", "rich", "httpx"} <= seen
