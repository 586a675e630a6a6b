"""``base-image-incompatible``: GPU wheels that load the image's CUDA and cuDNN, judged against
the base image's tag with the sourced table of ``lockaudit/audit/basecompat.py`` — over the
replay tests' loopback index and workspace, on a base whose tag says its cuDNN."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from lockaudit.audit import AuditResult, audit_workspace
from lockaudit.audit.basecompat import NATIVE_NEEDS, need_of, shortfall
from lockaudit.errors import Location
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.index.transport import RetryPolicy
from lockaudit.workspace.config import load_workspace
from tests import test_audit_replay
from tests.indexserver import IndexServer, IndexSpec, Project, Release, Scenario

RUNTIME = "nvidia/cuda:12.1.1-runtime-ubuntu22.04"
Audit = Callable[[str, str], list[tuple[str, str, str]]]
MANYLINUX = test_audit_replay.MANYLINUX


def _gpu(name: str, *releases: Release) -> Project:
    return Project(name, releases)


def _release(version: str, *requires: str, extras: tuple[str, ...] = ()) -> Release:
    return Release(version, requires, extras=extras,
                   files=(test_audit_replay._wheel(MANYLINUX),))


AND_CUDA = ("nvidia-cudnn-cu12==9.3.0.75; extra == 'and-cuda'",
            "nvidia-cuda-runtime-cu12==12.5.82; extra == 'and-cuda'")
# The GPU wheels of the table, named and pinned as their projects publish them: JAX's plugin
# pins its PJRT runtime and, with the with-cuda extra, the nvidia-* wheels; PaddlePaddle's
# CUDA 12.0 build is the .post120 of the same release.
GPU_PROJECTS = (
    _gpu("tensorflow", _release("2.18.0", *AND_CUDA, extras=("and-cuda",)),
         _release("2.20.0", *AND_CUDA, extras=("and-cuda",))),
    _gpu("nvidia-cudnn-cu12", _release("9.1.0.70"), _release("9.3.0.75"), _release("9.8.0.87")),
    _gpu("nvidia-cuda-runtime-cu12", _release("12.4.99"), _release("12.5.82")),
    _gpu("jax-cuda12-plugin",
         _release("0.6.0", "jax-cuda12-pjrt==0.6.0",
                  "nvidia-cudnn-cu12>=9.8,<10.0; extra == 'with-cuda'", extras=("with-cuda",)),
         _release("0.4.31", "jax-cuda12-pjrt==0.4.31")),
    _gpu("jax-cuda12-pjrt", _release("0.4.31"), _release("0.6.0")),
    _gpu("jax-cuda13-plugin", _release("0.8.0", "jax-cuda13-pjrt==0.8.0")),
    _gpu("jax-cuda13-pjrt", _release("0.8.0")),
    _gpu("paddlepaddle-gpu", _release("2.6.2"), _release("2.6.2.post120")),
)


def _scenario() -> Scenario:
    """The replay tests' indexes, the default one with the GPU wheels (replacing its own
    projects of the same name)."""
    base = test_audit_replay._scenario()
    default = base.index("default")
    ours = {p.name for p in GPU_PROJECTS}
    projects = (*(p for p in default.projects if p.name not in ours), *GPU_PROJECTS)
    return Scenario((IndexSpec("default", projects),
                     *(i for i in base.indexes if i.name != "default")))


@pytest.fixture
def server(index_server: Callable[[Scenario], IndexServer]) -> IndexServer:
    return index_server(_scenario())


def _audit(root: Path, server: IndexServer, cache_dir: Path, retry: RetryPolicy, run: str,
           base: str) -> AuditResult:
    test_audit_replay._workspace(root, server, {"asr": run})
    for path in (root / "pyproject.toml", root / "docker/base-cuda/Dockerfile"):
        path.write_text(path.read_text().replace(RUNTIME, base))
    workspace = load_workspace(root)
    client = build_index_client(workspace, cache_dir=cache_dir,
                                pip_config=PipConfig(index_url=server.index_url("default")),
                                retry=retry)
    try:
        return audit_workspace(workspace, client)
    finally:
        client.close()


@pytest.fixture
def audit(tmp_path: Path, server: IndexServer, hermetic_pip: None, cache_dir: Path,
          fast_retry: RetryPolicy) -> Iterator[Audit]:
    def run(line: str, base: str) -> list[tuple[str, str, str]]:
        result = _audit(tmp_path / "ws", server, cache_dir, fast_retry, line, base)
        return [(f.severity.value, str(f.location), f.message) for f in result.findings
                if f.rule == "base-image-incompatible"]
    yield run


CUDNN8 = "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"


def test_a_cudnn9_build_on_a_cudnn8_base_is_an_error_at_its_line(audit: Audit) -> None:
    ((severity, where, message),) = audit("RUN pip install ctranslate2==4.5.0\n", CUDNN8)
    assert severity == "error" and where == str(Location("docker/asr/Dockerfile", 2))
    assert "ctranslate2 4.5.0 loads CUDA 12 and cuDNN 9 libraries" in message
    assert "has CUDA 12.1 and cuDNN 8" in message and "CHANGELOG" in message


def test_the_release_for_the_base_passes_and_a_base_without_cudnn_fails(audit: Audit) -> None:
    assert audit("RUN pip install ctranslate2==4.4.0\n", CUDNN8) == []
    ((severity, _, message),) = audit("RUN pip install ctranslate2==4.4.0\n", RUNTIME)
    assert severity == "error" and "and no cuDNN" in message


def test_the_table_cites_a_source_for_every_row_and_ranges_do_not_overlap() -> None:
    for need in NATIVE_NEEDS:
        assert need.source.startswith("https://"), need
    for package in {n.package for n in NATIVE_NEEDS}:
        for version in ("0.4.31", "0.5.3", "0.6.0", "0.8.0", "1.14.0", "1.18.1", "1.19.0",
                        "2.5.1.post102", "2.6.2", "2.6.2.post120", "2.13.0", "2.16.1", "2.19.0",
                        "2.20.0", "3.24.0", "4.4.0", "4.5.0"):
            rows = [n for n in NATIVE_NEEDS if n.package == package and n.covers(Version(version))]
            assert len(rows) <= 1, (package, version, rows)
    old_ort = need_of("onnxruntime-gpu", Version("1.18.1"))
    assert old_ort is not None and old_ort.cuda == "11.8"
    tf = need_of("tensorflow", Version("2.21.0"))
    assert tf is not None and (tf.cuda, tf.cudnn) == ("12.5", "9.3")
    assert need_of("tensorflow", Version("2.22.0")) is None  # not listed yet: not judged
    assert need_of("paddlepaddle-gpu", Version("3.0.0")) is None  # brings its own CUDA
    assert need_of("paddlepaddle-gpu", Version("2.6.0")) is None  # no page of its own found
    paddle = [n for n in NATIVE_NEEDS if n.package == "paddlepaddle-gpu"]
    assert len(paddle) == 22  # every row is one case of test_paddle_builds_per_release


CUDNN9 = "nvidia/cuda:12.1.1-cudnn9-runtime-ubuntu22.04"
LINE = str(Location("docker/asr/Dockerfile", 2))


def test_tensorflow_2_20_on_a_cudnn8_base_is_an_error(audit: Audit) -> None:
    ((severity, where, message),) = audit("RUN pip install tensorflow==2.20.0\n", CUDNN8)
    assert severity == "error" and where == LINE
    assert "tensorflow 2.20.0 loads CUDA 12.5 and cuDNN 9.3 libraries from the image" in message
    assert "install/source#gpu" in message


def test_tensorflow_with_its_cuda_wheels_is_judged_by_those_wheels(audit: Audit) -> None:
    """and-cuda brings CUDA 12.5 and cuDNN 9.3 as wheels, which TensorFlow loads itself: the
    base's CUDA 12.1 is not what it runs on."""
    assert audit("RUN pip install 'tensorflow[and-cuda]==2.18.0'\n", CUDNN8) == []


