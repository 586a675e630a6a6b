"""``lockaudit build`` against a real Docker engine (marked ``engine``).

* A busybox family built with ``docker buildx bake``: parents linked through ``target:``
  contexts, a second run rebuilding nothing, and a failing image blocking only its dependents.
* The pipeline in small, end to end: locks compiled against the loopback test index, images
  built with ``docker build --network=host`` so ``pip install`` inside reaches that index, and
  assertions read from the built images.

Why the Python chain uses the ``build`` backend: buildx 0.13 (Debian 13's) has no per-target
``network`` in bake files, so bake's RUN steps cannot reach an index on loopback; the busybox
family needs no index and covers bake.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockaudit.builder import (
    IMAGE_LABEL,
    INPUTS_LABEL,
    Backend,
    BuildOptions,
    BuildReport,
    BuildStatus,
    run_build,
)
from lockaudit.locks import read_lock
from lockaudit.output.build_progress import BuildProgress
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace
from tests.engine.fixtures import (  # noqa: F401  (docker_engine is a fixture)
    buildx_available,
    docker_engine,
    images_with_prefix,
    remove_images,
)
from tests.engine.workspaces import busybox_chain, compiled_python_chain, pipeline_scenario
from tests.indexserver import IndexServer

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("docker_engine")]

def docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def statuses(report: BuildReport) -> dict[str, BuildStatus]:
    return {o.image_key: o.status for o in report.outcomes}


# --------------------------------------------------------------------------- bake, busybox


@pytest.fixture
def bake_family(tmp_path: Path) -> Iterator[Workspace]:
    if not buildx_available():
        pytest.skip("docker buildx is not installed (scripts/engine.sh install provides it)")
    prefix = f"latbake{tmp_path.name[-6:].lower()}-"
    remove_images(f"local/{prefix}")
    yield busybox_chain(tmp_path, prefix=prefix)
    remove_images(f"local/{prefix}")


def test_bake_builds_the_family_then_rebuilds_nothing(bake_family: Workspace) -> None:
    options = BuildOptions(backend=Backend.BAKE, gate=False)
    first = run_build(bake_family, options)
    assert first.ok, first.outcomes
    assert set(statuses(first).values()) == {BuildStatus.BUILT}
    prefix = bake_family.image_prefix
    ref = f"local/{prefix}stage:cpu"
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref))
    assert labels[IMAGE_LABEL] == "stage:cpu"
    assert labels[INPUTS_LABEL] == first.plan.step("stage:cpu").digest
    # The fallback was built from the same Dockerfile, on base:cpu, with TORCH_INDEX=cpu.
    assert docker("run", "--rm", ref, "sh", "-c", "cat /torch-index").strip() == "cpu"
    layers = docker("run", "--rm", f"local/{prefix}stage:cuda", "sh", "-c", "cat /layers").split()
    assert layers == [
        "locks/base-cuda.layer.txt",
        "locks/mid-cuda.layer.txt",
        "locks/stage-cuda.layer.txt",
    ]
    assert all(o.size_bytes for o in first.outcomes)

    second = run_build(bake_family, options)
    assert second.plan.steps == ()
    assert set(statuses(second).values()) == {BuildStatus.SKIPPED}


def test_bake_failure_blocks_dependents_only(bake_family: Workspace) -> None:
    path = bake_family.path("docker/mid/Dockerfile")
    path.write_text(path.read_text() + "RUN exit 3\n")
    progress = BuildProgress(None)
    report = run_build(
        bake_family, BuildOptions(backend=Backend.BAKE, gate=False), reporter=progress
    )
    assert statuses(report) == {
        "base:cuda": BuildStatus.BUILT,
        "base:cpu": BuildStatus.BUILT,
        "mid:cuda": BuildStatus.FAILED,
        "stage:cuda": BuildStatus.BLOCKED,
        "stage:cpu": BuildStatus.BUILT,
        "other:cuda": BuildStatus.BUILT,
    }
    assert not report.ok
    prefix = f"local/{bake_family.image_prefix}"
    assert f"{prefix}stage:cuda" not in images_with_prefix(prefix)
    failed = next(o for o in report.outcomes if o.status is BuildStatus.FAILED)
    assert "exit 3" in failed.message or "exit code: 3" in failed.message
    # the progress line saw the whole plan: every image finished, two of them not built
    assert progress.line().endswith("(6/6 images) · 2 not built")


# --------------------------------------------------------------------- end to end, Python


PREFIX = "lat-"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, IndexServer]]:
    """The small pipeline, its locks compiled against the loopback index (module scope)."""
    root = tmp_path_factory.mktemp("pipeline")
    with IndexServer(pipeline_scenario()) as server:
        workspace = compiled_python_chain(root, server, prefix=PREFIX)
        remove_images(f"local/{PREFIX}")
        yield workspace, server
        remove_images(f"local/{PREFIX}")


def _options(server: IndexServer, **changes: object) -> BuildOptions:
    options = BuildOptions(
        network="host",
        extra_build_args=(("PIP_INDEX_URL", server.index_url("default")),),
        smoke=True,
    )
    return BuildOptions(**{**options.__dict__, **changes})  # type: ignore[arg-type]


def installed(ref: str) -> dict[str, tuple[str, int]]:
    """Distribution -> (version, RECORD mtime in ns) inside ``ref``."""
    script = (
        "import importlib.metadata as m, json, os\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        '    record = d.locate_file(f"{d._path.name}/RECORD")\n'
        "    out[d.metadata['Name'].lower()] = (d.version, os.stat(record).st_mtime_ns)\n"
        "print(json.dumps(out))\n"
    )
    out = docker("run", "--rm", "--network", "none", ref, "python3", "-c", script)
    return {k: (v[0], v[1]) for k, v in json.loads(out).items()}


@pytest.fixture(scope="module")
def built(pipeline: tuple[Workspace, IndexServer]) -> BuildReport:
    workspace, server = pipeline
    report = run_build(workspace, _options(server))
    assert report.gate_ran and not report.refused, report.gate_errors
    assert report.ok, [(o.image_key, o.message) for o in report.outcomes]
    return report


def test_sizes_recorded_with_the_locks_estimate(
    built: BuildReport, pipeline: tuple[Workspace, IndexServer]
) -> None:
    from lockaudit.sizelog import SIZES_LOG, read_size_log

    workspace, _ = pipeline
    records = {r.image: r for r in read_size_log(workspace.path(SIZES_LOG))}
    assert set(records) == {o.image_key for o in built.outcomes}
    ml = records["base-ml:cuda"]
    assert ml.estimate_layer >= 200_000  # the padded torch wheel of its own lock
    assert records["asr:cuda"].estimate_total >= ml.estimate_total
    assert ml.lock_digest.startswith("sha256:") and ml.platform == "linux/amd64"
    assert ml.size > ml.estimate_layer  # installed, the wheel is at least its download
    assert not any("http" in layer.step for r in records.values() for layer in r.layers)


def test_every_image_built_in_order_with_smoke(built: BuildReport) -> None:
    order = [o.image_key for o in built.outcomes]
    assert order == ["base:cuda", "base:cpu", "base-ml:cuda", "asr:cuda", "asr:cpu"]
    smoke = {s.image_key: s for s in built.smoke}
    assert "torch" in smoke["base-ml:cuda"].imported
    assert {"whisperx"} <= set(smoke["asr:cuda"].imported)
    assert all(s.ok for s in built.smoke)


def test_locked_versions_are_installed(
    built: BuildReport, pipeline: tuple[Workspace, IndexServer]
) -> None:
    workspace, _ = pipeline
    for image in workspace.images:
        lock = read_lock(workspace.path(f"locks/{image.slug}.txt"))
        have = installed(built.plan.step(image.key).ref)
        for package in lock.packages:
            assert have[package.name][0] == str(package.version), (image.key, package.name)


def test_cpu_variant_got_the_cpu_build(built: BuildReport) -> None:
    assert installed(f"local/{PREFIX}asr:cpu")["torch"][0] == "2.1.0+cpu"
    assert installed(f"local/{PREFIX}asr:cuda")["torch"][0] == "2.1.0+cu121"


def test_stage_layer_reinstalled_nothing_its_parent_has(built: BuildReport) -> None:
    for child, parent in (("asr:cuda", "base-ml:cuda"), ("base-ml:cuda", "base:cuda")):
        mine = installed(f"local/{PREFIX}{child}")
        theirs = installed(f"local/{PREFIX}{parent}")
        for name, (version, mtime) in theirs.items():
            assert mine[name] == (version, mtime), f"{child} reinstalled {name} of {parent}"


def test_second_build_with_nothing_changed_rebuilds_nothing(
    built: BuildReport, pipeline: tuple[Workspace, IndexServer]
) -> None:
    workspace, server = pipeline
    again = run_build(workspace, _options(server))
    assert again.plan.steps == ()
    assert set(statuses(again).values()) == {BuildStatus.SKIPPED}


def test_failing_gate_builds_nothing(
    built: BuildReport, pipeline: tuple[Workspace, IndexServer], tmp_path: Path
) -> None:
    workspace, server = pipeline
    # A copy of the workspace under another prefix, whose asr requirements changed after the
    # locks were compiled: the asr locks are stale, so the gate must refuse.
    copy = tmp_path / "stale"
    subprocess.run(["cp", "-a", str(workspace.root), str(copy)], check=True)
    text = (copy / "pyproject.toml").read_text().replace(PREFIX, "latgate-")
    (copy / "pyproject.toml").write_text(text)
    (copy / "docker/asr/requirements.txt").write_text("whisperx==3.1.1\nrich\n")
    report = run_build(load_workspace(copy), _options(server))
    assert report.refused
    assert report.outcomes == ()
    assert images_with_prefix("local/latgate-") == []


def test_an_undeclared_import_is_a_finding_at_the_requirement_line(
    built: BuildReport, pipeline: tuple[Workspace, IndexServer], tmp_path: Path
) -> None:
    """A stage package that imports a module nothing declares builds, and the smoke step
    (on by default) turns its failed import into ``import-fails`` at the stage's line."""
    _, server = pipeline
    asr = {"docker/asr/requirements.txt": "whisperx==3.1.1\naligner==1.0\n"}
    root = tmp_path / "undeclared"
    workspace = compiled_python_chain(root, server, prefix="latsmoke-", files=asr)
    remove_images("local/latsmoke-")
    try:
        report = run_build(workspace, _options(server))
    finally:
        remove_images("local/latsmoke-")
    assert not report.refused, report.gate_errors
    assert report.outcomes and all(o.status is BuildStatus.BUILT for o in report.outcomes)
    assert not report.ok
    failed = {s.image_key for s in report.smoke if not s.ok}
    assert failed == {"asr:cuda", "asr:cpu"}
    assert {(f.image, f.code, str(f.location)) for f in report.findings} == {
        ("asr:cuda", "LA601", "docker/asr/requirements.txt:2"),
        ("asr:cpu", "LA601", "docker/asr/requirements.txt:2"),
    }
    assert all("undeclared_mod" in f.message for f in report.findings)
    assert report.as_json()["findings"][0]["rule"] == "import-fails"


