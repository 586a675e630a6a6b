"""The report as GitHub-flavoured Markdown, for a pull request.

Each image gets a table of the pins that need attention, worst first; pins that are current
fold into a ``<details>`` block so the diff of next month's report stays readable. Advisories
get their own list with the summary and the first fixed version.
"""

from __future__ import annotations

from lockaudit.report._model import ImageReport, OutdatedReport, PackageStatus, Urgency
from lockaudit.report.writers._common import (
    SECTIONS,
    days,
    human_size,
    image_title,
    notes,
    version,
)
from lockaudit.report.writers.monthly import sizes_markdown, upgrades_markdown

__all__ = ["render_markdown"]

_HEADER = (
    "| status | package | pinned | newest | allowed | held back by "
    "| pin age | newest age | notes |",
    "|---|---|---|---|---|---|---|---|---|",
)


def render_markdown(report: OutdatedReport) -> str:
    lines = [f"# Dependency report {report.today:%Y-%m}", ""]
    lines.append(f"Index state as of {report.today.isoformat()}. Pins grouped by the image that")
    lines.append("installs them, worst first.")
    lines.extend(["", *_totals(report), ""])
    lines.extend(sizes_markdown(report))
    for image in report.images:
        lines.extend(_image(image))
    if report.shared:
        lines.extend(["## Pins no image installs", ""])
        lines.extend(_table(report.shared))
    lines.extend(upgrades_markdown(report))
    lines.extend(_advisories(report))
    return "\n".join(lines).rstrip("\n") + "\n"


def _totals(report: OutdatedReport) -> list[str]:
    totals = report.totals()
    shown = [u for u in SECTIONS if totals[u]]
    if not shown:
        return ["No pins found."]
    return [
        "| " + " | ".join(u.value for u in shown) + " |",
        "|" + "---:|" * len(shown),
        "| " + " | ".join(str(totals[u]) for u in shown) + " |",
    ]


def _image(image: ImageReport) -> list[str]:
    lines = [f"## {image_title(image)}", ""]
    lock = f"`{image.lock}`" if image.lock else "no lock yet"
    lines.append(
        f"{image.target}. Layer {human_size(image.size)}, on top of "
        f"{human_size(image.inherited)} inherited; lock {lock}."
    )
    lines.append("")
    attention = [p for p in image.packages if p.urgency is not Urgency.CURRENT]
    current = [p for p in image.packages if p.urgency is Urgency.CURRENT]
    if attention:
        lines.extend(_table(attention))
    else:
        lines.extend(["Every pin is the newest usable release.", ""])
    if current:
        names = ", ".join(f"{p.name} {p.current}" for p in current)
        lines.extend(
            [
                f"<details><summary>Current pins ({len(current)})</summary>",
                "",
                names,
                "",
                "</details>",
                "",
            ]
        )
    return lines


def _table(packages: tuple[PackageStatus, ...] | list[PackageStatus]) -> list[str]:
    rows = [*_HEADER]
    for p in packages:
        cells = (
            f"**{p.urgency.value}**" if p.urgency.rank < Urgency.MAJOR.rank else p.urgency.value,
            p.name,
            str(p.current),
            version(p.newest),
            version(p.allowed),
            "<br>".join(hold.describe() for hold in p.holds),
            days(p.pin_age_days),
            days(p.newest_age_days),
            notes(p),
        )
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*rows, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _advisories(report: OutdatedReport) -> list[str]:
    rows = [(key, p, a) for key, p in report.all_packages() for a in p.advisories]
    if not rows:
        return []
    lines = ["## Known vulnerabilities", ""]
    for key, package, advisory in rows:
        fixed = f"fixed in {advisory.fixed_in}" if advisory.fixed_in else "no fixed release"
        aliases = f" ({', '.join(advisory.aliases)})" if advisory.aliases else ""
        lines.append(
            f"- **{advisory.id}**{aliases}: {package.name} {package.current} in {key}, "
            f"{fixed}. {_cell(advisory.summary)}"
        )
    return [*lines, ""]
