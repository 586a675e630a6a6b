"""Pure renderers of the report values: ``render_<format>(report) -> str``."""

from lockaudit.report.writers.html import render_html
from lockaudit.report.writers.json import (
    outdated_json,
    render_json,
    unused_json,
    whatif_json,
)
from lockaudit.report.writers.markdown import render_markdown
from lockaudit.report.writers.table import render_table, render_unused_text, render_whatif_text

__all__ = [
    "outdated_json",
    "render_html",
    "render_json",
    "render_markdown",
    "render_table",
    "render_unused_text",
    "render_whatif_text",
    "unused_json",
    "whatif_json",
]
