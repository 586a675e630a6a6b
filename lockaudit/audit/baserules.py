"""Audit rules about the base image a CUDA image's wheels run on.

* ``base-image-incompatible``: a wheel whose native libraries load the image's CUDA and cuDNN
  (CTranslate2, onnxruntime-gpu, TensorFlow: :mod:`.basecompat`'s sourced table) needs a CUDA
  or cuDNN the base image does not ship. A major that differs, or a cuDNN the base lacks, is an
  error (the library does not load); an older minor is a warning.

Decisions:

* The base's CUDA and cuDNN come from the root image's reference (``nvidia/cuda:12.1.1-cudnn8-
  runtime-ubuntu22.04``: 12.1 and 8), else the target's CUDA; a tag without ``cudnn`` has none.
* An ``nvidia-cudnn-cu*`` wheel in the environment (torch's) is said in the message: those
  libraries sit in site-packages, where CTranslate2 and onnxruntime do not look unless
  ``LD_LIBRARY_PATH`` says so. TensorFlow finds them itself, so for it they count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lockaudit.audit.basecompat import NATIVE_NEEDS, NativeNeed, need_of, shortfall
from lockaudit.audit.replay import ImageReplay, Installed
from lockaudit.audit.rules import AuditContext, _rule, base_cuda
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.model import Image, Variant

_CUDNN_TAG = re.compile(r"cudnn(\d+(?:\.\d+)?)")
_PIP_CUDNN = re.compile(r"^nvidia-cudnn-cu(\d+)$")


@_rule(
    "base-image-incompatible",
    Severity.ERROR,
    "a GPU wheel whose native libraries need a newer CUDA or cuDNN than the base image ships",
)
def base_image_incompatible(ctx: AuditContext) -> Iterator[Finding]:
    for replay in ctx.replays.values():
        image = ctx.image(replay.image)
        if image.variant is not Variant.CUDA:
            continue
        cuda, cudnn = base_cuda(ctx, image), base_cudnn(ctx, image)
        if cuda is None:
            continue
        for item in replay.own:
            need = need_of(item.name, item.version)
            if need is not None:
                found = _judge(replay, image, item, need, cuda, cudnn)
                if found is not None:
                    yield found


def base_cudnn(ctx: AuditContext, image: Image) -> str | None:
    """The cuDNN of the image's base image tag (``cudnn8``: "8"), None when it has none."""
    root = [*ctx.workspace.ancestors(image.key), image][0]
    reference = root.base_image
    dockerfile = ctx.check.dockerfiles.get(root.key)
    if reference is None and dockerfile is not None and dockerfile.stages:
        reference = dockerfile.stages[0].from_line.image
    match = _CUDNN_TAG.search(reference or "")
    return match.group(1) if match else None


def _pip_cudnn(replay: ImageReplay) -> Installed | None:
    return next((p for p in replay.environment if _PIP_CUDNN.match(p.name)), None)


def _judge(
    replay: ImageReplay, image: Image, item: Installed, need: NativeNeed, cuda: str,
    cudnn: str | None,
) -> Finding | None:
    pip = _pip_cudnn(replay)
    pip_cudnn = ".".join(pip.version.public.split(".")[:2]) if pip else None
    if item.name == "tensorflow" and pip_cudnn and need.cudnn:
        cudnn = pip_cudnn  # TensorFlow loads the pip wheels' cuDNN itself
    gaps = [shortfall(need.cuda, cuda)]
    if need.cudnn:
        gaps.append(shortfall(need.cudnn, cudnn))
    if not any(gaps):
        return None
    wants = f"CUDA {need.cuda}" + (f" and cuDNN {need.cudnn}" if need.cudnn else "")
    has = f"CUDA {cuda}" + (f" and cuDNN {cudnn}" if cudnn else " and no cuDNN")
    beside = (
        f"; the {pip.name} {pip.version} wheel in the image is not on its library path"
        if pip and item.name != "tensorflow" else ""
    )
    return base_image_incompatible.finding(
        f"{item.name} {item.version} loads {wants} libraries from the image, but the base "
        f"image of {image.key} has {has}{beside} (per {need.source})",
        item.where,
        image=image.key,
        package=item.name,
        hint=_hint(item, need, cuda, cudnn),
        severity=Severity.ERROR if "major" in gaps else Severity.WARNING,
    )


def _hint(item: Installed, need: NativeNeed, cuda: str, cudnn: str | None) -> str:
    fits = [
        n for n in NATIVE_NEEDS
        if n.package == item.name and not shortfall(n.cuda, cuda)
        and not (n.cudnn and shortfall(n.cudnn, cudnn))
    ]
    older = f"pin {item.name}{fits[0].versions} (built for this base), or " if fits else ""
    cudnn_tag = f"-cudnn{need.cudnn.split('.')[0]}" if need.cudnn else ""
    return (
        f"{older}move the base image to CUDA {need.cuda}{cudnn_tag} (an nvidia/cuda "
        f"...{cudnn_tag}-runtime tag)"
    )
