"""``lockaudit report``: the month's report as three files, ``reports/YYYY-MM.{md,json,html}``.

The month comes in as a parameter (the CLI passes today's), so a scheduled job and a test get
the same names; the bytes depend only on the report. Files are replaced atomically (a temporary
file renamed over the old one), so a cancelled job never leaves half a report behind.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from lockaudit.errors import InputError, Location
from lockaudit.report._model import OutdatedReport
from lockaudit.report.trend import size_trends
from lockaudit.report.writers.html import render_html
from lockaudit.report.writers.json import render_json
from lockaudit.report.writers.markdown import render_markdown
from lockaudit.sizelog import SIZES_LOG, read_size_log
from lockaudit.workspace.model import Workspace

__all__ = ["with_size_history", "write_reports"]

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def write_reports(report: OutdatedReport, reports_dir: Path, month: str) -> tuple[Path, ...]:
    """Write ``<reports_dir>/<month>.md``, ``.json`` and ``.html``; return their paths."""
    if not _MONTH.fullmatch(month):
        raise InputError(Location("--month"), f"not a month like 2026-01: {month!r}")
    reports_dir.mkdir(parents=True, exist_ok=True)
    outputs = {
        f"{month}.md": render_markdown(report),
        f"{month}.json": render_json(report),
        f"{month}.html": render_html(report),
    }
    written = []
    for name, text in outputs.items():
        target = reports_dir / name
        _replace(target, text.encode("utf-8"))
        written.append(target)
    return tuple(written)


def with_size_history(report: OutdatedReport, workspace: Workspace) -> OutdatedReport:
    """``report`` with the built sizes ``lockaudit build`` logged in ``reports/sizes.jsonl``."""
    from dataclasses import replace

    records = read_size_log(workspace.path(SIZES_LOG))
    estimates = {image.key: image.size + image.inherited for image in report.images}
    order = [image.key for image in report.images]
    return replace(report, sizes=size_trends(records, estimates, order))


def _replace(target: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