@pytest.mark.parametrize(
    ("line", "names", "wants"),
    [
        ("jax-cuda12-plugin==0.6.0", "jax-cuda12-plugin 0.6.0 (with jax-cuda12-pjrt 0.6.0)",
         "CUDA 12.1 and cuDNN 9.8"),
        ("jax-cuda12-plugin==0.4.31", "jax-cuda12-plugin 0.4.31 (with jax-cuda12-pjrt 0.4.31)",
         "CUDA 12.1 and cuDNN 9.1"),
        ("jax-cuda12-pjrt==0.6.0", "jax-cuda12-pjrt 0.6.0", "CUDA 12.1 and cuDNN 9.8"),
        ("jax-cuda13-plugin==0.8.0", "jax-cuda13-plugin 0.8.0 (with jax-cuda13-pjrt 0.8.0)",
         "CUDA 13.0 and cuDNN 9.8"),
        ("jax-cuda13-pjrt==0.8.0", "jax-cuda13-pjrt 0.8.0", "CUDA 13.0 and cuDNN 9.8"),
    ],
)
def test_jax_local_cuda_wheels_on_a_cudnn8_base_are_one_error(
    audit: Audit, line: str, names: str, wants: str
) -> None:
    """The plugin and the PJRT runtime it pins come from one line and need the same: said once."""
    ((severity, where, message),) = audit(f"RUN pip install {line}\n", CUDNN8)
    assert severity == "error" and where == LINE
    assert f"{names} loads {wants} libraries from the image" in message
    assert "docs.jax.dev" in message


