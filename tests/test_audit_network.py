"""``lockaudit audit`` on ``examples/as-published`` against the public index (opt-in: network).

Asserts the findings verified by hand in ``examples/as-published/EXPECTED.md`` (ids C1, C3, C6,
F2, D1-D3), from the pinned releases' own metadata. The PyTorch wheel index may be unreachable
from the machine running the test: then the base-ml torch step must be reported as
``index-unreachable`` (and the CUDA stages unverified) instead of D1-D3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockaudit.audit import AuditResult, audit_workspace
from lockaudit.report.sources import open_sources
from lockaudit.rules.findings import Finding
from lockaudit.workspace.config import load_workspace

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "as-published"

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def result() -> AuditResult:
    workspace = load_workspace(EXAMPLE)
    with open_sources(workspace) as (client, vulns):
        return audit_workspace(workspace, client, vulns=vulns)


def _messages(result: AuditResult, rule: str, image: str | None = None) -> list[str]:
    return [
        f.message for f in result.findings if f.rule == rule and (image is None or f.image == image)
    ]


def test_c1_transformers_and_huggingface_hub_stop_the_base_ml_build(result: AuditResult) -> None:
    (c1,) = _messages(result, "install-conflict", "base-ml:cuda")
    assert "huggingface-hub==0.20.3" in c1 and "transformers==4.57.1" in c1
    assert "huggingface-hub<1.0,>=0.34.0" in c1


def test_c3_c6_the_matrix_conflicts(result: AuditResult) -> None:
    matrix = _messages(result, "matrix-conflict")
    assert any("pyannote-audio==3.4.0 requires torchaudio>=2.2.0" in m for m in matrix)  # C6
    assert any("whisperx==3.7.2 requires numpy<2.1.0,>=2.0.2" in m for m in matrix)  # C3


def test_f2_cpu_fallbacks_pull_cuda_wheels(result: AuditResult) -> None:
    cuda = [f for f in result.findings if f.rule == "cuda-in-cpu-image"]
    # one finding per set of wheels: the images installing the same set are named in it
    images = {f.image for f in cuda} | {
        i
        for f in cuda
        for i in ("asr:cpu", "diarization:cpu", "pyannote-vad:cpu")
        if i in f.message
    }
    assert images >= {"asr:cpu", "diarization:cpu", "pyannote-vad:cpu"}


def test_d1_d3_or_the_unreachable_pytorch_index(result: AuditResult) -> None:
    unreachable = _messages(result, "index-unreachable", "base-ml:cuda")
    if unreachable:
        assert not result.replay("asr:cuda").complete
        return
    for image in ("asr:cuda", "diarization:cuda", "pyannote-vad:cuda"):
        replaced = [f.package for f in _replacing(result, image)]
        assert "torch" in replaced and "torchaudio" in replaced


def _replacing(result: AuditResult, image: str) -> list[Finding]:
    """The replaced-package findings ``image`` takes part in: its own, or the one finding
    that groups every child replacing the same parent release (image names in the message)."""
    return [
        f
        for f in result.findings
        if f.rule == "reinstalls-parent-package" and (f.image == image or f" {image}" in f.message)
    ]


@pytest.fixture(scope="module")
def mirrored() -> AuditResult:
    """The same audit with the PyTorch index served from the default index (its Linux
    torch 2.1.0 is the CUDA 12.1 build), so D1-D3 are checked wherever the test runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCKAUDIT_INDEX_MIRRORS", "https://download.pytorch.org/whl/cu121=default")
        workspace = load_workspace(EXAMPLE)
        with open_sources(workspace) as (client, vulns):
            return audit_workspace(workspace, client, vulns=vulns)


@pytest.mark.parametrize("image", ["asr:cuda", "diarization:cuda", "pyannote-vad:cuda"])
def test_d1_d3_stage_layers_reinstall_the_torch_of_base_ml(
    mirrored: AuditResult, image: str
) -> None:
    found = _replacing(mirrored, image)
    replaced = {f.package for f in found}
    assert {"torch", "torchaudio"} <= replaced
    torch = next(f for f in found if f.package == "torch")
    assert torch.severity.value == "error"  # a heavy package: gigabytes duplicated
    places = {torch.location.path, *(r.path for r in torch.related)}
    assert f"docker/{image.split(':')[0]}/Dockerfile" in places
    assert "base-ml:cuda" in torch.message and "duplicated" in torch.message
