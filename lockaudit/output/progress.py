"""Progress on stderr for the steps that can take more than a second (a cold compile,
``outdated``, ``report``; ``build``'s is in :mod:`lockaudit.output.build_progress`).

One line, redrawn in place: which image is resolving, how many are done, how many requests went
to the index and how many answers came from the cache. Shown only when stderr is a terminal
and ``--quiet`` was not given, so hooks, pipes and CI logs get the result alone; rich honours
``NO_COLOR`` and ``TERM=dumb`` itself.

The compile's and the index client's hooks (``CompileReporter``, ``IndexReporter``) feed one
:class:`Progress`; the index client calls its hooks from its I/O thread, so every update only
sets a few numbers under a lock and lets rich redraw.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lockaudit.compile import CompileReporter, ImageResult
from lockaudit.workspace.model import Image

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

__all__ = ["CompileProgress", "FetchProgress", "compile_progress", "fetch_progress", "wanted"]


def wanted(*, quiet: bool, stream: object = None) -> bool:
    """Whether to draw progress: a terminal on stderr, and not ``--quiet``."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return not quiet and callable(isatty) and bool(isatty())


class _StatusLine:
    """One status line drawn from the index client's counts (requests, cache hits); the
    subclass says what else the line shows."""

    def __init__(self, live: Live | None) -> None:
        self._live = live
        self._lock = threading.Lock()
        self._requests = 0
        self._cached = 0

    # IndexReporter (called from the index client's I/O thread)
    def on_request(self, url: str) -> None:
        with self._lock:
            self._requests += 1
        self._draw()

    def on_cache_hit(self, url: str) -> None:
        with self._lock:
            self._cached += 1
        self._draw()

    def line(self) -> str:
        raise NotImplementedError

    def _draw(self) -> None:
        if self._live is not None:
            self._live.update(self.line())


class CompileProgress(_StatusLine, CompileReporter):
    """Both reporters of a compile (images, index requests), drawn as one status line."""

    def __init__(self, live: Live | None, total: int) -> None:
        super().__init__(live)
        self._total = total
        self._done = 0
        self._image = ""

    # CompileReporter
    def starting(self, image: Image) -> None:
        with self._lock:
            self._image = image.key
        self._draw()

    def finished(self, result: ImageResult) -> None:
        with self._lock:
            self._done += 1
        self._draw()

    def on_progress(self, done: int, total: int) -> None:
        pass  # the resolver's own crawl: the request counts already say the wire is busy

    def line(self) -> str:
        with self._lock:
            return (
                f"resolving {self._image or '…'} "
                f"({self._done}/{max(self._total, self._done)} images) · "
                f"{self._requests} requests · {self._cached} from cache"
            )


@contextmanager
def compile_progress(
    total: int, *, enabled: bool, console: Console | None = None
) -> Iterator[CompileProgress]:
    """A reporter for ``total`` images; it draws only when ``enabled`` (see :func:`wanted`)."""
    if not enabled:
        yield CompileProgress(None, total)
        return
    from rich.console import Console
    from rich.live import Live

    out = console or Console(stderr=True)
    # transient: the status line goes away and the result is printed in its place
    with Live("", console=out, transient=True, refresh_per_second=8) as live:
        yield CompileProgress(live, total)


class FetchProgress(_StatusLine):
    """An :class:`~lockaudit.index.reporter.IndexReporter` for the commands that mostly wait on
    the index (``outdated``, ``report``): what runs, how far its crawl is, requests, cache hits.
    """

    def __init__(self, live: Live | None, label: str) -> None:
        super().__init__(live)
        self._label = label
        self._done = 0
        self._total = 0

    def step(self, label: str) -> None:
        """A new phase (``report``: the releases, then the what-if of upgrades)."""
        with self._lock:
            self._label, self._done, self._total = label, 0, 0
        self._draw()

    def on_progress(self, done: int, total: int) -> None:
        with self._lock:
            self._done, self._total = done, total
        self._draw()

    def line(self) -> str:
        with self._lock:
            count = f" ({self._done}/{self._total})" if self._total else ""
            return f"{self._label}{count} · {self._requests} requests · {self._cached} from cache"


@contextmanager
def fetch_progress(
    label: str, *, enabled: bool, console: Console | None = None
) -> Iterator[FetchProgress]:
    """A reporter for an index-bound command; it draws only when ``enabled`` (see
    :func:`wanted`)."""
    if not enabled:
        yield FetchProgress(None, label)
        return
    from rich.console import Console
    from rich.live import Live

    out = console or Console(stderr=True)
    with Live(label, console=out, transient=True, refresh_per_second=8) as live:
        yield FetchProgress(live, label)

