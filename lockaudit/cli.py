"""The command line: parse arguments, call the library, render. Nothing else lives here.

Exit codes: 0 clean, 1 findings at error severity (or an image that cannot be resolved),
2 usage or input error. Every :class:`LockauditError` becomes a message in ``render.error``.
Heavy modules (the index client, the resolver) are imported inside the commands that need
them, so ``lockaudit check`` stays fast enough for a pre-commit hook.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from lockaudit import render
from lockaudit.errors import LockauditError, ResolutionError
from lockaudit.render import Format

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2

app = typer.Typer(
    name="lockaudit",
    help="Machine-checked dependency locks for families of Python Docker images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace root (holds pyproject.toml).")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def _fail(exc: LockauditError) -> NoReturn:
    render.error(exc)
    raise typer.Exit(EXIT_FINDINGS if isinstance(exc, ResolutionError) else EXIT_INPUT)


@app.command()
def check(
    workspace: WorkspaceOpt = Path("."),
    fmt: FormatOpt = Format.TEXT,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Only these rule ids.")
    ] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Skip these rule ids.")] = None,
) -> None:
    """Offline pre-build gate: locks fresh, layers consistent, Dockerfiles agree with the graph."""
    from lockaudit.config import load_workspace
    from lockaudit.findings import Severity
    from lockaudit.rules import run_checks

    try:
        ws = load_workspace(workspace)
        found = run_checks(ws, select=select, ignore=ignore)
    except LockauditError as e:
        _fail(e)
    render.findings(found, fmt)
    if any(f.severity is Severity.ERROR for f in found):
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def graph(workspace: WorkspaceOpt = Path("."), fmt: FormatOpt = Format.TEXT) -> None:
    """Draw the image hierarchy (text tree) or print it in build order (JSON)."""
    from lockaudit.config import load_workspace

    try:
        ws = load_workspace(workspace)
    except LockauditError as e:
        _fail(e)
    render.graph(ws, fmt)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Repository to discover.")] = Path("."),
    write: Annotated[
        bool, typer.Option("--write/--print", help="Write pyproject.toml or only print.")
    ] = True,
    force: Annotated[bool, typer.Option(help="Replace an existing [tool.lockaudit].")] = False,
) -> None:
    """Discover a workspace in a repository that has never seen lockaudit."""
    from lockaudit.discover import discover_workspace, write_config

    try:
        discovery = discover_workspace(path)
        if write:
            write_config(path, discovery, force=force)
    except LockauditError as e:
        _fail(e)
    render.discovery(discovery, written=write)
    if discovery.problems:
        raise typer.Exit(EXIT_FINDINGS)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        render.message("interrupted")
        sys.exit(130)
