"""Progress hooks of the index client: a Protocol and a no-op default (resolvelib's way).

Hooks are called from the client's I/O thread; an implementation must be quick and must not
call back into the client. URLs given to hooks never carry credentials.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["IndexReporter", "NullReporter"]


class IndexReporter(Protocol):
    def on_request(self, url: str) -> None:
        """A request is about to go out (once per attempt)."""

    def on_cache_hit(self, url: str) -> None:
        """An answer came from the on-disk cache, with no request."""

    def on_progress(self, done: int, total: int) -> None:
        """``prefetch``/``crawl`` progress: ``done`` of ``total`` items finished (a crawl's
        ``total`` grows as it discovers dependencies)."""


class NullReporter:
    """Reports nothing."""

    def on_request(self, url: str) -> None:
        pass

    def on_cache_hit(self, url: str) -> None:
        pass

    def on_progress(self, done: int, total: int) -> None:
        pass
