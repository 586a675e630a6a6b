"""The bake file: its shape, and ``docker buildx bake --print -f`` accepting it.

``--print`` resolves the bake definition without a daemon (unknown ``target:`` references and
syntax errors fail it), so these tests need only the docker client and the buildx plugin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lockaudit.builder import (
    Backend,
    BuildOptions,
    BuildxBake,
    DockerBuild,
    ImageState,
    bake_definition,
    plan_build,
    write_bakefile,
)
from lockaudit.errors import LockauditError
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace
from tests.engine.fixtures import REPO, buildx_available
from tests.engine.workspaces import busybox_chain

needs_buildx = pytest.mark.skipif(
    not buildx_available(),
    reason="docker buildx is not installed (scripts/engine.sh install provides it)",
)


def bake_print(root: Path, bake_file: str) -> dict[str, object]:
    result = subprocess.run(
        ["docker", "buildx", "bake", "--print", "-f", bake_file],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return busybox_chain(tmp_path)


def test_targets_link_parents_through_target_contexts(workspace: Workspace) -> None:
    definition = bake_definition(plan_build(workspace, BuildOptions(), {}), network="host")
    targets = definition["target"]
    assert definition["group"]["default"]["targets"] == list(targets)
    assert targets["stage-cuda"]["contexts"] == {"local/lat-mid:cuda": "target:mid-cuda"}
    assert targets["stage-cpu"]["contexts"] == {"local/lat-base:cpu": "target:base-cpu"}
    assert "contexts" not in targets["base-cuda"]
    assert targets["stage-cpu"]["args"]["TORCH_INDEX"] == "cpu"
    assert targets["mid-cuda"]["tags"] == ["local/lat-mid:cuda"]
    assert targets["mid-cuda"]["network"] == "host"


def test_up_to_date_parent_is_not_a_target(workspace: Workspace) -> None:
    first = plan_build(workspace, BuildOptions(), {})
    base = first.step("base:cuda")
    existing = {base.ref: ImageState(base.ref, "sha256:1", base.digest, 1)}
    definition = bake_definition(plan_build(workspace, BuildOptions(), existing))
    assert "base-cuda" not in definition["target"]
    assert "contexts" not in definition["target"]["mid-cuda"]  # FROM the local image


def test_dockerfile_is_relative_to_the_context(tmp_path: Path) -> None:
    workspace = busybox_chain(tmp_path)
    text = (
        workspace.path("pyproject.toml")
        .read_text()
        .replace(
            'dockerfile = "docker/other/Dockerfile"',
            'dockerfile = "docker/other/Dockerfile"\ncontext = "docker/other"',
        )
    )
    workspace.path("pyproject.toml").write_text(text)
    definition = bake_definition(plan_build(load_workspace(tmp_path), BuildOptions(), {}))
    assert definition["target"]["other-cuda"]["dockerfile"] == "Dockerfile"
    assert definition["target"]["other-cuda"]["context"] == "docker/other"


@needs_buildx
def test_buildx_bake_print_accepts_the_bake_file(workspace: Workspace) -> None:
    plan = plan_build(workspace, BuildOptions(), {})
    commands = BuildxBake(workspace.root).prepare(plan)
    assert [str(c) for c in commands] == [
        "docker buildx bake --file docker-bake.json --progress plain"
    ]
    printed = bake_print(workspace.root, "docker-bake.json")
    targets = printed["target"]
    assert isinstance(targets, dict)
    assert set(targets) == {s.target for s in plan.steps}
    assert targets["stage-cuda"]["contexts"] == {"local/lat-mid:cuda": "target:mid-cuda"}


@needs_buildx
def test_bake_print_rejects_a_dangling_target_reference(workspace: Workspace) -> None:
    definition = bake_definition(plan_build(workspace, BuildOptions(), {}))
    definition["target"]["mid-cuda"]["contexts"] = {"x": "target:no-such-target"}
    write_bakefile(workspace.root / "bad.json", definition)
    result = subprocess.run(
        ["docker", "buildx", "bake", "--print", "-f", "bad.json"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0  # the check above is a real check, not a rubber stamp


def _embedded() -> Workspace:
    try:
        return load_workspace(REPO)
    except LockauditError as e:
        pytest.skip(f"the embedded workspace does not load yet: {e}")


@needs_buildx
def test_dry_run_on_the_embedded_workspace(tmp_path: Path) -> None:
    """Every image in a valid order, and a bake file bake accepts (written outside the repo)."""
    from lockaudit.builder import build_lines, run_build

    workspace = _embedded()
    bake_file = str(tmp_path / "docker-bake.json")
    options = BuildOptions(dry_run=True, backend=Backend.BAKE, bake_file=bake_file)
    report = run_build(workspace, options)
    steps = [*report.plan.steps, *report.plan.skipped]
    assert {s.image_key for s in steps} == {i.key for i in workspace.images}
    order = [s.image_key for s in report.plan.steps]
    for step in report.plan.steps:
        if step.parent_key in order:
            assert order.index(step.parent_key) < order.index(step.image_key)
    text = "\n".join(build_lines(report))
    assert all(key in text for key in order)
    if report.plan.steps:
        printed = bake_print(workspace.root, bake_file)
        assert set(printed["target"]) == {s.target for s in report.plan.steps}  # type: ignore[arg-type]


def test_docker_client_missing_is_no_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without any docker binary a dry run still plans: every image counts as absent."""
    from lockaudit.builder import run_build

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    workspace = busybox_chain(tmp_path / "ws")
    report = run_build(workspace, BuildOptions(dry_run=True, gate=False))
    assert report.engine is None
    assert len(report.plan.steps) == len(workspace.images)
    assert shutil.which("docker") is None


