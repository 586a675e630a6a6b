"""Reports over a workspace's pins: the monthly outdated report, what-if upgrades, unused deps.

Public surface (the CLI's ``outdated``, ``report``, ``whatif`` and ``unused`` commands call it)::

    outdated_report(workspace, source, vulns, today) -> OutdatedReport
    write_reports(report, reports_dir, month) -> tuple[Path, ...]     # YYYY-MM.{md,json,html}
    try_upgrades(workspace, source, report, count) -> OutdatedReport   # what-if of the top ones
    with_size_history(report, workspace) -> OutdatedReport             # reports/sizes.jsonl
    whatif(workspace, source, changes, stages=()) -> WhatIfReport
    unused_report(workspace, source, allow=()) -> UnusedReport
    load_allowlist(root) -> frozenset[str]                             # [tool.lockaudit.unused]
    render_markdown / render_json / render_html / render_table (OutdatedReport) -> str
    render_whatif_text, whatif_json, render_unused_text, unused_json

Everything computed is a frozen value (``_model``); the writers are pure functions of it, and
the date is a parameter, so the same index state gives the same bytes.
"""

from lockaudit.report._model import (
    Advisory,
    Hold,
    HoldKind,
    ImageOutcome,
    ImageReport,
    Move,
    OutdatedReport,
    PackageStatus,
    UnusedImage,
    UnusedReport,
    UpgradeTrial,
    Urgency,
    WhatIfReport,
)
from lockaudit.report.files import with_size_history, write_reports
from lockaudit.report.outdated import outdated_report
from lockaudit.report.unused import load_allowlist, unused_report
from lockaudit.report.upgrades import DEFAULT_UPGRADES, try_upgrades
from lockaudit.report.whatif import whatif
from lockaudit.report.writers import (
    outdated_json,
    render_html,
    render_json,
    render_markdown,
    render_table,
    render_unused_text,
    render_whatif_text,
    unused_json,
    whatif_json,
)

__all__ = [
    "DEFAULT_UPGRADES",
    "Advisory",
    "Hold",
    "HoldKind",
    "ImageOutcome",
    "ImageReport",
    "Move",
    "OutdatedReport",
    "PackageStatus",
    "UnusedImage",
    "UnusedReport",
    "UpgradeTrial",
    "Urgency",
    "WhatIfReport",
    "load_allowlist",
    "outdated_json",
    "outdated_report",
    "render_html",
    "render_json",
    "render_markdown",
    "render_table",
    "render_unused_text",
    "render_whatif_text",
    "try_upgrades",
    "unused_json",
    "unused_report",
    "whatif",
    "whatif_json",
    "with_size_history",
    "write_reports",
]
