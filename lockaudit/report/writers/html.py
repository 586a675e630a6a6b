"""The report as one self-contained HTML page: inline CSS, an inline SVG chart, no script.

The page opens from disk with no network: no fonts, images or scripts are fetched. The chart
draws one bar per image, its own layer (``BAR_COLOUR``) stacked on what it inherits from its
ancestors (``INHERITED_COLOUR``), from the file sizes recorded in the locks. The hierarchy is
nested lists, each image linking to its table.
"""

from __future__ import annotations

import re
from html import escape

from lockaudit.report._model import ImageReport, OutdatedReport, PackageStatus
from lockaudit.report.writers._common import (
    SECTIONS,
    days,
    human_size,
    image_title,
    notes,
    version,
)
from lockaudit.report.writers.monthly import sizes_html, upgrades_html

__all__ = ["BAR_COLOUR", "INHERITED_COLOUR", "render_html"]

BAR_COLOUR = "#1f6feb"  # the own-layer bars; the screenshot test looks for this colour
INHERITED_COLOUR = "#b6c6dc"

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#1b1f24}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.vulnerable td:first-child,.yanked td:first-child{background:#ffd7d5;font-weight:bold}
.blocked-major td:first-child,.blocked td:first-child{background:#fff1c2}
.major td:first-child,.minor td:first-child{background:#ddf4ff}
.current{color:#57606a}
ul.tree{list-style:none;padding-left:1.2em}ul.tree li{margin:.2em 0}
.badge{display:inline-block;border-radius:8px;padding:0 6px;margin-left:4px;font-size:.85em;
background:#eaeef2}
.badge.vulnerable,.badge.yanked{background:#ffd7d5}
.badge.blocked-major,.badge.blocked{background:#fff1c2}
svg text{font:12px system-ui,sans-serif;fill:#1b1f24}
"""

_ROW, _LABEL, _WIDTH = 26, 170, 760


def render_html(report: OutdatedReport) -> str:
    title = f"Dependency report {report.today:%Y-%m}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Index state as of {report.today.isoformat()}.</p>",
        _totals(report),
        "<h2>Size by image</h2>",
        _chart(report.images),
        _legend(),
        sizes_html(report),
        "<h2>Hierarchy</h2>",
        _tree(report.images),
    ]
    for image in report.images:
        parts.append(_image(image))
    if report.shared:
        parts.append("<h2>Pins no image installs</h2>")
        parts.append(_table(report.shared))
    parts.append(upgrades_html(report))
    parts.append(_advisories(report))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _totals(report: OutdatedReport) -> str:
    totals = report.totals()
    badges = "".join(
        f'<span class="badge {u.value}">{u.value}: {totals[u]}</span>'
        for u in SECTIONS
        if totals[u]
    )
    return f"<p>{badges}</p>"


def _chart(images: tuple[ImageReport, ...]) -> str:
    """Horizontal stacked bars; an image with no recorded sizes still gets a 1 px bar."""
    biggest = max((i.size + i.inherited for i in images), default=0) or 1
    height = _ROW * len(images) + 10
    rows: list[str] = []
    for number, image in enumerate(images):
        y = 5 + number * _ROW
        inherited = round(_WIDTH * image.inherited / biggest)
        own = max(1, round(_WIDTH * image.size / biggest))
        total = human_size(image.size + image.inherited)
        rows.append(
            f'<text x="{_LABEL - 8}" y="{y + 15}" text-anchor="end">{escape(image.key)}</text>'
            f'<rect x="{_LABEL}" y="{y}" width="{inherited}" height="{_ROW - 6}" '
            f'fill="{INHERITED_COLOUR}"/>'
            f'<rect x="{_LABEL + inherited}" y="{y}" width="{own}" height="{_ROW - 6}" '
            f'fill="{BAR_COLOUR}"><title>{escape(image.key)}: layer {human_size(image.size)}'
            f"</title></rect>"
            f'<text x="{_LABEL + inherited + own + 6}" y="{y + 15}">{escape(total)} '
            f"(layer {escape(human_size(image.size))})</text>"
        )
    width = _LABEL + _WIDTH + 170
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="download size by image">{"".join(rows)}</svg>'
    )


def _tree(images: tuple[ImageReport, ...]) -> str:
    keys = {image.key for image in images}
    roots = [i for i in images if i.parent is None or i.parent not in keys]
    return _branch(roots, images)


def _branch(level: list[ImageReport], images: tuple[ImageReport, ...]) -> str:
    if not level:
        return ""
    items = []
    for image in level:
        children = [i for i in images if i.parent == image.key]
        badges = "".join(
            f'<span class="badge {u.value}">{image.count(u)} {u.value}</span>'
            for u in SECTIONS[:-2]
            if image.count(u)
        )
        base = f" <small>FROM {escape(image.base_image)}</small>" if image.base_image else ""
        items.append(
            f'<li><a href="#{_anchor(image.key)}">{escape(image.key)}</a>{base}{badges}'
            f"{_branch(children, images)}</li>"
        )
    return f'<ul class="tree">{"".join(items)}</ul>'


def _anchor(key: str) -> str:
    return "image-" + "".join(c if c.isalnum() else "-" for c in key)


def _image(image: ImageReport) -> str:
    lock = f"lock <code>{escape(image.lock)}</code>" if image.lock else "no lock yet"
    return (
        f'<h2 id="{_anchor(image.key)}">{escape(image_title(image))}</h2>'
        f"<p>{escape(image.target)}. Layer {human_size(image.size)} on top of "
        f"{human_size(image.inherited)} inherited; {lock}.</p>" + _table(image.packages)
    )


def _table(packages: tuple[PackageStatus, ...]) -> str:
    head = (
        "<tr><th>status</th><th>package</th><th>pinned</th><th>newest</th><th>allowed</th>"
        "<th>held back by</th><th>pin age</th><th>newest age</th><th>notes</th></tr>"
    )
    rows = [
        f'<tr class="{p.urgency.value}"><td>{p.urgency.value}</td><td>{escape(p.name)}</td>'
        f"<td>{escape(str(p.current))}</td><td>{escape(version(p.newest))}</td>"
        f"<td>{escape(version(p.allowed))}</td><td>{_holds(p)}</td>"
        f"<td>{days(p.pin_age_days)}</td><td>{days(p.newest_age_days)}</td>"
        f"<td>{escape(notes(p))}</td></tr>"
        for p in packages
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def _holds(package: PackageStatus) -> str:
    """Every hold, one per line, with the Markdown-style `code` spans as <code>."""
    return "<br>".join(
        re.sub(r"`([^`]*)`", r"<code>\1</code>", escape(hold.describe())) for hold in package.holds
    )


def _legend() -> str:
    swatch = '<span style="display:inline-block;width:12px;height:12px;background:{}"></span>'
    return (
        f"<p><small>{swatch.format(BAR_COLOUR)} the image's own layer &nbsp; "
        f"{swatch.format(INHERITED_COLOUR)} inherited from its ancestors "
        "(download sizes of the locked files)</small></p>"
    )


def _advisories(report: OutdatedReport) -> str:
    rows = [
        f"<li><b>{escape(a.id)}</b>{escape(_aliases(a.aliases))}: {escape(p.name)} "
        f"{escape(str(p.current))} in {escape(key)}, "
        f"{escape(f'fixed in {a.fixed_in}' if a.fixed_in else 'no fixed release')}. "
        f"{escape(a.summary)}</li>"
        for key, p in report.all_packages()
        for a in p.advisories
    ]
    return f"<h2>Known vulnerabilities</h2><ul>{''.join(rows)}</ul>" if rows else ""


def _aliases(aliases: tuple[str, ...]) -> str:
    return f" ({', '.join(aliases)})" if aliases else ""
