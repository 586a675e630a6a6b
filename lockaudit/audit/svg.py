"""The image hierarchy as an SVG picture: one box per image, sizes and duplicated bytes.

The layout is the indented tree the maintainers drew by hand: one row per image in depth-first
order, children indented under their parent and joined to it by an elbow line. No library: the
picture is a few rectangles and text lines, so it is written directly (text is XML-escaped).
Boxes of images with duplicated bytes are outlined in red; unverified images are dashed.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from lockaudit.audit.sizes import ImageSize, SizeReport, format_bytes
from lockaudit.workspace.model import Workspace

__all__ = ["hierarchy_svg"]

_ROW, _INDENT, _BOX_W, _BOX_H, _MARGIN = 56, 36, 330, 44, 16


def hierarchy_svg(workspace: Workspace, sizes: SizeReport) -> str:
    """An SVG document of the workspace's image tree with per-image sizes."""
    rows: list[tuple[int, str]] = []  # (depth, image key), depth-first

    def walk(key: str, depth: int) -> None:
        rows.append((depth, key))
        for child in workspace.children(key):
            walk(child.key, depth + 1)

    for image in workspace.images:
        if image.parent is None:
            walk(image.key, 0)
    by_key = {item.image: item for item in sizes.images}
    position = {key: index for index, (_, key) in enumerate(rows)}
    depth_of = {key: depth for depth, key in rows}
    deepest = max((depth for depth, _ in rows), default=0)
    width = 2 * _MARGIN + deepest * _INDENT + _BOX_W
    height = 2 * _MARGIN + 30 + len(rows) * _ROW
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<text x="{_MARGIN}" y="{_MARGIN + 12}" font-weight="bold">image hierarchy: '
        f"{format_bytes(sizes.duplicated)} duplicated across layers</text>",
    ]
    for _, key in rows:
        image = workspace.image(key)
        if image.parent is not None and image.parent in position:
            parts.append(_edge(depth_of[image.parent], position[image.parent], position[key]))
    for depth, key in rows:
        parts.append(_box(depth, position[key], key, by_key.get(key)))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _top(row: int) -> int:
    return _MARGIN + 30 + row * _ROW


def _edge(parent_depth: int, parent_row: int, row: int) -> str:
    x = _MARGIN + parent_depth * _INDENT + _INDENT // 2
    y1, y2 = _top(parent_row) + _BOX_H, _top(row) + _BOX_H // 2
    x2 = _MARGIN + (parent_depth + 1) * _INDENT
    return f'<path d="M{x},{y1} V{y2} H{x2}" fill="none" stroke="#888"/>'


def _box(depth: int, row: int, key: str, size: ImageSize | None) -> str:
    x, y = _MARGIN + depth * _INDENT, _top(row)
    duplicated = size is not None and size.duplicated > 0
    stroke = "#c0392b" if duplicated else "#34495e"
    dash = ' stroke-dasharray="4 3"' if size is not None and not size.complete else ""
    if size is None:
        detail = "not replayed"
    else:
        detail = f"{format_bytes(size.total)} total, +{format_bytes(size.own)} own"
        if duplicated:
            detail += f", {format_bytes(size.duplicated)} duplicated"
        if not size.complete:
            detail += " (unverified)"
    return (
        f'<g><rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="6" fill="#f7f9fb" '
        f'stroke="{stroke}"{dash}/>'
        f'<text x="{x + 10}" y="{y + 18}" font-weight="bold">{escape(key)}</text>'
        f'<text x="{x + 10}" y="{y + 35}" fill="{stroke}">{escape(detail)}</text></g>'
    )
