"""A metadata source that builds the index client on first use.

A compile whose locks are all up to date asks the index nothing; building the client still
imported it and its HTTP stack (about a third of a no-op ``compile``'s time). The command hands
:class:`LazySource` a factory instead: the client exists only once the resolver needs it, and
is closed on exit only if it was built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from packaging.utils import NormalizedName

from lockaudit.index.types import Candidate, CoreMetadata, CrawlPlan, NeedsBuild
from lockaudit.workspace.model import Target

if TYPE_CHECKING:
    from lockaudit.index.client import IndexClient

__all__ = ["LazySource"]

G = TypeVar("G")


class LazySource:
    """``MetadataSource`` and ``Crawler``, backed by a client made on the first call."""

    def __init__(self, factory: Callable[[], IndexClient]) -> None:
        self._factory = factory
        self._client: IndexClient | None = None

    @property
    def built(self) -> bool:
        return self._client is not None

    def _get(self) -> IndexClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def candidates(self, name: NormalizedName, target: Target) -> Sequence[Candidate]:
        return self._get().candidates(name, target)

    def metadata(self, candidate: Candidate, target: Target) -> CoreMetadata | NeedsBuild:
        return self._get().metadata(candidate, target)

    def prefetch(self, items: Iterable[NormalizedName | Candidate], target: Target) -> None:
        self._get().prefetch(items, target)

    def crawl(self, start: Iterable[G], target: Target, plan: CrawlPlan[G]) -> None:
        self._get().crawl(start, target, plan)

    def fetched_from(self, url: str) -> str:
        return self._get().fetched_from(url)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> LazySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
