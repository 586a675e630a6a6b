"""The build planner and the backends' failure handling, without an engine.

What the engine has is given as :class:`ImageState` values (data, as ``docker image inspect``
would report them); the failure test drives :class:`DockerBuild` through a scripted runner at
the one seam where commands run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from lockaudit.builder import (
    INPUTS_LABEL,
    BuildOptions,
    BuildPlan,
    BuildReporter,
    BuildStatus,
    Command,
    CommandResult,
    DockerBuild,
    ImageState,
    build_lines,
    plan_build,
    run_build,
)
from lockaudit.errors import LockauditError, WorkspaceError
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Variant, Workspace
from tests.engine.workspaces import busybox_chain


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return busybox_chain(tmp_path)


def _built(plan: BuildPlan) -> dict[str, ImageState]:
    """What the engine would have after building every step of ``plan``."""
    return {
        s.ref: ImageState(s.ref, f"sha256:{i}", s.digest, 1000)
        for i, s in enumerate((*plan.steps, *plan.skipped))
    }


def keys(plan: BuildPlan) -> list[str]:
    return [s.image_key for s in plan.steps]


def test_everything_missing_is_planned_parents_first(workspace: Workspace) -> None:
    plan = plan_build(workspace, BuildOptions(), {})
    order = keys(plan)
    assert sorted(order) == sorted(i.key for i in workspace.images)
    for step in plan.steps:
        if step.parent_key:
            assert order.index(step.parent_key) < order.index(step.image_key)
    assert {s.reason for s in plan.steps} == {"missing"}


@pytest.mark.parametrize(
    ("stages", "variant", "expected"),
    [
        (("stage",), None, ["base:cuda", "base:cpu", "mid:cuda", "stage:cuda", "stage:cpu"]),
        (("stage",), Variant.CPU, ["base:cpu", "stage:cpu"]),
        (("stage:cuda",), None, ["base:cuda", "mid:cuda", "stage:cuda"]),
        (("other",), None, ["base:cuda", "other:cuda"]),
        ((), Variant.CPU, ["base:cpu", "stage:cpu"]),
    ],
    ids=["name-all-variants", "name-cpu", "key", "sibling", "variant-only"],
)
def test_selection_pulls_in_missing_ancestors(
    workspace: Workspace, stages: tuple[str, ...], variant: Variant | None, expected: list[str]
) -> None:
    plan = plan_build(workspace, BuildOptions(stages=stages, variant=variant), {})
    assert keys(plan) == expected


def test_up_to_date_ancestors_are_skipped_not_rebuilt(workspace: Workspace) -> None:
    everything = plan_build(workspace, BuildOptions(), {})
    plan = plan_build(workspace, BuildOptions(stages=("stage:cuda",)), _built(everything))
    assert keys(plan) == []
    assert [s.image_key for s in plan.skipped] == ["base:cuda", "mid:cuda", "stage:cuda"]


def test_second_plan_with_nothing_changed_builds_nothing(workspace: Workspace) -> None:
    first = plan_build(workspace, BuildOptions(), {})
    assert plan_build(workspace, BuildOptions(), _built(first)).steps == ()


def test_changed_dockerfile_rebuilds_that_image_and_its_descendants(
    workspace: Workspace,
) -> None:
    existing = _built(plan_build(workspace, BuildOptions(), {}))
    path = workspace.path("docker/mid/Dockerfile")
    path.write_text(path.read_text() + "RUN echo changed\n")
    plan = plan_build(workspace, BuildOptions(), existing)
    assert keys(plan) == ["mid:cuda", "stage:cuda"]
    assert plan.step("mid:cuda").reason == "out of date (its inputs changed)"


def test_changed_lock_rebuilds_only_its_image_chain(workspace: Workspace) -> None:
    existing = _built(plan_build(workspace, BuildOptions(), {}))
    (workspace.root / "locks").mkdir()
    (workspace.root / "locks" / "base-cpu.txt").write_text("# a new lock\n")
    assert keys(plan_build(workspace, BuildOptions(), existing)) == ["base:cpu", "stage:cpu"]


def test_unlabelled_image_with_the_tag_is_rebuilt(workspace: Workspace) -> None:
    existing = _built(plan_build(workspace, BuildOptions(), {}))
    ref = "local/lat-other:cuda"
    existing[ref] = replace(existing[ref], digest=None)
    plan = plan_build(workspace, BuildOptions(), existing)
    assert keys(plan) == ["other:cuda"]
    assert "no inputs label" in plan.step("other:cuda").reason


def test_remade_base_image_rebuilds_the_roots(workspace: Workspace) -> None:
    base = ImageState("local/busybox-base:1", "sha256:old", None, 10)
    existing = _built(plan_build(workspace, BuildOptions(), {base.ref: base}))
    existing[base.ref] = replace(base, id="sha256:new")
    assert len(plan_build(workspace, BuildOptions(), existing).steps) == len(workspace.images)


def test_build_args_name_registry_parent_and_layer_lock(workspace: Workspace) -> None:
    plan = plan_build(workspace, BuildOptions(), {})
    args = dict(plan.step("stage:cuda").build_args)
    assert args == {
        "REGISTRY": "local",
        "PARENT_IMAGE": "lat-mid:cuda",
        "LAYER_LOCK": "locks/stage-cuda.layer.txt",
    }
    step = plan.step("stage:cuda")
    assert step.ref == "local/lat-stage:cuda"
    assert step.parent_ref == "local/lat-mid:cuda"
    assert dict(step.labels)[INPUTS_LABEL] == step.digest


def test_cpu_fallback_differs_by_build_args_only(workspace: Workspace) -> None:
    plan = plan_build(workspace, BuildOptions(), {})
    cuda, cpu = plan.step("stage:cuda"), plan.step("stage:cpu")
    assert cuda.dockerfile == cpu.dockerfile
    assert dict(cpu.build_args) == {
        "REGISTRY": "local",
        "PARENT_IMAGE": "lat-base:cpu",
        "LAYER_LOCK": "locks/stage-cpu.layer.txt",
        "TORCH_INDEX": "cpu",
    }
    assert cpu.parent_ref == "local/lat-base:cpu"


def test_environment_build_args_are_not_inputs(workspace: Workspace) -> None:
    first = plan_build(workspace, BuildOptions(), {})
    options = BuildOptions(extra_build_args=(("PIP_INDEX_URL", "http://127.0.0.1:1/simple"),))
    assert plan_build(workspace, options, _built(first)).steps == ()


def test_parent_image_arg_naming_another_image_is_an_error(tmp_path: Path) -> None:
    workspace = busybox_chain(tmp_path)
    text = workspace.path("pyproject.toml").read_text()
    text = text.replace('TORCH_INDEX = "cpu"', 'PARENT_IMAGE = "lat-base:cuda"')
    workspace.path("pyproject.toml").write_text(text)
    workspace = load_workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="its build args make FROM local/lat-base:cuda"):
        plan_build(workspace, BuildOptions(), {})


@pytest.mark.parametrize(
    ("stages", "variant", "message"),
    [(("nope",), None, "no image named 'nope'"), (("other",), Variant.CPU, "no cpu variant")],
)
def test_unknown_stage_or_variant_is_a_usage_error(
    workspace: Workspace, stages: tuple[str, ...], variant: Variant | None, message: str
) -> None:
    with pytest.raises(LockauditError, match=message):
        plan_build(workspace, BuildOptions(stages=stages, variant=variant), {})


@dataclass
class ScriptedRunner:
    """The runner seam, scripted: ``docker build`` of a ref in ``fail`` exits 1."""

    fail: set[str]
    ran: list[Command] = field(default_factory=list)

    def run(self, command: Command) -> CommandResult:
        self.ran.append(command)
        argv = command.argv
        if argv[:2] == ("docker", "build"):
            ref = argv[argv.index("--tag") + 1]
            return CommandResult(1 if ref in self.fail else 0, f"building {ref}", 0.5)
        return CommandResult(1, "no such image", 0.0)  # inspect: nothing is there


def test_failure_stops_dependents_and_others_finish(workspace: Workspace) -> None:
    plan = plan_build(workspace, BuildOptions(), {})
    runner = ScriptedRunner(fail={"local/lat-mid:cuda"})
    outcomes = DockerBuild(workspace.root).build(plan, runner, BuildReporter())
    status = {o.image_key: o.status for o in outcomes}
    assert status == {
        "base:cuda": BuildStatus.BUILT,
        "base:cpu": BuildStatus.BUILT,
        "mid:cuda": BuildStatus.FAILED,
        "stage:cuda": BuildStatus.BLOCKED,
        "stage:cpu": BuildStatus.BUILT,
        "other:cuda": BuildStatus.BUILT,
    }
    built = [c.argv[c.argv.index("--tag") + 1] for c in runner.ran if c.argv[1] == "build"]
    assert "local/lat-stage:cuda" not in built
    assert plan.dependents("base:cuda") == ("mid:cuda", "stage:cuda", "other:cuda")


def test_dry_run_prints_plan_and_commands_and_runs_nothing_that_builds(
    workspace: Workspace,
) -> None:
    runner = ScriptedRunner(fail=set())
    report = run_build(workspace, BuildOptions(dry_run=True, gate=False), runner=runner)
    assert [c.argv[1] for c in runner.ran] == ["version"]  # no engine: nothing inspected
    assert len(report.commands) == len(workspace.images)
    text = "\n".join(build_lines(report))
    assert "gate: skipped (--no-gate)" in text
    assert "$ docker build --progress plain --file docker/mid/Dockerfile" in text
    assert report.outcomes == ()


def test_engine_tests_are_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without LOCKAUDIT_ENGINE_TESTS=1 the engine fixture skips and says how to enable it."""
    from tests.engine import fixtures

    monkeypatch.delenv(fixtures.OPT_IN, raising=False)
    why = fixtures.why_not_engine()
    assert why is not None
    assert "opt-in" in why and "scripts/engine.sh start" in why and fixtures.OPT_IN in why


def test_the_suite_never_starts_an_engine() -> None:
    """No test module runs the engine script: installing an engine is the user's own step."""
    from tests.engine.fixtures import REPO

    for path in (REPO / "tests").rglob("*.py"):
        if path.name == Path(__file__).name:
            continue  # this test names what it looks for
        text = path.read_text(encoding="utf-8")
        for call in ('"engine.sh"', "ENGINE_SCRIPT", "engine.sh), \"start\""):
            assert call not in text, f"{path} runs the engine script"
