"""The monthly report's two extra sections, in each format: what-if of the top upgrades, and
built image sizes against the locks' estimates (``reports/sizes.jsonl``).

Each writer calls these with the report; a report without upgrades or sizes gets nothing (the
``outdated`` command's output is unchanged). The HTML trend chart is small multiples: one row
per image, its built size across its recorded builds, scaled to that image's own range so a
small image's growth shows as clearly as a big one's; a build after which the image grew more
than its lock explains is a ``GROWTH_COLOUR`` dot.
"""

from __future__ import annotations

from html import escape
from typing import Any

from lockaudit.report._model import OutdatedReport, UpgradeTrial
from lockaudit.report.trend import ImageSizes
from lockaudit.report.writers._common import held_by, human_size

__all__ = [
    "GROWTH_COLOUR",
    "TREND_COLOUR",
    "sizes_html",
    "sizes_json",
    "sizes_markdown",
    "upgrades_html",
    "upgrades_json",
    "upgrades_markdown",
]

TREND_COLOUR = "#8250df"  # the trend lines; the screenshot test counts this colour
GROWTH_COLOUR = "#cf222e"
_TREND_POINTS = 6  # builds shown in the Markdown trend column


# ------------------------------------------------------------------------------ what-if


def _outcome_rows(trial: UpgradeTrial) -> list[tuple[str, str, str, str]]:
    """(image, result, what moves, why it breaks) for every image the change touches; the
    images where nothing moves share one row, and so do those not tried because their parent
    breaks (they add nothing new)."""
    rows = []
    skipped, unmoved = [], []
    for image in trial.result.images:
        if image.skipped:
            skipped.append(image.key)
            continue
        if image.ok and not image.moves and not image.size_delta:
            unmoved.append(image.key)
            continue
        moves = ", ".join(f"{m.name} {m.before or '-'} → {m.after or '-'}" for m in image.moves)
        if image.broken:
            rows.append((image.key, "breaks", moves, _why(image.broken)))
        else:
            sign = "+" if image.size_delta >= 0 else "-"
            size = f"ok, layer {sign}{human_size(abs(image.size_delta))}"
            rows.append((image.key, size, moves, ""))
    if unmoved:
        rows.append((_count(unmoved), "ok, nothing moves", "", ", ".join(unmoved)))
    if skipped:
        why = "built on an image that breaks: " + ", ".join(skipped)
        rows.append((_count(skipped), "not tried", "", why))
    return rows


def _count(keys: list[str]) -> str:
    return f"{len(keys)} image{'s' if len(keys) != 1 else ''}"


def _why(conflicts: tuple[tuple[str, ...], ...]) -> str:
    """Each conflict's summary and its last step (which names the file and line to edit)."""
    parts = []
    for lines in conflicts:
        kept = [line.strip() for line in lines if line.strip()]
        if kept:
            parts.append(kept[0] if len(kept) == 1 else f"{kept[0]} ({kept[-1]})")
    return " / ".join(parts)


def _trial_title(trial: UpgradeTrial) -> str:
    status = trial.status
    return (
        f"{status.name} {status.current} → {trial.newest} ({trial.image}, {status.urgency.value})"
    )


def upgrades_markdown(report: OutdatedReport) -> list[str]:
    if not report.upgrades:
        return []
    lines = [
        "## What-if for the top upgrades",
        "",
        "Each is `lockaudit whatif NAME==NEWEST`: every image that pins or needs the package,",
        "re-resolved with the change (nothing written).",
        "",
    ]
    for trial in report.upgrades:
        lines.append(f"### {_trial_title(trial)}")
        lines.append("")
        hold = held_by(trial.status)
        if hold:
            lines.extend([f"Held back by {hold}.", ""])
        verdict = "breaks" if trial.result.broken else "installs"
        lines.extend([f"`{trial.change}` {verdict}.", ""])
        rows = _outcome_rows(trial)
        if not rows:
            lines.extend(["No image installs or requires it.", ""])
            continue
        lines.extend(["| image | result | moves | why |", "|---|---|---|---|"])
        lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
        lines.append("")
    return lines


def upgrades_html(report: OutdatedReport) -> str:
    if not report.upgrades:
        return ""
    parts = ["<h2>What-if for the top upgrades</h2>"]
    for trial in report.upgrades:
        hold = held_by(trial.status)
        parts.append(f"<h3>{escape(_trial_title(trial))}</h3>")
        if hold:
            parts.append(f"<p>Held back by {escape(hold)}.</p>")
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
            for row in _outcome_rows(trial)
        )
        head = "<tr><th>image</th><th>result</th><th>moves</th><th>why</th></tr>"
        parts.append(f"<table>{head}{rows}</table>")
    return "\n".join(parts)


def upgrades_json(report: OutdatedReport) -> list[dict[str, Any]]:
    from lockaudit.report.writers.json import whatif_json

    return [
        {
            "change": trial.change,
            "image": trial.image,
            "status": trial.status.urgency.value,
            "current": str(trial.status.current),
            "newest": str(trial.newest),
            "held_by": [hold.describe() for hold in trial.status.holds],
            "whatif": whatif_json(trial.result),
        }
        for trial in report.upgrades
    ]