# ------------------------------------------------------------- builders and layer caches


def _isolated_docker(tmp_path: Path) -> dict[str, str]:
    """A docker client configuration of the test's own: contexts and buildx builders made
    here live under ``tmp_path`` and vanish with it, the user's configuration is untouched."""
    config = tmp_path / "docker-config"
    config.mkdir()
    return {"DOCKER_CONFIG": str(config)}


def _docker_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
        timeout=300,
    )


def _architecture(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Architecture}}", ref).strip()


@pytest.mark.parametrize("backend", [Backend.BUILD, Backend.BAKE])
def test_builds_on_the_default_builder_for_the_locks_platform(
    bake_family: Workspace, backend: Backend
) -> None:
    options = BuildOptions(backend=backend, gate=False, builder="default")
    report = run_build(bake_family, options)
    assert report.ok, [(o.image_key, o.message) for o in report.outcomes]
    assert all("--builder" in c.argv and "default" in c.argv for c in report.commands)
    for step in report.plan.steps:
        assert step.platform == "linux/amd64"
        assert _architecture(step.ref) == "amd64"


def test_builds_through_a_second_docker_context_and_exports_an_inline_cache(
    bake_family: Workspace, tmp_path: Path
) -> None:
    """The builder of a second Docker context (``docker`` driver, the same engine here): buildx
    builds on such a builder only from its context, so lockaudit says how, and builds there
    when the context is chosen."""
    from lockaudit.builder import SubprocessRunner
    from lockaudit.errors import LockauditError

    env = _isolated_docker(tmp_path)
    host = _docker_env({}, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}")
    assert host.returncode == 0, host.stderr
    made = _docker_env(
        env, "context", "create", "lat-second", "--docker", f"host={host.stdout.strip()}"
    )
    assert made.returncode == 0, made.stderr
    assert "lat-second" in _docker_env(env, "buildx", "ls").stdout
    runner = SubprocessRunner(env=env)
    with pytest.raises(LockauditError, match="engine of Docker context 'lat-second'") as caught:
        run_build(bake_family, BuildOptions(gate=False, builder="lat-second"), runner=runner)
    assert "DOCKER_CONTEXT=lat-second lockaudit build" in (caught.value.hint or "")
    with pytest.raises(LockauditError, match="no buildx builder 'no-such-builder'"):
        run_build(bake_family, BuildOptions(gate=False, builder="no-such-builder"), runner=runner)

    options = BuildOptions(gate=False, cache_to=("type=inline",))
    report = run_build(
        bake_family, options, runner=SubprocessRunner(env={**env, "DOCKER_CONTEXT": "lat-second"})
    )
    assert report.ok, [(o.image_key, o.message) for o in report.outcomes]
    assert all(c.argv[:4] == ("docker", "buildx", "build", "--load") for c in report.commands)
    assert all(_arg(c.argv, "--cache-to") == ["type=inline"] for c in report.commands)
    assert {o.status for o in report.outcomes} == {BuildStatus.BUILT}


