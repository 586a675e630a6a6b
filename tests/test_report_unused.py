"""The unused-dependency review: installed but never imported, imported but never installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockaudit.errors import InputError
from lockaudit.report import load_allowlist, render_unused_text, unused_json, unused_report
from lockaudit.report.unused import python_files
from tests import test_report_workspace as support
from tests.test_report_workspace import ReportWorkspace

report_ws = support.report_ws  # the shared fixtures: compiled once per module, copied per test
_compiled = support._compiled


def test_copied_python_files_are_found(report_ws: ReportWorkspace) -> None:
    ws = report_ws.workspace
    assert python_files(ws, ws.image("asr:cuda")) == (
        "docker/asr/app/helpers.py",
        "docker/asr/app/main.py",
    )
    assert python_files(ws, ws.image("base:cuda")) == ()


def test_unused_and_missing(report_ws: ReportWorkspace) -> None:
    report = unused_report(report_ws.workspace, report_ws.client)
    by_key = {image.key: image for image in report.images}
    base = by_key["base:cuda"]
    # numpy and dotenv are imported by asr's files (a child image); transformers needs numpy.
    assert base.unused == ("requests", "soundfile", "tqdm")
    # base:cpu has no child with code: nothing it installs is imported.
    assert "numpy" in by_key["base:cpu"].unused
    asr = by_key["asr:cuda"]
    assert asr.files == 2
    assert asr.unused == ()  # transformers is imported; tokenizers is required by it
    assert [(name, str(loc)) for name, loc in asr.missing] == [("yaml", "docker/asr/app/main.py:4")]


def test_allow_list_silences_both_kinds(report_ws: ReportWorkspace) -> None:
    report = unused_report(report_ws.workspace, report_ws.client, allow=["requests", "yaml"])
    by_key = {image.key: image for image in report.images}
    assert "requests" not in by_key["base:cuda"].unused
    assert by_key["asr:cuda"].missing == ()
    assert "tqdm" in render_unused_text(report)
    assert unused_json(report)["images"][0]["image"] == "base:cuda"


def test_load_allowlist(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lockaudit.unused]\nallow = ["gunicorn", "google"]\n', encoding="utf-8"
    )
    assert load_allowlist(tmp_path) == frozenset({"gunicorn", "google"})


def test_load_allowlist_rejects_a_non_list(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lockaudit.unused]\nallow = "gunicorn"\n', encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        load_allowlist(tmp_path)
    assert str(info.value).startswith("pyproject.toml:2: ")


def test_a_copied_file_that_is_not_python_is_an_input_error(
    report_ws: ReportWorkspace,
) -> None:
    ws = report_ws.workspace
    ws.path("docker/asr/app/broken.py").write_text("import os\ndef (:\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        unused_report(ws, report_ws.client)
    assert str(info.value).startswith("docker/asr/app/broken.py:2: not valid Python")
