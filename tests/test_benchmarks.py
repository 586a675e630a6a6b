"""The benchmark runner and the synthetic generator work (a smoke test, nothing is timed).

The runner is driven end to end on a tiny synthetic workspace over the loopback index: every
tool must succeed, the JSON result must carry the ratios the issue names, and the warm compile
must fetch less than the cold one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from benchmarks import run
from benchmarks.embedded import embedded_scenario, load_graph
from lockaudit.workspace.config import load_workspace
from tests.indexserver.synthetic import (
    SCALE_SERIES,
    SyntheticSpec,
    synthetic_scenario,
    write_workspace,
)

RATIOS = {
    "compile_all_warm_vs_uv",
    "compile_all_cold_vs_uv",
    "compile_all_vs_pip_compile",
    "check_seconds",
    "check_edit_seconds",
}


@pytest.mark.usefixtures("hermetic_pip")
def test_runner_measures_every_tool_on_a_tiny_workspace(tmp_path: Path) -> None:
    tools = [
        "lockaudit-compile-cold",
        "uv-cold",
        "pip-compile-cold",
        "lockaudit-compile-warm",
        "lockaudit-check",
        "lockaudit-check-edit",
    ]
    argv = ["--scenario", "synthetic-3x60", "--reps", "1", "--out", str(tmp_path), "--tools"]
    (record,) = run.main([*argv, *tools])

    failures = [(s["tool"], s["error"]) for s in record["samples"] if not s["ok"]]
    assert failures == []
    assert record["images"] == 3
    (written,) = tmp_path.glob("*-synthetic-3x60.json")
    saved = json.loads(written.read_text())
    assert set(saved["ratios"]) >= RATIOS
    assert saved["ratios"]["compile_all_cold_vs_uv"] > 0
    assert saved["ratios"]["check_seconds"] > 0
    assert saved["ratios"]["check_edit_seconds"] > 0
    assert "check after an edit under 0.3 s" in saved["targets"]
    by = {s["tool"]: s for s in saved["summary"]}
    assert by["lockaudit-compile-cold"]["bytes"] > 0
    assert by["lockaudit-compile-warm"]["bytes"] < by["lockaudit-compile-cold"]["bytes"]
    assert all(s["peak_rss_mb"] > 0 for s in saved["summary"])


def test_synthetic_workspace_requires_only_packages_of_its_index(tmp_path: Path) -> None:
    spec = SyntheticSpec(images=12, packages=300, traps=2)
    written = write_workspace(tmp_path, spec)
    workspace = load_workspace(tmp_path)
    index = synthetic_scenario(spec).index("default")

    assert [i.key for i in workspace.images] == list(written.images)
    assert len(written.images) == 12
    roots = [Requirement(line).name for lines in written.roots.values() for line in lines]
    assert all(index.project(name) is not None for name in roots)
    assert "syn-trap-1" in roots and "syn-guard-1" in roots
    assert len(index.projects) == 300


def test_synthetic_generation_is_deterministic_and_the_series_is_the_issues() -> None:
    spec = SyntheticSpec(images=5, packages=100, traps=1, seed=7)
    assert synthetic_scenario(spec) == synthetic_scenario(SyntheticSpec(**vars(spec)))
    assert synthetic_scenario(spec) != synthetic_scenario(SyntheticSpec(5, 100, traps=1, seed=8))
    assert [(s.images, s.packages) for s in SCALE_SERIES] == [(10, 500), (50, 2000), (200, 5000)]


def test_embedded_index_routes_the_torch_builds_like_the_pytorch_indexes() -> None:
    scenario = embedded_scenario(load_graph())
    cu121 = scenario.index("pytorch-cu121").project("torch")
    cpu = scenario.index("pytorch-cpu").project("torch")
    assert cu121 is not None and cpu is not None
    assert cu121.releases[0].version == "2.1.0+cu121"
    assert any(r.startswith("nvidia-") for r in cu121.releases[0].requires_dist)
    assert not any(r.startswith(("nvidia-", "triton")) for r in cpu.releases[0].requires_dist)
    assert scenario.index("default").project("pyannote.audio") is not None


@pytest.mark.usefixtures("hermetic_pip")
def test_runner_fails_and_writes_nothing_when_a_tool_run_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A requirement the index does not serve makes every compile fail for real: exit 1, no file."""
    write = run._workspace

    def unresolvable(scenario: str, spec: SyntheticSpec | None, dest: Path) -> Path:
        root = write(scenario, spec, dest)
        first = sorted(root.rglob("requirements*.txt"))[0]
        first.write_text(first.read_text() + "no-such-project-on-the-index==1.0\n")
        return root

    monkeypatch.setattr(run, "_workspace", unresolvable)
    out = tmp_path / "results"
    argv = ["--scenario", "synthetic-2x20", "--quick", "--out", str(out)]
    with pytest.raises(SystemExit) as exited:
        run.main([*argv, "--tools", "lockaudit-compile-cold", "uv-cold"])

    assert exited.value.code == 1
    assert not out.exists() or list(out.iterdir()) == []


def test_a_failed_warm_up_alone_counts_as_a_failed_run() -> None:
    ok = {"tool": "uv-warm", "ok": True}
    record = {"scenario": "embedded", "samples": [ok], "warmup_samples": [{**ok, "ok": False}]}
    assert run.failed_runs(record) == ["embedded: uv-warm failed"]
    assert run.failed_runs({**record, "warmup_samples": [ok]}) == []
