"""The console script. A plain ``lockaudit check`` is answered without loading the CLI.

A pre-commit hook runs ``lockaudit check`` on every commit. Loading typer and rich and building
the command tree costs more than the check itself (about 0.15 s, measured), so when the command
line is exactly ``check`` the check runs here: its answer comes from the check cache (keyed by
every file of the workspace and lockaudit's own code) when no file changed, else from the rules,
and a clean answer is printed here. Anything else — an option, a finding, an input error — goes
to :mod:`lockaudit.cli`, which finds the answer just stored and prints it (or the error) as it
prints every result.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path


def main() -> None:
    if sys.argv[1:] == ["check"]:
        # No cyclic garbage collection in this short process: importing the rules creates
        # tens of thousands of objects (dataclass methods, compiled patterns) that live until
        # exit, which the collector would only scan again and again (in-process timings of a
        # check after an edit: loading and running the rules took about a third as long with
        # it off). Reference counting still frees the rest; the process ends soon.
        gc.disable()
        clean = _clean_check()
        gc.enable()
        if clean:
            sys.stdout.write("no findings\n")
            return
    from lockaudit.cli import main as cli_main

    cli_main()


def _clean_check() -> bool:
    """Whether the workspace here has no finding (and no silenced one), cached or computed."""
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
            return False  # the CLI runs it again and reports the error as it reports any
        checkcache.store(key, result.findings, result.ignored)
        cached = (result.findings, result.ignored)
    return cached == ((), ())
