"""All conflicts, grouped by cause (issue 16 item 2): one finding per replaced parent release,
per set of CUDA wheels, per source build, with every place as a related location."""

from __future__ import annotations

from collections.abc import Callable

from lockaudit.audit import AuditResult
from lockaudit.errors import Location
from tests.test_audit_replay import NEWER_TORCH, _only, run_audit, server  # noqa: F401

STAGES = ("asr", "diarization", "pyannote-vad")


def test_torch_of_base_ml_replaced_in_three_stages_is_one_finding(
    run_audit: Callable[..., AuditResult],  # noqa: F811
) -> None:
    result = run_audit({name: NEWER_TORCH["asr"] for name in STAGES})
    replaced = [f for f in _only(result, "reinstalls-parent-package") if f.package == "torch"]
    assert len(replaced) == 1
    (torch,) = replaced
    assert torch.code == "LA110" and torch.image == "base-ml:cuda"
    assert torch.message.startswith(
        "torch 2.1.0+cu121 of base-ml:cuda is replaced in asr:cuda, diarization:cuda and "
        "pyannote-vad:cuda (by 2.2.0): "
    )
    assert torch.location == Location("docker/asr/Dockerfile", 4)
    assert torch.related == (
        Location("docker/diarization/Dockerfile", 4),
        Location("docker/pyannote-vad/Dockerfile", 4),
    )
    # the bytes saved are every copy's: the sizes agree
    saving = next(s for s in result.savings if s.finding == torch)
    assert saving.bytes == sum(result.sizes.image(f"{n}:cuda").duplicated for n in STAGES)


def test_one_stage_keeps_the_single_finding_form(
    run_audit: Callable[..., AuditResult],  # noqa: F811
) -> None:
    result = run_audit(NEWER_TORCH)
    (torch,) = [f for f in _only(result, "reinstalls-parent-package") if f.package == "torch"]
    assert torch.image == "asr:cuda" and torch.related == ()
    assert "replaces torch 2.1.0+cu121 (from base-ml:cuda) with 2.2.0" in torch.message
