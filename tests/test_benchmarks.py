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


def _fake_tool(path: Path, body: str) -> str:
    """A stand-in baseline program: answers ``--version``, then does what ``body`` says."""
    path.write_text(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo fake 0.0; exit 0; }}\n{body}\n')
    path.chmod(0o755)
    return str(path)


@pytest.mark.usefixtures("hermetic_pip")
@pytest.mark.parametrize(
    ("body", "said"),
    [("echo 'no solution' >&2; exit 1", "no solution"), ("exit 0", "exited 0 but wrote no")],
    ids=["exits-1", "exits-0-writes-nothing"],
)
def test_runner_fails_and_writes_nothing_when_a_baseline_program_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, said: str
) -> None:
    """A failing uv (or one that claims success and writes no output) fails the whole run,
    although the real lockaudit and pip-compile runs beside it succeed."""
    uv = _fake_tool(tmp_path / "uv", body)
    out = tmp_path / "results"
    argv = ["--scenario", "synthetic-2x20", "--quick", "--out", str(out), "--uv", uv]
    with pytest.raises(SystemExit) as exited:
        run.main([*argv, "--tools", "lockaudit-compile-cold", "uv-cold", "pip-compile-cold"])

    assert exited.value.code == 1
    assert not out.exists() or list(out.iterdir()) == []
    printed = capsys.readouterr()
    assert "synthetic-2x20: uv-cold failed" in printed.err
    assert said in printed.out
    assert "rep 1 lockaudit-compile-cold" in printed.out and "FAILED" in printed.out


@pytest.mark.usefixtures("hermetic_pip")
def test_a_pip_compile_time_out_is_recorded_as_such_not_as_a_failure(tmp_path: Path) -> None:
    argv = ["--scenario", "synthetic-2x20", "--quick", "--out", str(tmp_path), "--timeout", "0.2"]
    (record,) = run.main([*argv, "--tools", "lockaudit-compile-cold", "pip-compile-cold"])

    (sample,) = [s for s in record["samples"] if s["tool"] == "pip-compile-cold"]
    assert sample["timed_out"] and not sample["ok"]
    assert sample["seconds"] < 5  # killed at the budget, its children with it
    by = {s["tool"]: s for s in record["summary"]}
    assert by["pip-compile-cold"]["timed_out"] == 1 and by["pip-compile-cold"]["failed"] == 0
    assert by["pip-compile-cold"]["timed_out_after_s"] is not None
    assert "timed out" in record["ratio_bounds"]["compile_all_vs_pip_compile"]
    assert record["ratios"]["compile_all_vs_pip_compile"] > 0  # over the budget: a bound
    assert list(tmp_path.glob("*-synthetic-2x20.json"))


@pytest.mark.usefixtures("hermetic_pip")
def test_results_record_every_tools_inputs_so_a_reader_can_repeat_the_run(tmp_path: Path) -> None:
    tools = [
        "lockaudit-compile-cold",
        "uv-cold",
        "lockaudit-compile-offline",
        "uv-offline",
        "lockaudit-compile-noop",
        "uv-noop",
        "lockaudit-check",
    ]
    argv = ["--scenario", "synthetic-3x40", "--quick", "--out", str(tmp_path / "out"), "--tools"]
    (record,) = run.main([*argv, *tools])
    written = next((tmp_path / "out").glob("*-synthetic-3x40.json")).read_text()
    inputs = json.loads(written)["inputs"]

    assert set(inputs["tools"]) == set(tools)
    # The workspace is regenerated byte for byte from the recorded scenario.
    again = run._workspace("synthetic-3x40", run._synthetic_spec("synthetic-3x40"), tmp_path / "w")
    assert inputs["workspace_files_sha256"] == run.file_digests(again, skip=("locks",))
    # uv got one invocation per image, in build order, each image's requirement files as input.
    model = load_workspace(again)
    uv_runs = inputs["tools"]["uv-cold"]
    assert len(uv_runs) == len(model.images) == 3
    for image, invocation in zip(model.images, uv_runs, strict=True):
        command = invocation["command"]
        assert command[:3] == ["uv", "pip", "compile"]
        assert all(f"$WORKSPACE/{path}" in command for path in image.requirements)
        assert f"$SCRATCH/out-uv/{image.slug}.txt" in command
        assert command[command.index("--index-url") + 1] == "$LOOPBACK/default/simple"
    assert "--offline" in inputs["tools"]["uv-offline"][0]["command"]
    (offline,) = inputs["tools"]["lockaudit-compile-offline"]
    assert offline["command"][:5] == ["python", "-m", "lockaudit", "compile", "--all"]
    assert "--offline" in offline["command"]
    assert offline["env"] == {"LOCKAUDIT_CACHE_DIR": "$SCRATCH/cache-lockaudit"}
    assert inputs["environment"]["PIP_CONFIG_FILE"] == "$SCRATCH/pip.conf"
    # Nothing of this machine's run is left: no temporary directory, no loopback port.
    assert "lockaudit-bench-" not in json.dumps(inputs) and "127.0.0.1" not in written
    assert record["machine"]["uptime_before"].count("load average") == 1
    assert record["ratios"]["compile_noop_seconds"] > 0


def test_redaction_replaces_the_longest_value_first() -> None:
    placeholders = [("https://idx.example/simple", "$INDEX_URL"), ("/tmp/x", "$SCRATCH")]
    text = "--index-url https://idx.example/simple/ --cache-dir /tmp/x/cache"
    assert run.redact(text, placeholders) == "--index-url $INDEX_URL/ --cache-dir $SCRATCH/cache"


def test_a_public_baseline_gets_no_extra_index_for_a_pytorch_index_mirrored_to_default(
    tmp_path: Path,
) -> None:
    workspace = run._workspace("diarization", None, tmp_path / "m", mirrored=True)
    assert run._baseline_extra_indexes(load_workspace(workspace)) == {}
    plain = run._workspace("diarization", None, tmp_path / "p")
    assert set(run._baseline_extra_indexes(load_workspace(plain))) == {"cuda"}
