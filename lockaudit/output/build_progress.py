"""``build``'s progress line on stderr: the image being built, how many are done, how long
the current one has run. Kept apart from :mod:`lockaudit.output.progress` so a compile does not
import the build driver. Shown on the same terms (:func:`~lockaudit.output.progress.wanted`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lockaudit.builder.backends import BuildOutcome, BuildReporter, BuildStatus
from lockaudit.builder.plan import BuildPlan, BuildStep
from lockaudit.builder.runner import Command

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

__all__ = ["BuildProgress", "build_progress"]


class BuildProgress(BuildReporter):
    """``build``: the image being built, how many are done or failed, and for how long the
    current one has run. An image build is silent for minutes (its log is captured for the
    failure message), so the line is a renderable that rich redraws with the clock."""

    def __init__(self, live: Live | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._live = live
        self._clock = clock
        self._total = 0
        self._built = 0
        self._failed = 0
        self._image = ""
        self._since = clock()

    def planned(self, plan: BuildPlan) -> None:
        self._total = len(plan.steps)
        self._draw()

    def starting(self, step: BuildStep, command: Command) -> None:
        self._image, self._since = step.image_key, self._clock()
        self._draw()

    def finished(self, outcome: BuildOutcome) -> None:
        if outcome.status is BuildStatus.BUILT:
            self._built += 1
        elif outcome.status is not BuildStatus.SKIPPED:
            self._failed += 1
        self._draw()

    def line(self) -> str:
        done = self._built + self._failed
        failed = f" · {self._failed} not built" if self._failed else ""
        elapsed = int(self._clock() - self._since)
        return (
            f"building {self._image or '…'} {elapsed} s "
            f"({done}/{max(self._total, done)} images){failed}"
        )

    def __rich__(self) -> str:
        return self.line()

    def _draw(self) -> None:
        if self._live is not None:
            self._live.update(self, refresh=True)


@contextmanager
def build_progress(*, enabled: bool, console: Console | None = None) -> Iterator[BuildProgress]:
    """A reporter for ``build``; it draws only when ``enabled`` (see :func:`wanted`)."""
    if not enabled:
        yield BuildProgress(None)
        return
    from rich.console import Console
    from rich.live import Live

    out = console or Console(stderr=True)
    progress = BuildProgress(None)
    with Live(progress, console=out, transient=True, refresh_per_second=2) as live:
        progress._live = live
        yield progress
