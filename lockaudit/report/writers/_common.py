"""Small text helpers every writer shares, so the formats agree on wording and numbers."""

from __future__ import annotations

from lockaudit.report._model import ImageReport, PackageStatus, Urgency
from lockaudit.units import format_bytes

SECTIONS = (
    Urgency.VULNERABLE,
    Urgency.YANKED,
    Urgency.BLOCKED_MAJOR,
    Urgency.MAJOR,
    Urgency.BLOCKED,
    Urgency.MINOR,
    Urgency.PATCH,
    Urgency.CURRENT,
    Urgency.UNKNOWN,
)


human_size = format_bytes  # one unit convention across every output


def days(value: int | None) -> str:
    return "-" if value is None else f"{value} d"


def version(value: object | None) -> str:
    return "-" if value is None else str(value)


def held_by(package: PackageStatus) -> str:
    """The first hold, and how many more: the one line a reviewer needs."""
    if not package.holds:
        return ""
    first = package.holds[0].describe()
    more = len(package.holds) - 1
    return f"{first} (+{more} more)" if more else first


def notes(package: PackageStatus) -> str:
    parts: list[str] = []
    for advisory in package.advisories:
        fixed = f", fixed in {advisory.fixed_in}" if advisory.fixed_in else ", no fix yet"
        parts.append(f"{advisory.id}{fixed}")
    if package.yanked is not None:
        parts.append(f"yanked: {package.yanked}" if package.yanked else "yanked")
    return "; ".join(parts)


def image_title(image: ImageReport) -> str:
    origin = f"FROM {image.parent}" if image.parent else f"FROM {image.base_image or '?'}"
    return f"{image.key} ({origin})"
