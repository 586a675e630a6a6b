"""The monthly report's what-if section: try the most pressing upgrades, write nothing.

Which ones: the report's pins in its own order (vulnerable, yanked, blocked majors, majors,
blocked, minor, patch; then by name), one per package (a package pinned by several images is
tried once, under the first in build order), at most ``count``. Each is tried as
``lockaudit whatif NAME==NEWEST`` would (:func:`lockaudit.report.whatif.whatif`): every image
that pins or requires it is re-resolved with the change, and the report says which images
move, which break and why, and the change in layer size.

Decisions:
- The target is ``newest`` (the newest release usable on the target), not ``allowed``:
  ``allowed`` is an upgrade nothing holds back, which the table already shows can be made;
  what a maintainer needs to learn is what moving to ``newest`` costs.
- A package whose newest release is its pin (current) or unknown is never tried.
"""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import NormalizedName

from lockaudit.index.types import MetadataSource
from lockaudit.report._model import OutdatedReport, PackageStatus, UpgradeTrial, Urgency
from lockaudit.report.whatif import whatif
from lockaudit.workspace.model import Workspace

__all__ = ["DEFAULT_UPGRADES", "top_upgrades", "try_upgrades"]

DEFAULT_UPGRADES = 5
_NEVER = {Urgency.CURRENT, Urgency.UNKNOWN}


def top_upgrades(report: OutdatedReport, count: int) -> tuple[tuple[str, PackageStatus], ...]:
    """``(image, package)`` of the ``count`` most pressing upgrades (module docstring)."""
    rows = [
        (key, package)
        for key, package in report.all_packages()
        if key != "(shared)"
        and package.urgency not in _NEVER
        and package.newest is not None
        and package.newest != package.current
    ]
    order = {key: number for number, key in enumerate(i.key for i in report.images)}
    rows.sort(key=lambda row: (row[1].sort_key(), order.get(row[0], len(order))))
    chosen: dict[NormalizedName, tuple[str, PackageStatus]] = {}
    for key, package in rows:
        if len(chosen) >= count:
            break
        chosen.setdefault(package.name, (key, package))
    return tuple(chosen.values())


def try_upgrades(
    workspace: Workspace, source: MetadataSource, report: OutdatedReport, count: int
) -> OutdatedReport:
    """``report`` with the what-if result of its top ``count`` upgrades."""
    from dataclasses import replace

    trials = []
    for key, package in top_upgrades(report, count):
        assert package.newest is not None  # top_upgrades keeps only those
        change = Requirement(f"{package.name}=={package.newest}")
        trials.append(
            UpgradeTrial(key, package, package.newest, whatif(workspace, source, [change]))
        )
    return replace(report, upgrades=tuple(trials))
