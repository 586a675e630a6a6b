"""The report as JSON, for machines: a documented, stable schema (``docs/REPORT.md``).

Stable means: keys in a fixed order, lists in the report's order (images in build order,
packages worst first then by name), versions as strings, no timestamps beyond the report date.
Bump ``SCHEMA`` when a key changes meaning or disappears; adding a key keeps it.
"""

from __future__ import annotations

import json
from typing import Any

from lockaudit.report._model import (
    Advisory,
    Hold,
    ImageOutcome,
    ImageReport,
    OutdatedReport,
    PackageStatus,
    UnusedReport,
    WhatIfReport,
)

__all__ = [
    "SCHEMA",
    "outdated_json",
    "render_json",
    "unused_json",
    "whatif_json",
]

SCHEMA = "lockaudit-report/1"


def render_json(report: OutdatedReport) -> str:
    return json.dumps(outdated_json(report), indent=2, ensure_ascii=False) + "\n"


def outdated_json(report: OutdatedReport) -> dict[str, Any]:
    totals = report.totals()
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "date": report.today.isoformat(),
        "totals": {urgency.value: count for urgency, count in totals.items()},
        "images": [_image(image) for image in report.images],
        "shared": [_package(p) for p in report.shared],
    }
    # The monthly report's sections, present when it has them (the schema only grows).
    from lockaudit.report.writers.monthly import sizes_json, upgrades_json

    if report.upgrades:
        data["upgrades"] = upgrades_json(report)
    if report.sizes:
        data["sizes"] = sizes_json(report)
    return data


def _image(image: ImageReport) -> dict[str, Any]:
    return {
        "image": image.key,
        "parent": image.parent,
        "base_image": image.base_image,
        "target": image.target,
        "lock": image.lock,
        "size": image.size,
        "inherited_size": image.inherited,
        "packages": [_package(p) for p in image.packages],
    }


def _package(package: PackageStatus) -> dict[str, Any]:
    return {
        "name": package.name,
        "status": package.urgency.value,
        "current": str(package.current),
        "newest": _str(package.newest),
        "allowed": _str(package.allowed),
        "held_by": [_hold(h) for h in package.holds],
        "pinned_at": [str(location) for location in package.pinned_at],
        "pin_age_days": package.pin_age_days,
        "newest_age_days": package.newest_age_days,
        "yanked": package.yanked is not None,
        "yanked_reason": package.yanked or None,
        "vulnerabilities": [_advisory(a) for a in package.advisories],
        "size": package.size,
    }


def _hold(hold: Hold) -> dict[str, Any]:
    return {
        "kind": hold.kind.value,
        "text": hold.text,
        "location": str(hold.location) if hold.location else None,
        "package": hold.package,
        "need": hold.need,
        "message": hold.describe(),
    }


def _advisory(advisory: Advisory) -> dict[str, Any]:
    return {
        "id": advisory.id,
        "aliases": list(advisory.aliases),
        "summary": advisory.summary,
        "fixed_in": _str(advisory.fixed_in),
        "link": advisory.link,
    }


def _str(value: object | None) -> str | None:
    return None if value is None else str(value)


def whatif_json(report: WhatIfReport) -> dict[str, Any]:
    return {
        "schema": "lockaudit-whatif/1",
        "changes": list(report.changes),
        "replaced": [
            {
                "path": r.location.path,
                "line": r.location.line,
                "requirement": r.requirement,
                "kind": r.kind,
                "why": r.why,
            }
            for r in report.replaced
        ],
        "kept_constraints": report.kept_constraints,
        "ok": not report.broken,
        "images": [_outcome(image) for image in report.images],
    }


def _outcome(outcome: ImageOutcome) -> dict[str, Any]:
    return {
        "image": outcome.key,
        "ok": outcome.ok,
        "skipped": outcome.skipped,
        "moves": [
            {"name": m.name, "before": _str(m.before), "after": _str(m.after)}
            for m in outcome.moves
        ],
        "conflicts": [list(lines) for lines in outcome.broken],
        "size_delta": outcome.size_delta,
    }


def unused_json(report: UnusedReport) -> dict[str, Any]:
    return {
        "schema": "lockaudit-unused/1",
        "images": [
            {
                "image": image.key,
                "python_files": image.files,
                "unused": list(image.unused),
                "missing": [{"import": name, "location": str(loc)} for name, loc in image.missing],
            }
            for image in report.images
        ],
    }