def _inserted_from_chain(root: Path) -> Workspace:
    """The busybox chain, with ``other`` a Dockerfile without a FROM: its build writes one."""
    busybox_chain(root)
    config = root / "pyproject.toml"
    text = config.read_text()
    at = text.index('name = "other"')
    config.write_text(text[:at] + "from-inserted = true\n" + text[at:])
    (root / "docker/other/Dockerfile").write_text("ARG LAYER_LOCK\nRUN echo other >> /layers\n")
    workspace = load_workspace(root)
    assert workspace.image("other:cuda").from_inserted
    return workspace


def test_a_dockerfile_whose_from_the_build_writes_goes_inline_under_that_from(
    tmp_path: Path,
) -> None:
    workspace = _inserted_from_chain(tmp_path)
    plan = plan_build(workspace, BuildOptions(), {})
    other = next(step for step in plan.steps if step.image_key == "other:cuda")
    on_disk = (tmp_path / "docker/other/Dockerfile").read_text()
    assert other.dockerfile_text == f"FROM local/lat-base:cuda\n{on_disk}"
    target = bake_definition(plan)["target"]["other-cuda"]
    assert target["dockerfile-inline"] == other.dockerfile_text
    assert "dockerfile" not in target
    assert target["contexts"] == {"local/lat-base:cuda": "target:base-cuda"}
    # one image at a time: the same text on stdin, `--file -`
    command = DockerBuild(tmp_path).command(other)
    assert command.argv[command.argv.index("--file") + 1] == "-"
    assert command.stdin == other.dockerfile_text
    # the others read their file on disk
    base = next(step for step in plan.steps if step.image_key == "base:cuda")
    assert base.dockerfile_text is None
    assert DockerBuild(tmp_path).command(base).stdin is None


@needs_buildx
def test_buildx_accepts_an_inline_dockerfile_target(tmp_path: Path) -> None:
    workspace = _inserted_from_chain(tmp_path)
    plan = plan_build(workspace, BuildOptions(), {})
    write_bakefile(tmp_path / "docker-bake.json", bake_definition(plan))
    printed = bake_print(tmp_path, "docker-bake.json")
    target = printed["target"]["other-cuda"]  # type: ignore[index]
    assert target["dockerfile-inline"].startswith("FROM local/lat-base:cuda\n")
