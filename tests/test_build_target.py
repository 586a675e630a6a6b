"""Where and for which machine images are built: the lock's platform, the builder, the cache.

No engine: the commands and the bake file a plan becomes are compared, and the bake file is
resolved by ``docker buildx bake --print`` (which needs only the client and the buildx plugin).
The builder check that needs an engine is in ``tests/test_build_engine.py``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockaudit.builder import (
    BuildOptions,
    BuildxBake,
    DockerBuild,
    bake_definition,
    build_lines,
    plan_build,
    run_build,
)
from lockaudit.cli import app
from lockaudit.errors import InputError, UsageError, WorkspaceError
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace
from tests.engine.fixtures import buildx_available
from tests.engine.workspaces import busybox_chain

CACHE = "type=registry,ref=registry.example.com/cache/lat:{slug}"
CACHE_TO = "type=registry,ref=registry.example.com/cache/lat:{slug},mode=max"


def _edit(workspace: Workspace, old: str, new: str) -> Workspace:
    path = workspace.path("pyproject.toml")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return load_workspace(workspace.root)


def _arg(argv: tuple[str, ...], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return busybox_chain(tmp_path)


# ------------------------------------------------------------------------------ platform


def test_every_build_names_the_platform_of_its_lock(workspace: Workspace) -> None:
    plan = plan_build(workspace, BuildOptions(), {})
    for command in DockerBuild(workspace.root).prepare(plan):
        assert command.argv[:2] == ("docker", "build")  # no builder, no cache: plain build
        assert _arg(command.argv, "--platform") == ["linux/amd64"]
    targets = bake_definition(plan)["target"]
    assert {name: t["platforms"] for name, t in targets.items()} == {
        step.target: ["linux/amd64"] for step in plan.steps
    }


def test_an_arm64_target_builds_for_arm64_whatever_the_host(workspace: Workspace) -> None:
    """The platform comes from the target (its wheel tags), never from the machine running."""
    arm = _edit(
        workspace,
        'image-prefix = "lat-"',
        'image-prefix = "lat-"\n\n[tool.lockaudit.target]\narch = "aarch64"',
    )
    plan = plan_build(arm, BuildOptions(), {})
    assert {s.platform for s in plan.steps} == {"linux/arm64"}
    command = DockerBuild(arm.root).command(plan.steps[0])
    assert _arg(command.argv, "--platform") == ["linux/arm64"]
    # One image may differ from the others: its own target wins, and its children inherit it.
    mixed = _edit(
        arm,
        'dockerfile = "docker/other/Dockerfile"',
        'dockerfile = "docker/other/Dockerfile"\ntarget = { arch = "x86_64" }',
    )
    platforms = {s.image_key: s.platform for s in plan_build(mixed, BuildOptions(), {}).steps}
    assert platforms["other:cuda"] == "linux/amd64"
    assert platforms["stage:cuda"] == "linux/arm64"


def test_a_target_docker_cannot_build_is_an_error(workspace: Workspace) -> None:
    odd = _edit(
        workspace,
        'image-prefix = "lat-"',
        'image-prefix = "lat-"\n\n[tool.lockaudit.target]\narch = "sparc64"',
    )
    with pytest.raises(WorkspaceError, match="linux_sparc64 has no Docker platform"):
        plan_build(odd, BuildOptions(), {})


# -------------------------------------------------------------------------- builder, cache


def test_builder_runs_buildx_build_with_load(workspace: Workspace) -> None:
    plan = plan_build(workspace, BuildOptions(), {})
    command = DockerBuild(workspace.root, builder="fleet").command(plan.steps[0])
    assert command.argv[:6] == ("docker", "buildx", "build", "--builder", "fleet", "--load")
    bake = BuildxBake(workspace.root, builder="fleet").command()
    assert str(bake) == (
        "docker buildx bake --file docker-bake.json --progress plain --builder fleet --load"
    )


def test_configured_cache_fills_each_images_placeholders(workspace: Workspace) -> None:
    configured = _edit(
        workspace,
        'image-prefix = "lat-"',
        f'image-prefix = "lat-"\n\n[tool.lockaudit.build]\nbuilder = "ci"\n'
        f'cache-from = ["{CACHE}"]\ncache-to = ["{CACHE_TO}"]',
    )
    configured = _edit(
        configured,
        'dockerfile = "docker/other/Dockerfile"',
        'dockerfile = "docker/other/Dockerfile"\ncache-from = ["type=local,src=/cache/other"]\n'
        "cache-to = []",
    )
    plan = plan_build(configured, BuildOptions(), {})
    mid = plan.step("mid:cuda")
    assert mid.cache_from == ("type=registry,ref=registry.example.com/cache/lat:mid-cuda",)
    assert mid.cache_to == ("type=registry,ref=registry.example.com/cache/lat:mid-cuda,mode=max",)
    # The fallback shares its twin's Dockerfile and specs, with its own reference.
    assert plan.step("stage:cpu").cache_from == (
        "type=registry,ref=registry.example.com/cache/lat:stage-cpu",
    )
    # An image's own lists replace the workspace's; an empty list means none.
    assert plan.step("other:cuda").cache_from == ("type=local,src=/cache/other",)
    assert plan.step("other:cuda").cache_to == ()

    report = run_build(configured, BuildOptions(dry_run=True, gate=False))
    assert report.builder == "ci"
    by_tag = {_arg(c.argv, "--tag")[0]: c.argv for c in report.commands}
    argv = by_tag["local/lat-mid:cuda"]
    assert argv[:6] == ("docker", "buildx", "build", "--builder", "ci", "--load")
    assert _arg(argv, "--cache-from") == list(mid.cache_from)
    assert _arg(argv, "--cache-to") == list(mid.cache_to)
    assert "plan (build on builder ci)" in "\n".join(build_lines(report))


def test_command_line_cache_and_builder_replace_the_configured_ones(
    workspace: Workspace,
) -> None:
    configured = _edit(
        workspace,
        'image-prefix = "lat-"',
        f'image-prefix = "lat-"\n\n[tool.lockaudit.build]\nbuilder = "ci"\n'
        f'cache-from = ["{CACHE}"]',
    )
    options = BuildOptions(
        builder="laptop", cache_from=("type=local,src=/tmp/c-{name}",), cache_to=("type=inline",)
    )
    plan = plan_build(configured, options, {})
    assert plan.step("base:cpu").cache_from == ("type=local,src=/tmp/c-base",)
    assert {s.cache_to for s in plan.steps} == {("type=inline",)}
    report = run_build(configured, replace_options(options, dry_run=True, gate=False))
    assert report.builder == "laptop"
    assert all(_arg(c.argv, "--builder") == ["laptop"] for c in report.commands)


def replace_options(options: BuildOptions, **changes: object) -> BuildOptions:
    return BuildOptions(**{**options.__dict__, **changes})  # type: ignore[arg-type]


def test_bake_file_carries_platform_and_cache(workspace: Workspace) -> None:
    options = BuildOptions(cache_from=(CACHE,), cache_to=(CACHE_TO,))
    targets = bake_definition(plan_build(workspace, options, {}))["target"]
    stage = targets["stage-cpu"]
    assert stage["platforms"] == ["linux/amd64"]
    assert stage["cache-from"] == ["type=registry,ref=registry.example.com/cache/lat:stage-cpu"]
    assert stage["cache-to"] == [
        "type=registry,ref=registry.example.com/cache/lat:stage-cpu,mode=max"
    ]
    assert (
        "cache-from"
        not in bake_definition(plan_build(workspace, BuildOptions(), {}))["target"]["stage-cpu"]
    )


@pytest.mark.skipif(
    not buildx_available(),
    reason="docker buildx is not installed (scripts/engine.sh install provides it)",
)
def test_buildx_resolves_platform_and_cache_from_the_bake_file(workspace: Workspace) -> None:
    """``bake --print`` parses the cache specs and platforms itself: a typo would fail it."""
    options = BuildOptions(cache_from=(CACHE,), cache_to=(CACHE_TO,))
    BuildxBake(workspace.root).prepare(plan_build(workspace, options, {}))
    printed = subprocess.run(
        ["docker", "buildx", "bake", "--print", "-f", "docker-bake.json"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    target = json.loads(printed.stdout)["target"]["mid-cuda"]
    assert target["platforms"] == ["linux/amd64"]
    cache_from = json.dumps(target["cache-from"])  # a string or a parsed map, by buildx version
    assert "registry.example.com/cache/lat:mid-cuda" in cache_from
    assert "max" in json.dumps(target["cache-to"])


# ------------------------------------------------------------------------------ bad input


def test_unknown_placeholder_in_config_is_an_error_at_its_line(workspace: Workspace) -> None:
    with pytest.raises(InputError) as caught:
        _edit(
            workspace,
            'image-prefix = "lat-"',
            'image-prefix = "lat-"\n\n[tool.lockaudit.build]\n'
            'cache-from = ["type=registry,ref=r.example/c:{image}"]',
        )
    assert str(caught.value.location) == "pyproject.toml:6"
    assert "{image}" in str(caught.value) and "{slug}" in str(caught.value)


def test_unknown_build_key_names_the_allowed_ones(workspace: Workspace) -> None:
    with pytest.raises(InputError, match=r"unknown key 'cache' in \[tool\.lockaudit\.build\]"):
        _edit(
            workspace,
            'image-prefix = "lat-"',
            'image-prefix = "lat-"\n\n[tool.lockaudit.build]\ncache = "x"',
        )


def test_bad_command_line_cache_spec_is_a_usage_error(workspace: Workspace) -> None:
    with pytest.raises(UsageError, match="placeholders are"):
        plan_build(workspace, BuildOptions(cache_to=("type=registry,ref=x:{nope}",)), {})


def test_cli_dry_run_with_builder_and_cache(workspace: Workspace) -> None:
    before = {p: p.read_bytes() for p in workspace.root.rglob("*") if p.is_file()}
    result = CliRunner().invoke(
        app,
        [
            "build",
            "--workspace",
            str(workspace.root),
            "--dry-run",
            "--no-gate",
            "--format",
            "json",
            "--builder",
            "remote-fleet",
            "--cache-from",
            CACHE,
            "--cache-to",
            "type=inline",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["builder"] == "remote-fleet"
    base = next(s for s in data["plan"] if s["image"] == "base:cuda")
    assert base["platform"] == "linux/amd64"
    assert base["cache_from"] == ["type=registry,ref=registry.example.com/cache/lat:base-cuda"]
    assert all("--builder remote-fleet" in c for c in data["commands"])
    after = {p: p.read_bytes() for p in workspace.root.rglob("*") if p.is_file()}
    assert after == before  # a dry run of the build backend writes nothing

    bad = CliRunner().invoke(
        app,
        ["build", "--workspace", str(workspace.root), "--dry-run", "--cache-to", "{x}"],
    )
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output and "placeholders are" in bad.output


def test_cli_cache_none_turns_the_configured_export_off(workspace: Workspace) -> None:
    configured = _edit(
        workspace,
        'image-prefix = "lat-"',
        f'image-prefix = "lat-"\n\n[tool.lockaudit.build]\n'
        f'cache-from = ["{CACHE}"]\ncache-to = ["{CACHE_TO}"]',
    )
    args = ["build", "-w", str(configured.root), "--dry-run", "--no-gate", "-f", "json"]
    result = CliRunner().invoke(app, [*args, "--cache-to", "none"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)["plan"]
    assert {tuple(s["cache_to"]) for s in plan} == {()}
    assert all(s["cache_from"] for s in plan)  # the import stays configured
    assert not any("--cache-to" in c for c in json.loads(result.output)["commands"])
