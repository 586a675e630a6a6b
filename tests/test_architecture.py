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


# --------------------------------------------------------------------------- one loader

# The command modules (docs/ARCHITECTURE.md): they get every workspace file from the one loader,
# ``lockaudit.workspace.inputs.Inputs``, so a fact about the workspace is the same everywhere.
COMMANDS = ("cli.py", "compile.py", "audit/", "report/", "builder/", "rules/runner.py")
# What reads or parses a workspace file by itself, bypassing the loader.
PARSERS = {
    "load_lock",
    "load_workspace",
    "parse_dockerfile",
    "parse_dockerfile_text",
    "parse_requirements",
    "parse_versions",
    "read_lock",
    "read_pylock",
    "read_workspace_locks",
    "repository_dockerfiles",
    "repository_files",
}
READS = {"open", "read_bytes", "read_text"}
# Listing or probing the tree is reading it too: what a command sees must be what the loader saw.
LISTS = {"glob", "rglob", "iterdir", "scandir", "is_file", "is_dir"}
# (module, call): why it is no workspace input.
EXEMPT = {
    (
        "builder/bakefile.py",
        "read_bytes",
    ): "the bake file it writes, compared to skip a rewrite",
}


def _direct_reads(path: Path) -> list[str]:
    relative = path.relative_to(PACKAGE).as_posix()
    return _reads_in(relative, path.read_text(encoding="utf-8"))


def _reads_in(relative: str, source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=relative)):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names if alias.name in PARSERS]
            found.extend(f"{relative}:{node.lineno}: imports {name}" for name in names)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            name, read = func.id, func.id in PARSERS or func.id == "open"
        elif isinstance(func, ast.Attribute):
            name, read = func.attr, func.attr in PARSERS | READS | LISTS
        else:
            continue
        if read and (relative, name) not in EXEMPT:
            found.append(f"{relative}:{node.lineno}: calls {name}")
    return found


def _is_command(relative: str) -> bool:
    return any(relative == c or (c.endswith("/") and relative.startswith(c)) for c in COMMANDS)


def test_command_modules_read_the_workspace_only_through_the_loader() -> None:
    commands = [p for p in _modules() if _is_command(p.relative_to(PACKAGE).as_posix())]
    offenders = [line for path in commands for line in _direct_reads(path)]
    assert offenders == [], "read the file through lockaudit.workspace.inputs:\n" + "\n".join(
        offenders
    )


def test_the_loader_check_sees_direct_reads() -> None:
    """A command module that parses a Dockerfile or opens a file itself is caught (the test
    above is not vacuous); the loader itself is where the reads are."""
    source = (
        "from lockaudit.parsing.dockerfile import parse_dockerfile\n"
        "def f(root, ws):\n"
        "    parse_dockerfile(root, 'Dockerfile', {})\n"
        "    return ws.path('x').read_text(), open('y')\n"
        "def g(context):\n"
        "    return sorted(context.glob('*.py'))\n"
    )
    found = sorted(_reads_in("report/sample.py", source), key=lambda line: line.split(":")[1])
    assert [line.split(": ", 1)[1] for line in found] == [
        "imports parse_dockerfile",
        "calls parse_dockerfile",
        "calls read_text",
        "calls open",
        "calls glob",
    ]
    assert _direct_reads(PACKAGE / "workspace" / "inputs.py")  # the loader does read files
