"""The ``stage`` key: the Dockerfile stage an image builds (``--target``), end to end."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lockaudit.builder import BuildOptions, DockerBuild, bake_definition, plan_build
from lockaudit.cli import app
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.discover import discover_workspace
from lockaudit.workspace.model import Workspace
from tests.engine.workspaces import busybox_chain


def _with_stage(root: Path) -> Workspace:
    workspace = busybox_chain(root)
    path = workspace.path("pyproject.toml")
    text = path.read_text()
    old = 'dockerfile = "docker/other/Dockerfile"'
    assert old in text
    path.write_text(text.replace(old, old + '\nstage = "runtime"', 1))
    return load_workspace(workspace.root)


def test_stage_is_read_and_built_with_target(tmp_path: Path) -> None:
    workspace = _with_stage(tmp_path)
    assert workspace.image("other:cuda").stage == "runtime"
    assert {i.key: i.stage for i in workspace.images}["stage:cuda"] is None
    plan = plan_build(workspace, BuildOptions(), {})
    argv = {s.image_key: DockerBuild(workspace.root).command(s).argv for s in plan.steps}
    assert argv["other:cuda"][argv["other:cuda"].index("--target") + 1] == "runtime"
    assert "--target" not in argv["stage:cuda"]  # none: the last stage, as docker builds it
    targets = bake_definition(plan)["target"]
    staged = {t.get("target") for t in targets.values()}
    assert staged == {"runtime", None}


def test_graph_json_shows_stage_context_and_requirements(tmp_path: Path) -> None:
    workspace = _with_stage(tmp_path)
    result = CliRunner().invoke(
        app, ["graph", "--workspace", str(workspace.root), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    images = {f"{i['name']}:{i['tag']}": i for i in json.loads(result.stdout)["images"]}
    assert images["other:cuda"]["stage"] == "runtime"
    assert images["stage:cuda"]["stage"] is None
    assert all("context" in i and "requirements" in i for i in images.values())


def test_init_writes_the_stage_a_build_script_targets(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app/Dockerfile").write_text(
        "FROM python:3.12 AS runtime\nRUN true\nFROM runtime AS dev\nRUN true\n"
    )
    (tmp_path / "build.sh").write_text("docker build --target runtime -t org/app:1 app\n")
    found = discover_workspace(tmp_path)
    assert [i.stage for i in found.images] == ["runtime"]
    assert 'stage = "runtime"' in found.config_toml
