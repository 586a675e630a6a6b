"""The monthly outdated report against the loopback index: facts, order, goldens, files.

Golden files live in ``tests/golden/``; after an intended change of the output, regenerate them
with ``UPDATE_GOLDEN=1 pytest tests/test_report_outdated.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest
from packaging.version import Version

from lockaudit.errors import InputError
from lockaudit.report import (
    HoldKind,
    OutdatedReport,
    PackageStatus,
    Urgency,
    outdated_report,
    render_json,
    render_markdown,
    render_table,
    write_reports,
)
from tests import test_report_workspace as support
from tests.test_report_workspace import ReportWorkspace

report_ws = support.report_ws  # the shared fixtures: compiled once per module, copied per test
_compiled = support._compiled

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # read at import: fixtures clear the env
TODAY = date(2026, 11, 29)


def _report(ws: ReportWorkspace) -> OutdatedReport:
    return outdated_report(ws.workspace, ws.client, ws.vulns(), TODAY)


def _package(report: OutdatedReport, image: str, name: str) -> PackageStatus:
    found = next(i for i in report.images if i.key == image)
    return next(p for p in found.packages if p.name == name)


def test_blocked_package_names_the_exact_constraint_line(report_ws: ReportWorkspace) -> None:
    numpy = _package(_report(report_ws), "base:cuda", "numpy")
    assert numpy.urgency is Urgency.BLOCKED_MAJOR
    assert (numpy.current, numpy.newest, numpy.allowed) == (
        Version("1.24.3"),
        Version("2.0.0"),
        Version("1.26.4"),
    )
    first = numpy.holds[0]
    assert first.kind is HoldKind.CONSTRAINT
    assert (str(first.location), first.text) == ("constraints/cuda121.txt:2", "numpy<2")


def test_cpu_image_has_no_cuda_constraint(report_ws: ReportWorkspace) -> None:
    numpy = _package(_report(report_ws), "base:cpu", "numpy")
    assert numpy.urgency is Urgency.MAJOR
    assert numpy.allowed == Version("2.0.0") and numpy.holds == ()


def test_yanked_pin(report_ws: ReportWorkspace) -> None:
    tqdm = _package(_report(report_ws), "base:cuda", "tqdm")
    assert tqdm.urgency is Urgency.YANKED
    assert tqdm.yanked == "broken progress bars"
    assert tqdm.newest == Version("4.66.1")


def test_vulnerable_pin_with_its_fixed_version(report_ws: ReportWorkspace) -> None:
    requests = _package(_report(report_ws), "base:cuda", "requests")
    assert requests.urgency is Urgency.VULNERABLE
    (advisory,) = requests.advisories
    assert advisory.id == "PYSEC-2023-74"
    assert advisory.aliases == ("CVE-2023-32681",)
    assert advisory.fixed_in == Version("2.31.0")


def test_release_held_by_the_parent_image_pin(report_ws: ReportWorkspace) -> None:
    transformers = _package(_report(report_ws), "asr:cuda", "transformers")
    assert transformers.urgency is Urgency.BLOCKED
    parent = next(h for h in transformers.holds if h.kind is HoldKind.PARENT)
    assert parent.text == "torch==2.1.0+cu121" and parent.need == "torch>=2.2"
    assert parent.location is not None and parent.location.path == "locks/base-ml-cuda.txt"
    needs = next(h for h in transformers.holds if h.kind is HoldKind.NEEDS)
    assert str(needs.location) == "constraints/cuda121.txt:3"


def test_release_held_by_an_installed_requirer(report_ws: ReportWorkspace) -> None:
    tokenizers = _package(_report(report_ws), "asr:cuda", "tokenizers")
    (hold,) = tokenizers.holds
    assert (hold.kind, hold.package) == (HoldKind.REQUIRER, "transformers")
    assert hold.text == "tokenizers<0.15,>=0.14"
    assert tokenizers.urgency is Urgency.BLOCKED_MAJOR  # 0.14 -> 0.19 is a major step


def test_pins_grouped_by_installing_layer_worst_first(report_ws: ReportWorkspace) -> None:
    report = _report(report_ws)
    assert [i.key for i in report.images] == ["base:cuda", "base:cpu", "base-ml:cuda", "asr:cuda"]
    base = report.images[0]
    assert [p.name for p in base.packages] == [
        "requests",
        "tqdm",
        "numpy",
        "python-dotenv",
        "soundfile",
    ]
    asr = report.images[-1]
    assert "numpy" not in {p.name for p in asr.packages}  # reported under base:cuda only
    assert asr.inherited == base.size + report.images[2].size


def test_pin_sources_include_lock_and_declaring_files(report_ws: ReportWorkspace) -> None:
    numpy = _package(_report(report_ws), "base:cuda", "numpy")
    paths = [location.path for location in numpy.pinned_at]
    assert paths[0] == "locks/base-cuda.txt"
    assert "requirements-common.txt" in paths


def test_ages_count_days_from_the_report_date(report_ws: ReportWorkspace) -> None:
    numpy = _package(_report(report_ws), "base:cuda", "numpy")
    assert numpy.pin_age_days == (TODAY - date(2023, 10, 4)).days  # the test index's date


@pytest.mark.parametrize(
    ("name", "render"),
    [("report.md", render_markdown), ("report.json", render_json)],
    ids=["markdown", "json"],
)
def test_golden(report_ws: ReportWorkspace, name: str, render: object) -> None:
    assert callable(render)
    text = render(_report(report_ws))
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_same_index_state_same_bytes(report_ws: ReportWorkspace) -> None:
    first, second = _report(report_ws), _report(report_ws)
    assert render_json(first) == render_json(second)
    assert render_markdown(first) == render_markdown(second)


def test_json_is_parseable_and_versioned(report_ws: ReportWorkspace) -> None:
    data = json.loads(render_json(_report(report_ws)))
    assert data["schema"] == "lockaudit-report/1"
    assert data["totals"]["vulnerable"] == 2  # requests on both base images
    numpy = next(p for p in data["images"][0]["packages"] if p["name"] == "numpy")
    assert numpy["held_by"][0]["location"] == "constraints/cuda121.txt:2"


def test_table_shows_the_hold(report_ws: ReportWorkspace) -> None:
    text = render_table(_report(report_ws))
    assert "`numpy<2` at constraints/cuda121.txt:2" in text


def test_write_reports_writes_three_files(report_ws: ReportWorkspace, tmp_path: Path) -> None:
    paths = write_reports(_report(report_ws), tmp_path / "reports", "2026-11")
    assert [p.name for p in paths] == ["2026-11.md", "2026-11.json", "2026-11.html"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_text(encoding="utf-8").startswith("# Dependency report 2026-11")


def test_write_reports_rejects_a_bad_month(tmp_path: Path) -> None:
    report = OutdatedReport(today=TODAY, images=())
    with pytest.raises(InputError, match="not a month"):
        write_reports(report, tmp_path, "2026-13")