# -------------------------------------------------------------------------------- sizes


def _ratio(image: ImageSizes) -> str:
    ratio = image.ratio
    return "-" if ratio is None else f"{ratio:.1f} x"


def _estimate(image: ImageSizes) -> str:
    """What the lock of the last build downloads (the estimate that build is compared with)."""
    return human_size(image.last.estimate_total) if image.last.estimate_total else "-"


def sizes_markdown(report: OutdatedReport) -> list[str]:
    if not report.sizes:
        return []
    lines = [
        "## Image sizes: estimate vs built",
        "",
        "Estimate: what the locks of the image's last build download. Built: the engine's size",
        "after that `lockaudit build` (`reports/sizes.jsonl`).",
        "",
        "| image | estimate | built | built / locked downloads | builds | trend |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for image in report.sizes:
        trend = " → ".join(human_size(b.size) for b in image.builds[-_TREND_POINTS:])
        lines.append(
            f"| {image.key} | {_estimate(image)} | {human_size(image.last.size)} "
            f"({image.last.built_at[:10]}) | {_ratio(image)} | {len(image.builds)} | {trend} |"
        )
    lines.append("")
    growths = [(image.key, g) for image in report.sizes for g in image.growths]
    if growths:
        lines.extend(["**Grew more than its lock explains:**", ""])
        lines.extend(f"- {key}: {growth.describe()}" for key, growth in growths)
        lines.append("")
    return lines


def sizes_json(report: OutdatedReport) -> list[dict[str, Any]]:
    return [
        {
            "image": image.key,
            "estimate": image.last.estimate_total,
            "estimate_now": image.estimate,
            "built": image.last.size,
            "builds": [
                {
                    "built_at": b.built_at,
                    "size": b.size,
                    "estimate": b.estimate_total,
                    "lock_digest": b.lock_digest,
                    "platform": b.platform,
                }
                for b in image.builds
            ],
            "grew_unexplained": [
                {
                    "from": g.before.built_at,
                    "to": g.after.built_at,
                    "grown": g.grown,
                    "explained": g.explained,
                    "lock_changed": g.lock_changed,
                    "message": g.describe(),
                }
                for g in image.growths
            ],
        }
        for image in report.sizes
    ]


_ROW, _LABEL, _PLOT = 34, 170, 520


def sizes_html(report: OutdatedReport) -> str:
    if not report.sizes:
        return ""
    rows = "".join(_trend_row(number, image) for number, image in enumerate(report.sizes))
    height = _ROW * len(report.sizes) + 10
    width = _LABEL + _PLOT + 260
    chart = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="built size by build, per image">{rows}</svg>'
    )
    table_rows = "".join(
        f"<tr><td>{escape(image.key)}</td><td>{_estimate(image)}</td>"
        f"<td>{human_size(image.last.size)} ({escape(image.last.built_at[:10])})</td>"
        f"<td>{_ratio(image)}</td><td>{len(image.builds)}</td>"
        f"<td>{escape('; '.join(g.describe() for g in image.growths))}</td></tr>"
        for image in report.sizes
    )
    head = (
        "<tr><th>image</th><th>estimate (locked downloads)</th><th>built (last)</th>"
        "<th>built / locked downloads</th><th>builds</th><th>grew more than its lock explains"
        "</th></tr>"
    )
    legend = (
        f'<p><small><span style="color:{TREND_COLOUR}">&#9679;</span> built size at each '
        f'recorded build, scaled per image &nbsp; <span style="color:{GROWTH_COLOUR}">'
        "&#9679;</span> grew more than its lock explains</small></p>"
    )
    return f"<h2>Built size over time</h2>{chart}{legend}<table>{head}{table_rows}</table>"


def _trend_row(number: int, image: ImageSizes) -> str:
    top = 5 + number * _ROW
    sizes = [b.size for b in image.builds]
    low, high = min(sizes), max(sizes)
    span = high - low
    count = len(sizes)
    flagged = {g.after for g in image.growths}
    points = []
    for index, build in enumerate(image.builds):
        x = _LABEL + (round(_PLOT * index / (count - 1)) if count > 1 else _PLOT // 2)
        y = top + _ROW - 10 - (round((_ROW - 16) * (build.size - low) / span) if span else 9)
        points.append((x, y, build in flagged, build))
    line = " ".join(f"{x},{y}" for x, y, _, _ in points)
    dots = "".join(
        f'<circle cx="{x}" cy="{y}" r="{5 if bad else 3}" '
        f'fill="{GROWTH_COLOUR if bad else TREND_COLOUR}"><title>{escape(image.key)} '
        f"{escape(b.built_at)}: {human_size(b.size)}</title></circle>"
        for x, y, bad, b in points
    )
    label = f'<text x="{_LABEL - 8}" y="{top + 18}" text-anchor="end">{escape(image.key)}</text>'
    summary = f"{human_size(sizes[0])} → {human_size(sizes[-1])} ({count} builds)"
    return (
        f'{label}<polyline points="{line}" fill="none" stroke="{TREND_COLOUR}" '
        f'stroke-width="3"/>{dots}'
        f'<text x="{_LABEL + _PLOT + 12}" y="{top + 18}">{escape(summary)}</text>'
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
