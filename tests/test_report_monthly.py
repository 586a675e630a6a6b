"""The monthly report's own sections, on the report workspace compiled against the loopback
index: the what-if of the top upgrades, and built sizes against the locks' estimates.

The browser check of the trend chart is in ``tests/test_report_html.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.errors import InputError
from lockaudit.report import (
    OutdatedReport,
    outdated_report,
    render_html,
    render_json,
    render_markdown,
    try_upgrades,
    with_size_history,
)
from lockaudit.report.upgrades import top_upgrades
from lockaudit.report.writers.monthly import GROWTH_COLOUR, TREND_COLOUR
from lockaudit.sizelog import SIZES_LOG, LayerSize, SizeRecord, append_records
from tests import test_report_workspace as support
from tests.test_report_workspace import ReportWorkspace

report_ws = support.report_ws  # the shared fixtures: compiled once per module, copied per test
_compiled = support._compiled

TODAY = date(2026, 12, 1)
MB = 1 << 20


def _report(ws: ReportWorkspace) -> OutdatedReport:
    return outdated_report(ws.workspace, ws.client, ws.vulns(), TODAY)


# ------------------------------------------------------------------------------ what-if


def test_top_upgrades_are_the_worst_first_one_per_package(report_ws: ReportWorkspace) -> None:
    report = _report(report_ws)
    chosen = top_upgrades(report, 3)
    assert [(key, p.name, p.urgency.value) for key, p in chosen] == [
        ("base:cuda", "requests", "vulnerable"),
        ("base:cuda", "tqdm", "yanked"),
        ("base:cuda", "numpy", "blocked-major"),  # base:cpu pins it too: tried once
    ]
    assert len(top_upgrades(report, 50)) == len({p.name for _, p in top_upgrades(report, 50)})
    assert top_upgrades(report, 0) == ()


def test_report_carries_the_what_if_of_the_top_upgrades(report_ws: ReportWorkspace) -> None:
    report = try_upgrades(report_ws.workspace, report_ws.client, _report(report_ws), 2)
    requests, tqdm = report.upgrades
    assert requests.change == "requests==2.31.0"
    assert not requests.result.broken
    base = next(i for i in requests.result.images if i.key == "base:cuda")
    assert [(m.name, str(m.before), str(m.after)) for m in base.moves] == [
        ("requests", "2.30.0", "2.31.0")
    ]
    assert tqdm.change.startswith("tqdm==")

    markdown = render_markdown(report)
    assert "## What-if for the top upgrades" in markdown
    assert "### requests 2.30.0 → 2.31.0 (base:cuda, vulnerable)" in markdown
    assert "| base:cuda | ok, layer " in markdown and "requests 2.30.0 → 2.31.0" in markdown
    data = json.loads(render_json(report))
    assert [u["change"] for u in data["upgrades"]] == [requests.change, tqdm.change]
    assert data["upgrades"][0]["whatif"]["ok"] is True
    assert data["upgrades"][0]["whatif"]["schema"] == "lockaudit-whatif/1"
    assert "What-if for the top upgrades" in render_html(report)
    # The report without them is what `lockaudit outdated` prints: nothing added.
    plain = replace(report, upgrades=())
    assert "What-if" not in render_markdown(plain) and "upgrades" not in render_json(plain)


def test_a_blocked_upgrade_names_its_hold_next_to_the_what_if(report_ws: ReportWorkspace) -> None:
    report = _report(report_ws)
    numpy = next(p for k, p in top_upgrades(report, 3) if p.name == "numpy")
    tried = try_upgrades(report_ws.workspace, report_ws.client, report, 3)
    section = render_markdown(tried).split("### numpy", 1)[1]
    assert section.startswith(f" {numpy.current} → 2.0.0 (base:cuda, blocked-major)")
    assert "Held back by `numpy<2` at constraints/cuda121.txt:2" in section
    # Every image the change touches is in the table, whatever the what-if decides for it:
    # a row of its own when something moves or breaks, else in the row it shares.
    result = tried.upgrades[2].result
    assert {"base:cuda", "base:cpu"} <= {i.key for i in result.images}
    table = re.split(r"\n\n#+ ", section, maxsplit=1)[0]
    for image in result.images:
        own = f"| {image.key} | " in table
        shared = any(
            re.match(r"\| \d+ images? \|", line) and image.key in line.split(" | ")[-1]
            for line in table.splitlines()
        )
        assert own != shared, image.key
        assert own == bool(image.moves or image.broken or image.size_delta), image.key


# -------------------------------------------------------------------------------- sizes


def _record(image: str, size: int, estimate: int, lock: str, when: str) -> SizeRecord:
    return SizeRecord(
        built_at=when,
        image=image,
        ref=f"example/lat-{image}",
        id="sha256:0",
        platform="linux/amd64",
        lock=f"locks/{image.replace(':', '-')}.txt",
        lock_digest=lock,
        inputs_digest="sha256:1",
        estimate_layer=estimate,
        estimate_total=estimate,
        size=size,
        layers=(LayerSize(size, "RUN pip install"),),
    )


def write_size_log(root: Path) -> None:
    """Three builds of each image; asr:cuda grows 200 MB at the last with the same lock."""
    records = []
    for number, when in enumerate(("2026-10-01", "2026-11-01", "2026-12-01")):
        for image, base in (("base:cuda", 300), ("base:cpu", 200), ("base-ml:cuda", 900)):
            records.append(
                _record(image, (base + number) * MB, 50 * MB, "sha256:a", f"{when}T06:00:00Z")
            )
        grown = 200 * MB if number == 2 else 0
        records.append(
            _record("asr:cuda", 1200 * MB + grown, 60 * MB, "sha256:b", f"{when}T06:00:00Z")
        )
    append_records(root / SIZES_LOG, records)


def test_report_shows_estimate_vs_built_and_flags_unexplained_growth(
    report_ws: ReportWorkspace,
) -> None:
    write_size_log(report_ws.workspace.root)
    report = with_size_history(_report(report_ws), report_ws.workspace)
    assert [s.key for s in report.sizes] == ["base:cuda", "base:cpu", "base-ml:cuda", "asr:cuda"]
    asr = report.sizes[-1]
    image = next(i for i in report.images if i.key == "asr:cuda")
    assert asr.estimate == image.size + image.inherited  # the locks' downloads today
    assert [g.after.built_at[:10] for g in asr.growths] == ["2026-12-01"]
    assert all(not s.growths for s in report.sizes[:-1])  # 1 MB a month: noise

    markdown = render_markdown(report)
    assert "## Image sizes: estimate vs built" in markdown
    assert "| asr:cuda | " in markdown and "1.4 GiB (2026-12-01)" in markdown
    assert "1.2 GiB → 1.2 GiB → 1.4 GiB" in markdown
    assert (
        "- asr:cuda: grew 200.0 MiB from 2026-11-01 to 2026-12-01; its lock did not change"
        in markdown
    )
    data = json.loads(render_json(report))
    sizes = {s["image"]: s for s in data["sizes"]}
    assert [b["size"] for b in sizes["asr:cuda"]["builds"]] == [1200 * MB, 1200 * MB, 1400 * MB]
    assert sizes["asr:cuda"]["grew_unexplained"][0]["grown"] == 200 * MB
    assert sizes["base:cpu"]["grew_unexplained"] == []
    assert sizes["asr:cuda"]["estimate"] == 60 * MB  # what the built lock downloads
    assert sizes["asr:cuda"]["estimate_now"] == asr.estimate
    assert "| asr:cuda | 60.0 MiB | 1.4 GiB (2026-12-01) | 23.3 x | 3 |" in markdown

    page = render_html(report)
    assert page.count(f'stroke="{TREND_COLOUR}"') == 4  # one trend line per image
    assert page.count(f'fill="{GROWTH_COLOUR}"') == 1  # the one flagged build
    assert page.index("Built size over time") < page.index("<h2>Hierarchy</h2>")


def test_no_size_log_no_size_section(report_ws: ReportWorkspace) -> None:
    report = with_size_history(_report(report_ws), report_ws.workspace)
    assert report.sizes == ()
    assert "Image sizes" not in render_markdown(report)
    assert "Built size over time" not in render_html(report)


def test_a_bad_size_log_is_an_input_error_at_its_line(report_ws: ReportWorkspace) -> None:
    write_size_log(report_ws.workspace.root)
    log = report_ws.workspace.path(SIZES_LOG)
    log.write_text(log.read_text() + '{"schema": "lockaudit-sizes/1", "size": 3}\n')
    with pytest.raises(InputError) as caught:
        with_size_history(_report(report_ws), report_ws.workspace)
    assert str(caught.value.location) == f"{SIZES_LOG}:13"


def test_cli_report_writes_both_sections_and_refuses_a_bad_log(
    report_ws: ReportWorkspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", report_ws.server.index_url("default"))
    monkeypatch.setenv("LOCKAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    root = report_ws.workspace.root
    write_size_log(root)
    out = tmp_path / "out"
    args = ["report", "-w", str(root), "--dir", str(out), "--upgrades", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    month = f"{date.today():%Y-%m}"
    markdown = (out / f"{month}.md").read_text()
    assert "### requests 2.30.0 → 2.31.0" in markdown
    assert "## Image sizes: estimate vs built" in markdown
    assert markdown.count("### ") == 1  # --upgrades 1

    log = root / SIZES_LOG
    log.write_text("{not json\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2
    assert f"{SIZES_LOG}:1:" in bad.output and "Traceback" not in bad.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing half-written
