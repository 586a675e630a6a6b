"""``compile_workspace`` end to end against the loopback test index.

The workspace is the pipeline in small: ``base:cuda``/``base:cpu`` install the common
requirements, ``base-ml:cuda`` adds torch routed to a PyTorch-style index, ``asr:cuda`` adds a
stage package, and ``asr:cpu`` is its CPU fallback built on ``base:cpu`` with the CPU torch.
The default index also serves ``torch 9.9.9`` (a dependency-confusion trap routing must avoid).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from lockaudit.compile import CompileOptions, CompileResult, Status, compile_workspace
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.index.tags import platforms
from lockaudit.locks import read_lock
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace
from tests.indexserver import IndexServer, Scenario, scenario_from_dict
from tests.workspace_builder import (
    Table,
    constraint,
    image,
    index,
    pyproject_text,
    settings,
    write_workspace,
)

MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
LINUX = "cp311-cp311-linux_x86_64"
IMAGES = ("base:cuda", "base:cpu", "base-ml:cuda", "asr:cuda", "asr:cpu")


Data = dict[str, Any]


def _releases(*versions: str, requires: tuple[str, ...] = (), tags: str = "py3-none-any") -> Data:
    return {
        "releases": [
            {"version": v, "requires_dist": list(requires), "files": [{"tags": tags}]}
            for v in versions
        ]
    }


def _torch(local: str, padding: int) -> Data:
    def release(version: str) -> Data:
        return {
            "version": f"{version}+{local}",
            "requires_dist": ["filelock"],
            "files": [{"tags": LINUX, "padding": padding}],
        }

    return {"releases": [release("2.1.0"), release("2.2.0")]}


def _torchaudio(local: str) -> Data:
    return {
        "releases": [
            {
                "version": f"2.1.0+{local}",
                "requires_dist": ["torch==2.1.0"],
                "files": [{"tags": LINUX}],
            }
        ]
    }


def scenario() -> Scenario:
    default = {
        "torch": _releases("9.9.9"),
        "numpy": _releases("1.24.3", "1.26.4", tags=MANYLINUX),
        "rich": _releases("14.1.0", "14.2.0"),
        "tqdm": {
            "releases": [
                {"version": "4.66.0"},
                {"version": "4.67.0", "requires_dist": ["colorama"]},
            ]
        },
        "colorama": _releases("0.4.6"),
        "filelock": _releases("3.12.0"),
        "whisperx": _releases("3.1.1", requires=("torch>=2.0", "numpy")),
        "pyannote-audio": _releases("3.1.0", requires=("torch>=2.2",)),
    }
    return scenario_from_dict(
        {
            "indexes": {
                "default": {"projects": default},
                "pytorch-cu121": {
                    "projects": {
                        "torch": _torch("cu121", 300_000),
                        "torchaudio": _torchaudio("cu121"),
                    }
                },
                "pytorch-cpu": {
                    "projects": {"torch": _torch("cpu", 1000), "torchaudio": _torchaudio("cpu")}
                },
            }
        }
    )


def _tool(cu121: str, cpu: str, *, diar: bool = False) -> Table:
    """base (cuda and cpu, one Dockerfile), base-ml:cuda, asr:cuda with a cpu fallback, and
    with ``diar`` a second stage on base-ml; torch and torchaudio routed per variant."""
    common = ["requirements-common.txt"]
    torch = ["torch", "torchaudio"]

    def base(tag: str, ref: str) -> Table:
        args = {"BASE_IMAGE": ref, "SLUG": f"base-{tag}"}
        return image("base", tag, base_image=ref, requirements=common, build_args=args)

    def stage(name: str, **extra: object) -> Table:
        return image(
            name,
            "cuda",
            parent="base-ml:cuda",
            requirements=[f"docker/{name}/requirements.txt"],
            **extra,
        )

    cpu_fallback = {
        "tag": "cpu",
        "parent": "base:cpu",
        "build-args": {"PARENT_IMAGE": "base:cpu", "SLUG": "asr-cpu"},
    }
    images = [
        base("cuda", "nvidia/cuda:12.1.1-runtime-ubuntu22.04"),
        base("cpu", "python:3.11-slim"),
        image(
            "base-ml", "cuda", parent="base:cuda", requirements=["docker/base-ml/requirements.txt"]
        ),
        stage("asr", fallback=cpu_fallback),
        *([stage("diar")] if diar else []),
    ]
    return settings(
        images,
        target={"python": "3.11.7", "glibc": "2.35", "cuda": "12.1"},
        constraints=[constraint("constraints/pins.txt")],
        indexes=[
            index("pytorch-cu121", cu121, variant="cuda", packages=torch),
            index("pytorch-cpu", cpu, variant="cpu", packages=torch),
        ],
        versions="versions.txt",
        common="requirements-common.txt",
    )


def _stage_dockerfile(parent: str, slug: str) -> str:
    return (
        f"ARG PARENT_IMAGE={parent}\n"
        "FROM ${PARENT_IMAGE}\n"
        f"ARG SLUG={slug}\n"
        "COPY locks/${SLUG}.layer.txt /tmp/lock.txt\n"
        "RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/lock.txt\n"
    )


FILES = {
    "versions.txt": "CUDA_VERSION=12.1\nnumpy==1.24.3\n",
    "requirements-common.txt": "numpy==1.24.3\nrich\ntqdm\n",
    "constraints/pins.txt": "rich==14.1.0\ntqdm==4.66.0\n",
    "docker/base-ml/requirements.txt": "torch==2.1.0\ntorchaudio==2.1.0\n",
    "docker/asr/requirements.txt": "whisperx==3.1.1\n",
    "docker/diar/requirements.txt": "pyannote-audio==3.1.0\n",
    "docker/base/Dockerfile": (
        "ARG BASE_IMAGE=python:3.11-slim\n"
        "FROM ${BASE_IMAGE}\n"
        "ARG SLUG=base-cpu\n"
        "COPY locks/${SLUG}.layer.txt /tmp/lock.txt\n"
        "RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/lock.txt\n"
    ),
    "docker/base-ml/Dockerfile": _stage_dockerfile("base:cuda", "base-ml-cuda"),
    "docker/asr/Dockerfile": _stage_dockerfile("base-ml:cuda", "asr-cuda"),
    "docker/diar/Dockerfile": _stage_dockerfile("base-ml:cuda", "diar-cuda"),
}


@dataclass(frozen=True)
class Env:
    """A workspace on disk, the index serving it, and a way to compile it."""

    root: Path
    server: IndexServer

    def workspace(self) -> Workspace:
        return load_workspace(self.root)

    def compile(self, **options: Any) -> CompileResult:
        workspace = self.workspace()
        config = PipConfig(index_url=self.server.index_url("default"))
        client = build_index_client(workspace, cache_dir=self.root / ".cache", pip_config=config)
        try:
            return compile_workspace(workspace, client, CompileOptions(**options))
        finally:
            client.close()

    def locks(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted((self.root / "locks").iterdir())}

    def pins(self, slug: str, *, layer: bool = False) -> dict[str, str]:
        path = self.root / "locks" / (f"{slug}.layer.txt" if layer else f"{slug}.txt")
        return {p.name: str(p.version) for p in read_lock(path).packages}


def _env_tool(server: IndexServer, *, diar: bool = False) -> Table:
    return _tool(server.index_url("pytorch-cu121"), server.index_url("pytorch-cpu"), diar=diar)


def make_env(root: Path, server: IndexServer, *, diar: bool = False) -> Env:
    # a Dockerfile no image is built from would fail `check` (coverage)
    files = {p: c for p, c in FILES.items() if diar or p != "docker/diar/Dockerfile"}
    write_workspace(root, _env_tool(server, diar=diar), files)
    return Env(root, server)


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(scenario()) as running:
        yield running


@pytest.fixture
def env(tmp_path: Path, server: IndexServer, hermetic_pip: None) -> Env:
    return make_env(tmp_path, server)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Env:
    """One compile of the whole workspace, shared by read-only tests."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    for key in saved:
        del os.environ[key]
    try:
        env = make_env(tmp_path_factory.mktemp("compiled"), server)
        result = env.compile()
    finally:
        os.environ.update(saved)
    assert result.ok, [r.reason for r in result.results]
    return env


