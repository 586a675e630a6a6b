"""Built image sizes over time, against what the locks explain (``reports/sizes.jsonl``).

Pure: the records come from :func:`lockaudit.sizelog.read_size_log`, the estimates
from the report's images (what their locks download today). For each image:

* ``estimate``: the download bytes of its locks now (its own layer plus what it inherits);
  each build carries the estimate of the locks it was built from, which the report compares
  it with;
* ``built``: the engine's size of its last recorded build, and every recorded build before
  it, in file order (the trend);
* ``growths``: the builds after which the image grew more than its lock explains.

What "explains" means (a documented heuristic, deliberately generous so that a flag is worth
reading): between two consecutive builds of an image, its lock may explain up to
``INSTALL_FACTOR`` times the growth of its locked download bytes (wheels are compressed
archives: installed, a release takes about two to three times its download), plus a
tolerance of ``max(TOLERANCE_BYTES, TOLERANCE_SHARE * previous size)`` for what every
rebuild moves (bytecode, metadata, timestamps). Anything above that came from elsewhere: a
system package, a download in a RUN step, a cache left in a layer, a parent image that grew.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from lockaudit.sizelog import SizeRecord

__all__ = [
    "INSTALL_FACTOR",
    "TOLERANCE_BYTES",
    "TOLERANCE_SHARE",
    "Growth",
    "ImageSizes",
    "size_trends",
]

INSTALL_FACTOR = 3
TOLERANCE_BYTES = 1 << 20  # 1 MiB
TOLERANCE_SHARE = 0.02


@dataclass(frozen=True)
class Growth:
    """One build after which the image grew more than its lock explains."""

    before: SizeRecord
    after: SizeRecord
    explained: int  # bytes the lock's change may account for

    @property
    def grown(self) -> int:
        return self.after.size - self.before.size

    @property
    def unexplained(self) -> int:
        return self.grown - self.explained

    @property
    def lock_changed(self) -> bool:
        return self.before.lock_digest != self.after.lock_digest

    def describe(self) -> str:
        from lockaudit.units import format_bytes

        lock = self.after.estimate_total - self.before.estimate_total
        why = (
            f"its lock's downloads changed by {_signed(lock)}"
            if self.lock_changed
            else "its lock did not change"
        )
        return (
            f"grew {format_bytes(self.grown)} from {self.before.built_at[:10]} to "
            f"{self.after.built_at[:10]}; {why}, which explains at most "
            f"{format_bytes(self.explained)}"
        )


def _signed(count: int) -> str:
    from lockaudit.units import format_bytes

    return ("+" if count >= 0 else "-") + format_bytes(abs(count))


@dataclass(frozen=True)
class ImageSizes:
    """One image's estimate and built sizes; ``builds`` in the order they were recorded."""

    key: str
    estimate: int | None
    builds: tuple[SizeRecord, ...]
    growths: tuple[Growth, ...]

    @property
    def last(self) -> SizeRecord:
        return self.builds[-1]

    @property
    def ratio(self) -> float | None:
        """Built size per estimated download byte of the last build's own lock figures."""
        total = self.last.estimate_total
        return self.last.size / total if total else None


def size_trends(
    records: Iterable[SizeRecord], estimates: Mapping[str, int], order: Sequence[str] = ()
) -> tuple[ImageSizes, ...]:
    """Every image that has a recorded build: in ``order`` (build order) first, then by key."""
    builds: dict[str, list[SizeRecord]] = {}
    for record in records:
        builds.setdefault(record.image, []).append(record)
    rank = {key: number for number, key in enumerate(order)}
    keys = sorted(builds, key=lambda k: (rank.get(k, len(rank)), k))
    return tuple(
        ImageSizes(key, estimates.get(key), tuple(builds[key]), _growths(builds[key]))
        for key in keys
    )


def _growths(builds: Sequence[SizeRecord]) -> tuple[Growth, ...]:
    found = []
    for before, after in pairwise(builds):
        lock_growth = max(0, after.estimate_total - before.estimate_total)
        explained = lock_growth * INSTALL_FACTOR
        tolerance = max(TOLERANCE_BYTES, round(TOLERANCE_SHARE * before.size))
        if after.size - before.size > explained + tolerance:
            found.append(Growth(before, after, explained))
    return tuple(found)
