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
from tests.indexserver import IndexServer

server = test_audit_replay.server
RUNTIME = "nvidia/cuda:12.1.1-runtime-ubuntu22.04"
Audit = Callable[[str, str], list[tuple[str, str, str]]]


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
        for version in ("1.14.0", "1.18.1", "1.19.0", "2.13.0", "2.16.1", "2.19.0", "3.24.0",
                        "4.4.0", "4.5.0"):
            rows = [n for n in NATIVE_NEEDS if n.package == package and n.covers(Version(version))]
            assert len(rows) <= 1, (package, version, rows)
    old_ort = need_of("onnxruntime-gpu", Version("1.18.1"))
    assert old_ort is not None and old_ort.cuda == "11.8"
    assert need_of("tensorflow", Version("2.20.0")) is None  # not read yet: not judged


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