def test_compiles_every_image_in_build_order(compiled: Env) -> None:
    assert sorted(compiled.locks()) == sorted(
        f"{name}"
        for slug in ("base-cuda", "base-cpu", "base-ml-cuda", "asr-cuda", "asr-cpu")
        for name in (f"{slug}.txt", f"{slug}.layer.txt", f"pylock.{slug}.toml")
    )
    base = compiled.pins("base-cuda")
    assert base == {"numpy": "1.24.3", "rich": "14.1.0", "tqdm": "4.66.0"}
    ml = compiled.pins("base-ml-cuda")
    assert ml["torch"] == "2.1.0+cu121" and ml["torchaudio"] == "2.1.0+cu121"


def test_layer_locks_are_exactly_the_difference(compiled: Env) -> None:
    for slug, parent in (
        ("base-ml-cuda", "base-cuda"),
        ("asr-cuda", "base-ml-cuda"),
        ("asr-cpu", "base-cpu"),
    ):
        full, layer, above = (
            compiled.pins(slug),
            compiled.pins(slug, layer=True),
            compiled.pins(parent),
        )
        assert layer == {name: v for name, v in full.items() if name not in above}, slug
        assert {name: v for name, v in full.items() if name in above} == above, slug
    assert set(compiled.pins("asr-cuda", layer=True)) == {"whisperx"}
    assert set(compiled.pins("base-ml-cuda", layer=True)) == {"filelock", "torch", "torchaudio"}


