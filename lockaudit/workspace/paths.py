"""Output paths stay inside the workspace.

The config loader already refuses `..` and absolute paths; what it cannot see is a symlink on
the way (a `locks` folder, or one lock file, linking elsewhere), which can appear after the
config loads. Writers resolve each path here, just before writing, and refuse one that leads
outside the workspace root.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lockaudit.errors import InputError, Location


def inside(root: Path, relative: str) -> Path:
    """``root / relative`` with every symlink resolved; :class:`InputError` if it leaves root."""
    base = root.resolve()
    resolved = (base / relative).resolve()
    if not resolved.is_relative_to(base):
        raise InputError(
            Location(relative),
            f"resolves to {resolved}, outside the workspace: not written",
            hint="a lock path (or a folder on its way) is a symlink leading out of the "
            "workspace; make it a real folder inside it",
        )
    return resolved


def check_inside(root: Path, paths: Iterable[str]) -> None:
    """Refuse the whole write if any one of ``paths`` leads out of the workspace."""
    for path in paths:
        inside(root, path)
