"""Progress hooks for a resolution, no-op by default (resolvelib's ``BaseReporter`` idea).

The core stays quiet; the rendering layer subclasses this to show progress.
"""

from __future__ import annotations

from packaging.utils import NormalizedName
from packaging.version import Version

from lockaudit.workspace.model import Target


class ResolveReporter:
    """Override the hooks you care about; every hook does nothing by default."""

    def starting(self, target: Target, roots: int) -> None:
        """A resolution of ``roots`` root requirements for ``target`` begins."""

    def pinning(self, name: NormalizedName, version: Version) -> None:
        """A release is tentatively chosen (it may be undone by backtracking)."""

    def backtracking(self, names: tuple[NormalizedName, ...]) -> None:
        """The resolver undoes choices because of a conflict on ``names``."""

    def ending(self, pins: int, rounds: int) -> None:
        """The resolution succeeded with ``pins`` packages after ``rounds`` rounds."""