def test_routing_and_provenance_are_recorded(compiled: Env, server: IndexServer) -> None:
    lock = read_lock(compiled.root / "locks/asr-cuda.txt")
    torch = lock.package("torch")
    assert torch is not None and torch.layer == "base-ml:cuda"
    assert torch.index.rstrip("/") == server.index_url("pytorch-cu121")
    assert all(f.index == torch.index and f.sha256 for f in torch.files)
    text = (compiled.root / "locks/asr-cuda.txt").read_text()
    assert "# from parent base-ml:cuda" in text and "# from ancestor base:cuda" in text
    assert "# via asr:cuda: docker/asr/requirements.txt:1" in text
    assert f"--extra-index-url {torch.index}" in text
    # The default index is the image's own pip configuration: never written as an option.
    options = [line for line in text.split("\n") if line.startswith("--")]
    assert options == [f"--extra-index-url {torch.index}"]
    base = (compiled.root / "locks/base-cuda.txt").read_text()
    assert "# via base:cuda: requirements-common.txt:1" in base  # required, not only constrained


def test_cpu_fallback_gets_cpu_torch(compiled: Env) -> None:
    pins = compiled.pins("asr-cpu")
    assert pins["torch"] == "2.1.0+cpu" and pins["torchaudio"] == "2.1.0+cpu"
    assert pins["whisperx"] == "3.1.1"
    assert set(compiled.pins("asr-cpu", layer=True)) == {
        "filelock",
        "torch",
        "torchaudio",
        "whisperx",
    }


def test_recompile_without_change_rewrites_no_byte(env: Env) -> None:
    assert env.compile().ok
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (env.root / "locks").iterdir()}
    result = env.compile()
    assert [r.status for r in result.results] == [Status.UNCHANGED] * len(IMAGES)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (env.root / "locks").iterdir()}
    assert after == before


def test_upgrade_package_changes_only_that_package_and_its_new_dependencies(env: Env) -> None:
    assert env.compile().ok
    before = env.pins("base-cuda")
    (env.root / "constraints/pins.txt").write_text("")  # rich 14.2.0 and tqdm 4.67.0 now allowed
    result = env.compile(
        images=("base:cuda",), upgrade_packages=frozenset({canonicalize_name("tqdm")})
    )
    assert result.result("base:cuda").status is Status.WRITTEN
    after = env.pins("base-cuda")
    assert after == {**before, "tqdm": "4.67.0", "colorama": "0.4.6"}
    assert after["rich"] == "14.1.0"  # kept by preference although 14.2.0 is allowed

    result = env.compile(images=("base:cuda",), upgrade=True)
    assert env.pins("base-cuda")["rich"] == "14.2.0"


def test_compiling_a_child_first_compiles_stale_ancestors(env: Env) -> None:
    result = env.compile(images=("asr:cuda",))
    assert [r.image for r in result.results] == ["base:cuda", "base-ml:cuda", "asr:cuda"]
    assert all(r.status is Status.WRITTEN for r in result.results)
    result = env.compile(images=("asr:cuda",))
    assert [r.image for r in result.results] == ["asr:cuda"]  # ancestors are current now


def test_dry_run_writes_nothing(env: Env) -> None:
    result = env.compile(dry_run=True)
    assert result.ok and all(r.status is Status.NOT_WRITTEN for r in result.results)
    assert not (env.root / "locks").exists()


