"""The console script. A plain ``lockaudit check`` is answered without loading the CLI.

A pre-commit hook runs ``lockaudit check`` on every commit. Loading typer and rich and building
the command tree costs more than the check itself (about 0.15 s, measured), so when the command
line is exactly ``check`` the check runs here: its answer comes from the check cache (keyed by
every file of the workspace and lockaudit's own code) when no file changed, else from the rules.
The answer is printed here by the renderer the CLI's ``check`` calls (plain text, rich only for
a terminal), with its exit code (1 when a finding is an error). Anything else — an option, an
input error — goes to :mod:`lockaudit.cli`, which prints the error as it prints every error.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockaudit.rules.findings import Finding

_Answer = tuple[tuple["Finding", ...], tuple["Finding", ...]]


def main() -> None:
    if sys.argv[1:] == ["check"]:
        # No cyclic garbage collection in this short process: importing the rules creates
        # tens of thousands of objects (dataclass methods, compiled patterns) that live until
        # exit, which the collector would only scan again and again (in-process timings of a
        # check after an edit: loading and running the rules took about a third as long with
        # it off). Reference counting still frees the rest; the process ends soon.
        gc.disable()
        answer = _check_answer()
        gc.enable()
        if answer == ((), ()):
            sys.stdout.write("no findings\n")
            return
        if answer is not None:
            sys.exit(_print(*answer))
    from lockaudit.cli import main as cli_main

    cli_main()


def _check_answer() -> _Answer | None:
    """The findings (and those inline ignores silenced) of the workspace here, cached or
    computed; None on an input error."""
    from lockaudit.workspace import checkcache

    key = checkcache.check_key(Path("."))
    cached = checkcache.load_result(key)
    if cached is None:
        from lockaudit.errors import LockauditError
        from lockaudit.rules.runner import check_workspace
        from lockaudit.workspace.inputs import load_inputs

        try:
            result = check_workspace(load_inputs(Path(".")))
        except LockauditError:
            return None  # the CLI runs it again and reports the error as it reports any
        checkcache.store(key, result.findings, result.ignored)
        cached = (result.findings, result.ignored)
    return cached


def _print(found: tuple[Finding, ...], ignored: tuple[Finding, ...]) -> int:
    """Print the findings as the CLI's ``check`` does; its exit code."""
    from lockaudit import render
    from lockaudit.rules.findings import Severity

    render.findings(found, render.Format.TEXT, ignored=ignored)
    sys.stdout.flush()
    return 1 if any(f.severity is Severity.ERROR for f in found) else 0
