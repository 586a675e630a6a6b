"""Small text helpers every writer shares, so the formats agree on wording and numbers."""

from __future__ import annotations

from lockaudit.report._model import ImageReport, PackageStatus, Urgency

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


def human_size(size: int) -> str:
    """Decimal units, as registries and ``docker images`` show sizes."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


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
