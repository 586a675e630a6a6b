"""The HTML report: one self-contained file, and it renders (headless Chromium screenshot).

The screenshot test needs Debian's ``chromium`` (``apt-get install -y chromium``); it skips
with that reason when the browser is absent. The PNG is decoded here with zlib and struct (no
imaging library): the test counts pixels of the chart's bar colour.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from datetime import date
from pathlib import Path

import pytest

from lockaudit.report import outdated_report, render_html
from lockaudit.report.writers.html import BAR_COLOUR, INHERITED_COLOUR
from tests import test_report_workspace as support
from tests.test_report_workspace import ReportWorkspace

report_ws = support.report_ws  # the shared fixtures: compiled once per module, copied per test
_compiled = support._compiled

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1200,900",
)


def _html(ws: ReportWorkspace) -> str:
    return render_html(outdated_report(ws.workspace, ws.client, ws.vulns(), date(2026, 11, 29)))


def test_page_is_self_contained(report_ws: ReportWorkspace) -> None:
    page = _html(report_ws)
    assert "<script" not in page
    # Nothing to fetch: no src= at all, and the only URL is the SVG namespace.
    assert "src=" not in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]
    assert page.count(f'fill="{BAR_COLOUR}"') == 4  # one bar per image
    assert '<a href="#image-asr-cuda">asr:cuda</a>' in page  # the hierarchy links its tables
    assert "<code>numpy&lt;2</code> at constraints/cuda121.txt:2" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and the unfiltered rows of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG layout"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            corner = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def _count(rows: list[bytes], bpp: int, colour: str) -> int:
    rgb = bytes.fromhex(colour.lstrip("#"))
    return sum(1 for row in rows for i in range(0, len(row), bpp) if row[i : i + 3] == rgb)


def test_chart_renders_in_headless_chromium(report_ws: ReportWorkspace, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    page = tmp_path / "report.html"
    page.write_text(_html(report_ws), encoding="utf-8")
    shot = tmp_path / "shot.png"
    command = [
        browser,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
    width, height, bpp, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)
    bars = _count(rows, bpp, BAR_COLOUR)
    inherited = _count(rows, bpp, INHERITED_COLOUR)
    # The bars are hundreds of pixels wide and 20 high; the legend's swatch is only 12x12.
    assert bars > 2000, f"only {bars} pixels of the bar colour"
    assert inherited > 1000, f"only {inherited} pixels of the inherited colour"


def test_size_trend_renders_in_headless_chromium(
    report_ws: ReportWorkspace, tmp_path: Path
) -> None:
    """The built-size trend (``reports/sizes.jsonl``) draws one line per image, and the build
    that grew more than its lock explains stands out in its own colour."""
    from lockaudit.report import with_size_history
    from lockaudit.report.writers.monthly import GROWTH_COLOUR, TREND_COLOUR
    from tests.test_report_monthly import write_size_log

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    write_size_log(report_ws.workspace.root)
    report = outdated_report(
        report_ws.workspace, report_ws.client, report_ws.vulns(), date(2026, 12, 1)
    )
    page = tmp_path / "report.html"
    page.write_text(render_html(with_size_history(report, report_ws.workspace)), encoding="utf-8")
    shot = tmp_path / "shot.png"
    command = [
        browser,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
    _, _, bpp, rows = _png_pixels(shot.read_bytes())
    # Four lines 520 px long and 3 px wide, the dots on them; the legend's dot is a glyph.
    trend = _count(rows, bpp, TREND_COLOUR)
    assert trend > 3000, f"only {trend} pixels of the trend colour"
    growth = _count(rows, bpp, GROWTH_COLOUR)
    assert 20 < growth < 400, f"{growth} pixels of the growth colour (one dot of radius 5)"
    assert _count(rows, bpp, BAR_COLOUR) > 2000  # the download chart above is still drawn