def test_stage_needing_newer_torch_fails_with_parent_explanation(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    env = make_env(tmp_path, server, diar=True)
    result = env.compile(images=("diar:cuda",))
    assert not result.ok
    diar = result.result("diar:cuda")
    assert diar.status is Status.FAILED
    assert any(c.with_parent for c in diar.conflicts)
    conflict = next(c for c in diar.conflicts if c.with_parent)
    text = "\n".join(conflict.lines())
    assert "docker/diar/requirements.txt:1" in text
    assert "locks/base-ml-cuda.txt:" in text
    assert canonicalize_name("torch") in diar.reinstall
    assert diar.reinstall_bytes >= 300_000  # the padded torch wheel
    # Nothing of the run was written, not even the ancestors that did resolve.
    assert not (tmp_path / "locks").exists()
    assert result.result("base-ml:cuda").status is Status.NOT_WRITTEN


def test_failed_compile_leaves_existing_locks_byte_identical(env: Env) -> None:
    assert env.compile().ok
    before = env.locks()
    (env.root / "requirements-common.txt").write_text("numpy==1.24.3\nrich\ntqdm\ncolorama\n")
    (env.root / "pyproject.toml").write_text(pyproject_text(_env_tool(env.server, diar=True)))
    result = env.compile()
    assert not result.ok
    assert result.result("base:cuda").changed  # it would have changed...
    assert env.locks() == before  # ...but nothing was written
    assert not [p for p in (env.root / "locks").iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- pip's view


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _lock_files() -> list[str]:
    slugs = ("base-cuda", "base-cpu", "base-ml-cuda", "asr-cuda", "asr-cpu")
    return [f"{slug}{suffix}" for slug in slugs for suffix in (".txt", ".layer.txt")]


@pytest.mark.parametrize("name", _lock_files())
def test_each_lock_installs_with_pip_require_hashes(
    compiled: Env, server: IndexServer, tmp_path: Path, name: str
) -> None:
    path = compiled.root / "locks" / name
    lock = read_lock(path)
    platform_args = [arg for tag in platforms(lock.target) for arg in ("--platform", tag)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--no-deps",
        "--require-hashes",
        "--python-version",
        "3.11",
        "--only-binary=:all:",
        "--target",
        str(tmp_path / "target"),
        *platform_args,
        "--index-url",
        server.index_url("default"),
        "-r",
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=_pip_env(), check=False)
    assert result.returncode == 0, result.stderr
    would = result.stdout.split("Would install", 1)[1].split()
    expected = {f"{p.name}-{p.version}" for p in lock.packages}
    if name.endswith(".layer.txt"):
        expected = {f"{p.name}-{p.version}" for p in lock.layer_packages}
    assert {w.lower().replace("_", "-") for w in would} == expected


def test_compile_leaves_the_parsed_locks_for_the_next_check(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "lockaudit-cache"
    monkeypatch.setenv("LOCKAUDIT_CACHE_DIR", str(cache))
    assert env.compile().ok
    (slot,) = (cache / "parsed").iterdir()
    written = slot.stat().st_mtime_ns
    run_checks(load_workspace(env.root))
    assert slot.stat().st_mtime_ns == written  # read back as it was, not parsed and rewritten


def test_every_pylock_is_valid_pep751(compiled: Env) -> None:
    """packaging's PEP 751 reader is the oracle: every file has a URL, hashes and its index."""
    from packaging.pylock import Pylock

    pylocks = {n: b for n, b in compiled.locks().items() if n.startswith("pylock.")}
    assert len(pylocks) == 5
    for name, body in pylocks.items():
        lock = Pylock.from_dict(tomllib.loads(body.decode()))
        assert lock.packages, name
        for package in lock.packages:
            assert package.index and package.index.startswith(compiled.server.index_url("")[:16])
            files = [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]
            assert files, (name, package.name)
            for file in files:
                assert file.url and file.url.startswith("http://127.0.0.1"), (name, file)
                assert file.hashes.get("sha256") and file.size, (name, file)


def test_uv_installs_from_a_pylock(compiled: Env, tmp_path: Path) -> None:
    """uv is the installer oracle: the pylock alone (no index given) names every file to fetch."""
    venv = tmp_path / "venv"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    pylock = compiled.root / "locks" / "pylock.base-ml-cuda.toml"
    command = ["uv", "pip", "install", "--dry-run", "--no-config", "--no-index"]
    command += ["--preview-features", "pylock", "--python", str(venv / "bin" / "python")]
    done = subprocess.run(
        [*command, "-r", str(pylock)],
        capture_output=True,
        text=True,
        env={**os.environ, "UV_NO_CACHE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    planned = {
        line.split("==")[0].removeprefix(" + ")
        for line in done.stderr.splitlines()
        if " + " in line
    }
    assert planned == set(compiled.pins("base-ml-cuda")), done.stderr


def _compile_with_fresh_cache(env: Env, cache: Path, **options: Any) -> CompileResult:
    workspace = env.workspace()
    config = PipConfig(index_url=env.server.index_url("default"))
    client = build_index_client(workspace, cache_dir=cache, pip_config=config)
    try:
        return compile_workspace(workspace, client, CompileOptions(**options))
    finally:
        client.close()


def test_no_op_compile_asks_the_index_nothing(env: Env, tmp_path: Path) -> None:
    """Locks whose every input digest matches are up to date: no request, no byte written."""
    assert env.compile().ok
    before = env.locks()
    asked = sum(env.server.requests.values())
    result = _compile_with_fresh_cache(env, tmp_path / "cold-cache")
    assert [r.status for r in result.results] == [Status.UNCHANGED] * len(IMAGES)
    assert all(r.reason == "up to date" for r in result.results)
    assert sum(env.server.requests.values()) == asked
    assert env.locks() == before

    # An edit of one stage's requirements sends that stage (both its tags), and only it, to the
    # resolver.
    (env.root / "docker/asr/requirements.txt").write_text("whisperx==3.1.1\n# edited\n")
    result = _compile_with_fresh_cache(env, tmp_path / "cold-cache-2")
    assert sum(env.server.requests.values()) > asked
    assert {r.image for r in result.results if r.reason != "up to date"} == {"asr:cuda", "asr:cpu"}

    # A tampered layer lock is not "up to date": compile rewrites it.
    layer = env.root / "locks" / "base-cuda.layer.txt"
    layer.write_text(layer.read_text() + "\n")
    result = _compile_with_fresh_cache(env, tmp_path / "cold-cache-3")
    assert result.result("base:cuda").status is Status.WRITTEN
    assert layer.read_bytes() == before["base-cuda.layer.txt"]


def _rules_found(root: Path) -> list[tuple[str, str]]:
    return [(f.rule, f.location.path) for f in run_checks(load_workspace(root))]


def test_pylock_false_writes_none_and_removes_the_old_ones(env: Env) -> None:
    """A repository that must not record its index's URLs turns pylocks off; the gate holds."""
    assert env.compile().ok
    gate = _rules_found(env.root)
    pyproject = env.root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("[tool.lockaudit]\n", "[tool.lockaudit]\npylock = false\n", 1)
    )
    text_locks = {n: b for n, b in env.locks().items() if not n.startswith("pylock.")}
    result = env.compile()
    assert result.ok
    assert env.locks() == text_locks  # the pylocks are gone, no text lock changed
    assert _rules_found(env.root) == gate  # the gate says what it said with pylocks
    again = env.compile()
    assert all(r.reason == "up to date" for r in again.results)


def test_pylock_false_must_be_a_boolean(env: Env) -> None:
    pyproject = env.root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("[tool.lockaudit]\n", '[tool.lockaudit]\npylock = "no"\n', 1)
    )
    with pytest.raises(Exception, match="must be true or false") as raised:
        load_workspace(env.root)
    assert "pyproject.toml:2" in str(raised.value)


def test_a_pylock_of_the_old_form_fails_the_gate_and_compile_rewrites_it(env: Env) -> None:
    """Form 1 pylocks (no file URLs) are not PEP 751: check says so; compile mends only them."""
    assert env.compile().ok
    before = env.locks()
    pylock = env.root / "locks" / "pylock.asr-cpu.toml"
    old = pylock.read_text().replace('pylock-form = "2"\n', "")
    old = "\n".join(line for line in old.split("\n") if not line.startswith("url = "))
    gate = _rules_found(env.root)
    pylock.write_text(old)
    found = [
        f for f in run_checks(load_workspace(env.root)) if (f.rule, f.location.path) not in gate
    ]
    assert [(f.rule, f.location.path) for f in found] == [
        ("lock-inconsistent", "locks/pylock.asr-cpu.toml")
    ]
    assert "not valid PEP 751" in found[0].message
    result = env.compile()
    assert result.result("asr:cpu").status is Status.WRITTEN
    assert env.locks() == before  # the text locks untouched, the pylock as compile writes it
