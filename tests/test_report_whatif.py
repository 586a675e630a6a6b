"""``whatif``: re-resolve the affected images with a change; report moves, breaks and why."""

from __future__ import annotations

import json

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from lockaudit.errors import InputError, LockauditError
from lockaudit.locks import read_lock
from lockaudit.report import Move, render_whatif_text, whatif, whatif_json
from lockaudit.report.whatif_write import planned_edits, write_whatif
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace
from tests import test_report_workspace as support
from tests.test_report_workspace import ReportWorkspace

report_ws = support.report_ws  # the shared fixtures: compiled once per module, copied per test
_compiled = support._compiled


def _whatif(  # type: ignore[no-untyped-def]
    ws: ReportWorkspace, *changes: str, stages: tuple[str, ...] = (), keep: bool = False
):
    return whatif(
        ws.workspace, ws.client, [Requirement(c) for c in changes], stages, keep_constraints=keep
    )


def test_upgrade_blocked_by_a_kept_constraint_breaks_and_skips_children(
    report_ws: ReportWorkspace,
) -> None:
    report = _whatif(report_ws, "torch==2.2.0", keep=True)
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


def test_a_whatif_lifts_the_constraint_it_contradicts_and_says_which_line(
    report_ws: ReportWorkspace,
) -> None:
    """Asking for torch 2.2.0 tries torch 2.2.0: the constraint torch<2.2 is set aside, named."""
    report = _whatif(report_ws, "torch==2.2.0")
    replaced = [(str(r.location), r.requirement, r.kind) for r in report.replaced]
    assert ("constraints/cuda121.txt:3", "torch<2.2", "constraint") in replaced
    outcomes = {o.key: o for o in report.images}
    assert outcomes["base-ml:cuda"].ok, outcomes["base-ml:cuda"].broken
    moves = {m.name: m for m in outcomes["base-ml:cuda"].moves}
    assert moves["torch"].after is not None and moves["torch"].after.public == "2.2.0"
    text = render_whatif_text(report)
    assert "constraints/cuda121.txt:3 torch<2.2" in text
    assert all(r.requirement.startswith("torch") for r in report.replaced)
    data = whatif_json(report)
    assert {
        "path": "constraints/cuda121.txt",
        "line": 3,
        "requirement": "torch<2.2",
        "kind": "constraint",
        "why": None,
    } in data["replaced"]


def test_write_puts_the_change_into_the_lines_it_replaced_and_relocks(
    report_ws: ReportWorkspace,
) -> None:
    """--write edits exactly the replaced lines (the rest byte-identical), then compiles."""
    root = report_ws.workspace.root
    before = {p: (root / p).read_bytes() for p in _EDITED}
    changes = [Requirement("torch==2.2.0")]
    report = whatif(report_ws.workspace, report_ws.client, changes)
    written, compiled = write_whatif(report_ws.workspace, report_ws.client, report, changes)
    assert sorted(written) == sorted(_EDITED)
    assert compiled.ok, [r.reason for r in compiled.results]
    for path, old in before.items():
        new = (root / path).read_bytes()
        changed = [
            (a, b) for a, b in zip(old.split(b"\n"), new.split(b"\n"), strict=True) if a != b
        ]
        assert len(changed) == 1, (path, changed)  # one line, the rest byte for byte
        assert changed[0][1] == b"torch==2.2.0", (path, changed)
    lock = read_lock(root / "locks/base-ml-cuda.txt")
    assert str(lock.package("torch").version) == "2.2.0+cu121"  # type: ignore[union-attr]
    assert [f for f in run_checks(load_workspace(root)) if f.rule == "lock-stale"] == []


_EDITED = ("constraints/cuda121.txt", "docker/base-ml/requirements.txt", "versions.txt")


def test_write_refuses_a_change_no_input_line_names(report_ws: ReportWorkspace) -> None:
    root = report_ws.workspace.root
    before = {p.name: p.read_bytes() for p in (root / "locks").iterdir()}
    changes = [Requirement("filelock==3.12.0")]
    report = whatif(report_ws.workspace, report_ws.client, changes, ("asr",))
    with pytest.raises(LockauditError, match="no input file of the workspace names"):
        write_whatif(report_ws.workspace, report_ws.client, report, changes)
    assert {p.name: p.read_bytes() for p in (root / "locks").iterdir()} == before


def test_write_refuses_a_change_that_breaks(report_ws: ReportWorkspace) -> None:
    changes = [Requirement("torch==2.2.0")]
    report = whatif(report_ws.workspace, report_ws.client, changes, keep_constraints=True)
    with pytest.raises(LockauditError, match="nothing written"):
        planned_edits(report_ws.workspace, report, changes)


def test_a_lifted_constraint_shows_the_reason_written_above_it(report_ws: ReportWorkspace) -> None:
    report = _whatif(report_ws, "numpy==2.0.0")
    (limit,) = [r for r in report.replaced if r.kind == "constraint"]
    assert (str(limit.location), limit.requirement) == ("constraints/cuda121.txt:2", "numpy<2")
    assert limit.why == "CUDA 12.1 wheels are built against numpy 1.x"
    assert "numpy<2  (CUDA 12.1 wheels are built against numpy 1.x)" in render_whatif_text(report)
