"""``whatif``: re-resolve the affected images with a change; report moves, breaks and why."""

from __future__ import annotations

import json

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from lockaudit.errors import InputError
from lockaudit.report import Move, render_whatif_text, whatif, whatif_json
from tests import test_report_workspace as support
from tests.test_report_workspace import ReportWorkspace

report_ws = support.report_ws  # the shared fixtures: compiled once per module, copied per test
_compiled = support._compiled


def _whatif(ws: ReportWorkspace, *changes: str, stages: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return whatif(ws.workspace, ws.client, [Requirement(c) for c in changes], stages)


def test_upgrade_blocked_by_a_constraint_breaks_and_skips_children(
    report_ws: ReportWorkspace,
) -> None:
    report = _whatif(report_ws, "torch==2.2.0")
    outcomes = {o.key: o for o in report.images}
    assert list(outcomes) == ["base-ml:cuda", "asr:cuda"]  # base images do not have torch
    broken = outcomes["base-ml:cuda"]
    assert broken.broken, "torch 2.2.0 contradicts torch<2.2"
    text = "\n".join(line for lines in broken.broken for line in lines)
    assert "constraints/cuda121.txt:3" in text
    assert outcomes["asr:cuda"].skipped == "the parent base-ml:cuda breaks"
    assert [o.key for o in report.broken] == ["base-ml:cuda", "asr:cuda"]


def test_stage_upgrade_held_by_the_parent_pin_names_the_parent(
    report_ws: ReportWorkspace,
) -> None:
    report = _whatif(report_ws, "transformers==4.40.0")
    (outcome,) = report.images
    assert outcome.key == "asr:cuda" and outcome.broken
    text = "\n".join(line for lines in outcome.broken for line in lines)
    assert "torch" in text
    rendered = render_whatif_text(report)
    assert "asr:cuda: BREAKS" in rendered


def test_upgrade_that_works_lists_the_moves_and_the_size_delta(
    report_ws: ReportWorkspace,
) -> None:
    report = _whatif(report_ws, "requests==2.31.0")
    outcomes = {o.key: o for o in report.images}
    assert set(outcomes) == {"base:cuda", "base:cpu", "base-ml:cuda", "asr:cuda"}
    assert all(o.ok for o in outcomes.values())
    move = Move("requests", Version("2.30.0"), Version("2.31.0"))  # type: ignore[arg-type]
    assert outcomes["base:cuda"].moves == (move,)
    assert outcomes["base:cpu"].moves == (move,)
    assert outcomes["asr:cuda"].moves == ()  # re-resolved on the new parent, nothing of its own
    assert report_ws.workspace.path("locks/base-cuda.txt").read_text().count("requests==2.30.0")
    data = json.loads(json.dumps(whatif_json(report)))
    assert data["ok"] is True
    assert isinstance(outcomes["base:cuda"].size_delta, int)


def test_stage_option_limits_the_change_to_that_image(report_ws: ReportWorkspace) -> None:
    report = _whatif(report_ws, "requests==2.31.0", stages=("asr",))
    (outcome,) = report.images
    assert outcome.key == "asr:cuda"
    assert outcome.broken, "requests is frozen by the parent layer"


def test_unknown_stage_is_an_input_error(report_ws: ReportWorkspace) -> None:
    with pytest.raises(InputError, match="no image named 'nope'"):
        _whatif(report_ws, "requests==2.31.0", stages=("nope",))