def test_jax_with_its_cuda_wheels_fits_and_an_older_cudnn_wheel_beside_it_does_not(
    audit: Audit,
) -> None:
    """JAX prefers the nvidia-* wheels to the image's libraries: with-cuda's cuDNN 9.8 fits a
    cuDNN 8 base; a cuDNN 9.1 wheel pinned beside the local plugin (torch's) is what JAX loads,
    too old by a minor, and JAX refuses to start on it, so an error even on a cuDNN 9 base."""
    assert audit("RUN pip install 'jax-cuda12-plugin[with-cuda]==0.6.0'\n", CUDNN8) == []
    ((severity, where, message),) = audit(
        "RUN pip install jax-cuda12-plugin==0.6.0 nvidia-cudnn-cu12==9.1.0.70\n", CUDNN9
    )
    assert severity == "error" and where == LINE
    assert ("loads CUDA 12.1 and cuDNN 9.8 libraries, but the nvidia-cudnn-cu12 9.1.0.70 wheel "
            "gives cuDNN 9.1 (the base image of asr:cuda has CUDA 12.1)") in message


def test_paddle_default_build_is_cuda_11_8_and_its_post120_build_fits(audit: Audit) -> None:
    ((severity, where, message),) = audit("RUN pip install paddlepaddle-gpu==2.6.2\n", CUDNN8)
    assert severity == "error" and where == LINE
    assert "paddlepaddle-gpu 2.6.2 loads CUDA 11.8 and cuDNN 8.6 libraries" in message
    assert "PaddlePaddle/docs" in message
    assert audit("RUN pip install paddlepaddle-gpu==2.6.2.post120\n", CUDNN8) == []


def test_paddle_hint_names_the_build_of_the_same_release(
    tmp_path: Path, server: IndexServer, hermetic_pip: None, cache_dir: Path,
    fast_retry: RetryPolicy,
) -> None:
    result = _audit(tmp_path / "ws", server, cache_dir, fast_retry,
                    "RUN pip install paddlepaddle-gpu==2.6.2\n", CUDNN8)
    (finding,) = [f for f in result.findings if f.rule == "base-image-incompatible"]
    assert finding.hint and finding.hint.startswith(
        "pin paddlepaddle-gpu==2.6.2.post120 (built for this base)")


