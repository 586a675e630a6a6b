"""The console script. A plain ``lockaudit check`` whose last answer still holds skips the CLI.

A pre-commit hook runs ``lockaudit check`` on every commit, and most commits change nothing the
gate reads. Loading typer and rich and building the command tree costs more than the check
itself (about 0.15 s of a 0.25 s run, measured); so when the command line is exactly ``check``
and the check cache (keyed by every file of the workspace and lockaudit's own code) holds a
clean answer for it, that answer is printed here. Anything else — an option, a finding, a cache
miss — goes to :mod:`lockaudit.cli`, which prints the same "no findings" for a clean result.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    if sys.argv[1:] == ["check"] and _clean_check_cached():
        sys.stdout.write("no findings\n")
        return
    from lockaudit.cli import main as cli_main

    cli_main()


def _clean_check_cached() -> bool:
    from lockaudit.workspace import checkcache

    cached = checkcache.load_result(checkcache.check_key(Path(".")))
    return cached is not None and cached == ((), ())