def _arg(argv: tuple[str, ...], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_docker_container_builder_with_a_local_cache(
    bake_family: Workspace, tmp_path: Path
) -> None:
    """``docker buildx create --driver docker-container``: BuildKit in a container, which
    exports and imports a local cache. Its container runs the ``moby/buildkit`` image, which
    buildx pulls from a registry: where none is reachable the test says so and skips."""
    from lockaudit.builder import SubprocessRunner

    env = _isolated_docker(tmp_path)
    made = _docker_env(
        env, "buildx", "create", "--name", "lat-container", "--driver", "docker-container"
    )
    assert made.returncode == 0, made.stderr
    try:
        boot = _docker_env(env, "buildx", "inspect", "--bootstrap", "lat-container")
        if boot.returncode != 0:
            tail = " ".join((boot.stderr or boot.stdout).split())[-300:]
            pytest.skip(
                "the docker-container driver runs BuildKit from the moby/buildkit image, which "
                f"buildx pulls from a registry, and none is reachable here: {tail}"
            )
        cache = tmp_path / "cache"
        options = BuildOptions(
            backend=Backend.BAKE,
            gate=False,
            builder="lat-container",
            cache_to=(f"type=local,dest={cache}/{{slug}},mode=max",),
        )
        report = run_build(bake_family, options, runner=SubprocessRunner(env=env))
        assert report.ok, [(o.image_key, o.message) for o in report.outcomes]
        assert (cache / "stage-cpu" / "index.json").is_file()
        assert _architecture(report.plan.step("stage:cpu").ref) == "amd64"
    finally:
        _docker_env(env, "buildx", "rm", "--force", "lat-container")


# ------------------------------------------------------------------------- size records


def test_sizes_are_recorded_and_unexplained_growth_is_flagged(bake_family: Workspace) -> None:
    from lockaudit.report.trend import size_trends
    from lockaudit.sizelog import SIZES_LOG, read_size_log

    first = run_build(bake_family, BuildOptions(gate=False))
    assert first.ok
    records = read_size_log(bake_family.path(SIZES_LOG))
    assert [r.image for r in records] == [s.image_key for s in first.plan.steps]
    for record in records:
        engine_size = docker("image", "inspect", "--format", "{{.Size}}", record.ref).strip()
        assert record.size == int(engine_size)
        assert sum(layer.size for layer in record.layers) == record.size
        assert record.id == docker("image", "inspect", "--format", "{{.Id}}", record.ref).strip()
    # mid:cuda gets 3 MiB that no lock explains; its child stage:cuda inherits them.
    path = bake_family.path("docker/mid/Dockerfile")
    path.write_text(path.read_text() + "RUN dd if=/dev/zero of=/ballast bs=1024 count=3072\n")
    second = run_build(bake_family, BuildOptions(gate=False))
    assert {o.image_key for o in second.outcomes if o.status is BuildStatus.BUILT} == {
        "mid:cuda",
        "stage:cuda",
    }
    trends = {t.key: t for t in size_trends(read_size_log(bake_family.path(SIZES_LOG)), {})}
    assert {key for key, t in trends.items() if t.growths} == {"mid:cuda", "stage:cuda"}
    growth = trends["mid:cuda"].growths[0]
    assert 3 << 20 <= growth.grown < (3 << 20) + 4096 and not growth.lock_changed


@pytest.mark.parametrize("backend", [Backend.BUILD, Backend.BAKE])
def test_a_dockerfile_whose_build_writes_its_from_is_built_under_that_from(
    bake_family: Workspace, backend: Backend
) -> None:
    root = bake_family.root
    config = root / "pyproject.toml"
    text = config.read_text()
    at = text.index('name = "other"')
    config.write_text(text[:at] + "from-inserted = true\n" + text[at:])
    dockerfile = root / "docker/other/Dockerfile"
    dockerfile.write_text("ARG LAYER_LOCK\nRUN echo other >> /layers\n")  # no FROM of its own
    on_disk = dockerfile.read_bytes()
    workspace = load_workspace(root)
    report = run_build(workspace, BuildOptions(backend=backend, gate=False))
    assert report.ok, [(o.image_key, o.message) for o in report.outcomes]
    ref = f"local/{workspace.image_prefix}other:cuda"
    layers = docker("run", "--rm", ref, "sh", "-c", "cat /layers").split()
    assert layers == ["locks/base-cuda.layer.txt", "other"]  # built on base:cuda, as written
    assert dockerfile.read_bytes() == on_disk  # the file on disk is left as it is