@pytest.mark.parametrize(
    ("version", "cuda", "cudnn"),
    [  # each release's "CUDA toolkit X with cuDNN vY" list and the build it installs for it
        ("2.5.1.post102", "10.2", "7.6"), ("2.5.1", "11.8", "8.6"),
        ("2.5.1.post112", "11.2", "8.2"), ("2.5.1.post116", "11.6", "8.4"),
        ("2.5.1.post117", "11.7", "8.4"), ("2.5.1.post120", "12.0", "8.9"),
        ("2.5.2.post102", "10.2", "7.6"), ("2.5.2.post112", "11.2", "8.2"),
        ("2.5.2.post116", "11.6", "8.4"), ("2.5.2.post117", "11.7", "8.4"),
        ("2.5.2", "11.8", "8.6"), ("2.5.2.post120", "12.0", "8.9"),
        ("2.6.1.post112", "11.2", "8.2"), ("2.6.1.post116", "11.6", "8.4"),
        ("2.6.1.post117", "11.7", "8.4"), ("2.6.1", "11.8", "8.6"),
        ("2.6.1.post120", "12.0", "8.9"), ("2.6.2.post112", "11.2", "8.2"),
        ("2.6.2.post116", "11.6", "8.4"),
        ("2.6.2.post117", "11.7", "8.4"), ("2.6.2", "11.8", "8.6"),
        ("2.6.2.post120", "12.0", "8.9"),
    ],
)
def test_paddle_builds_per_release(version: str, cuda: str, cudnn: str) -> None:
    need = need_of("paddlepaddle-gpu", Version(version))
    assert need is not None and (need.cuda, need.cudnn) == (cuda, cudnn)


@pytest.mark.parametrize(
    ("need", "have", "gap"),
    [("12", "12.1", None), ("12.5", "12.1", "minor"), ("11.8", "12.1", "major"),
     ("9", "8", "major"), ("8.9", "8", None), ("9", None, "major"), ("8.6", "8.9", None)],
)
def test_shortfall(need: str, have: str | None, gap: str | None) -> None:
    assert shortfall(need, have) == gap


@pytest.mark.parametrize(
    ("requires", "cuda"),
    [
        ("nvidia-cuda-runtime-cu12==12.4.127", "12.4"),
        ("nvidia-cuda-runtime-cu13==13.0.48", "13.0"),
        ("nvidia-cuda-runtime==13.0.96; platform_system == 'Linux'", "13.0"),
        ("cuda-toolkit[cublas,cudart]==13.0.2", "13.0"),
        ("nvidia-ml-py>=12", None),  # a library for NVML, not a CUDA runtime
    ],
)
def test_torch_cuda_reads_every_runtime_naming(requires: str, cuda: str | None) -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from lockaudit.audit.replay import Installed
    from lockaudit.audit.rules import torch_cuda
    from lockaudit.index.types import Candidate, CoreMetadata

    version = Version("2.9.0")
    metadata = CoreMetadata(canonicalize_name("torch"), version, (Requirement(requires),))
    item = Installed(canonicalize_name("torch"), version,
                     Candidate(canonicalize_name("torch"), version, (), "idx"), metadata, "ml",
                     Location("Dockerfile", 2), None, 0)
    assert torch_cuda(item) == cuda


def test_cuda_wheels_served_by_a_mirror_of_the_cpu_index_say_so(
    tmp_path: Path, server: IndexServer, hermetic_pip: None, cache_dir: Path,
    fast_retry: RetryPolicy,
) -> None:
    """The CPU index mirrored to the default index: the finding names the index asked, the
    mirror that answered, and the fix."""
    cpu = "https://cpu-wheels.invalid/whl/cpu"
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker/Dockerfile").write_text(
        f"FROM python:3.11-slim\nRUN pip install torch==2.2.0 --index-url {cpu}\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lockaudit]\n[tool.lockaudit.target]\npython = "3.11.7"\n'
        f'[tool.lockaudit.mirrors]\n"{cpu}" = "default"\n'
        '[[tool.lockaudit.images]]\nname = "app"\ntag = "cpu"\nvariant = "cpu"\n'
        'dockerfile = "docker/Dockerfile"\nbase-image = "python:3.11-slim"\n'
    )
    workspace = load_workspace(tmp_path)
    client = build_index_client(workspace, cache_dir=cache_dir,
                                pip_config=PipConfig(index_url=server.index_url("default")),
                                retry=fast_retry)
    try:
        result = audit_workspace(workspace, client)
    finally:
        client.close()
    (finding,) = [f for f in result.findings if f.rule == "cuda-in-cpu-image"]
    assert (f"nvidia-cuda-runtime-cu12 came from {cpu}, which [tool.lockaudit.mirrors] serves "
            "from the default index: the mirror has no +cpu builds") in finding.message
    assert finding.hint and finding.hint.startswith("where the CPU index is reachable, drop")
