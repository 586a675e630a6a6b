"""Plain-text tables for a terminal (``--format table``): the outdated report, what-if, unused.

Plain ``str`` so the core stays free of rich; the CLI prints it as is.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockaudit.report._model import OutdatedReport, UnusedReport, WhatIfReport
from lockaudit.report.writers._common import days, held_by, human_size, image_title, version

__all__ = ["render_table", "render_unused_text", "render_whatif_text"]

_COLUMNS = ("status", "package", "pinned", "newest", "allowed", "age", "held back by")


def render_table(report: OutdatedReport) -> str:
    out: list[str] = []
    groups = [(image_title(i), i.packages) for i in report.images]
    if report.shared:
        groups.append(("pins no image installs", report.shared))
    for title, packages in groups:
        out.append(title)
        rows = [
            (
                p.urgency.value,
                p.name,
                str(p.current),
                version(p.newest),
                version(p.allowed),
                days(p.pin_age_days),
                held_by(p),
            )
            for p in packages
        ]
        out.extend(_grid(_COLUMNS, rows))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["  (no pins)"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        lines.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return lines


def render_whatif_text(report: WhatIfReport) -> str:
    out = [f"what if: {', '.join(report.changes)}"]
    if report.replaced:
        out.append("in place of:")
        for r in report.replaced:
            out.append(f"  {r.location} {r.requirement}" + (f"  ({r.why})" if r.why else ""))
    if report.kept_constraints:
        out.append("constraint files kept as they are (--keep-constraints)")
    for image in report.images:
        if image.skipped:
            out.append(f"{image.key}: skipped ({image.skipped})")
            continue
        if image.broken:
            out.append(f"{image.key}: BREAKS")
        else:
            delta = ("+" if image.size_delta >= 0 else "-") + human_size(abs(image.size_delta))
            out.append(f"{image.key}: ok, layer size {delta}")
        for move in image.moves:
            out.append(f"  {move.name}: {version(move.before)} -> {version(move.after)}")
        for lines in image.broken:
            out.extend(f"  {line}" for line in lines)
    if not report.images:
        out.append("no image installs or requires these packages")
    return "\n".join(out) + "\n"


def render_unused_text(report: UnusedReport) -> str:
    out: list[str] = []
    for image in report.images:
        out.append(f"{image.key} ({image.files} Python files)")
        for name in image.unused:
            out.append(f"  unused: {name}")
        for module, location in image.missing:
            out.append(f"  {location}: imports {module}, which no installed package provides")
        if not image.unused and not image.missing:
            out.append("  nothing to report")
    return "\n".join(out) + "\n"
