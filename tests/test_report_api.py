"""The public surface of ``lockaudit.report`` (what the CLI imports) stays put, and the pure
parts of the analysis (version steps, sort order) hold on small tables."""

from __future__ import annotations

import pytest
from packaging.version import Version

import lockaudit.report as report
from lockaudit.report import Urgency
from lockaudit.report.outdated import _step
from lockaudit.report.writers._common import human_size

EXPORTED = {
    "outdated_report",
    "write_reports",
    "whatif",
    "unused_report",
    "load_allowlist",
    "render_markdown",
    "render_json",
    "render_html",
    "render_table",
    "render_whatif_text",
    "render_unused_text",
    "whatif_json",
    "unused_json",
    "outdated_json",
}


def test_public_names_are_exported() -> None:
    assert set(report.__all__) >= EXPORTED
    for name in report.__all__:
        assert getattr(report, name) is not None


def test_urgency_order_is_what_matters_first() -> None:
    assert [u.value for u in sorted(Urgency, key=lambda u: u.rank)][:7] == [
        "vulnerable",
        "yanked",
        "blocked-major",
        "major",
        "blocked",
        "minor",
        "patch",
    ]


@pytest.mark.parametrize(
    ("old", "new", "step"),
    [
        ("1.24.3", "2.0.0", "major"),
        ("1.24.3", "1.26.4", "minor"),
        ("1.24.3", "1.24.4", "patch"),
        ("0.14.1", "0.19.1", "major"),  # semver: 0.x minors break
        ("0.14.1", "0.14.2", "patch"),
        ("2.1.0+cu121", "2.2.0+cu121", "minor"),
        ("4", "4.1", "minor"),
    ],
    ids=lambda v: str(v),
)
def test_step(old: str, new: str, step: str) -> None:
    assert _step(Version(old), Version(new)) == step


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (46_124, "45.0 KiB"), (2_500_000_000, "2.3 GiB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text
