"""Audit rules about the base image a CUDA image's wheels run on.

* ``base-image-incompatible``: a wheel whose native libraries load the image's CUDA and cuDNN
  (CTranslate2, onnxruntime-gpu, TensorFlow, JAX's CUDA plugin, PaddlePaddle 2:
  :mod:`.basecompat`'s sourced table) needs a CUDA or cuDNN the base image does not ship.
  A major that differs, or a cuDNN the base lacks, is an error (the library does
  not load); an older minor is a warning, except for JAX, which checks the minor and stops.

Decisions:

* The base's CUDA and cuDNN come from the root image's reference (``nvidia/cuda:12.1.1-cudnn8-
  runtime-ubuntu22.04``: 12.1 and 8), else the target's CUDA; a tag without ``cudnn`` has none.
* An ``nvidia-cudnn-cu*`` wheel in the environment (torch's) is said in the message: those
  libraries sit in site-packages, where CTranslate2 and onnxruntime do not look unless
  ``LD_LIBRARY_PATH`` says so. TensorFlow and JAX find them (and ``nvidia-cuda-runtime-*``)
  themselves, so for them the wheels' CUDA and cuDNN stand in for the base's, and a wheel too
  old for them is the finding (JAX refuses to start on it).
* JAX's plugin and its PJRT runtime come from one requirement and need the same: one finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lockaudit.audit.basecompat import (
    CHECKS_VERSIONS,
    FINDS_PIP_LIBRARIES,
    NATIVE_NEEDS,
    NativeNeed,
    need_of,
    shortfall,
)
from lockaudit.audit.replay import ImageReplay, Installed
from lockaudit.audit.rules import _CUDA_RUNTIME as _PIP_CUDA
from lockaudit.audit.rules import AuditContext, _rule, base_cuda
from lockaudit.errors import Location
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
        for need, items in _needing(replay):
            found = _judge(replay, image, items, need, cuda, cudnn)
            if found is not None:
                yield found


def _needing(replay: ImageReplay) -> list[tuple[NativeNeed, list[Installed]]]:
    """The image's own wheels that the table knows, by row and requirement line: JAX's plugin
    and its PJRT runtime come from one line and need the same, and are said once."""
    rows: dict[tuple[NativeNeed, Location], list[Installed]] = {}
    for item in sorted(replay.own, key=lambda i: (i.name.endswith("-pjrt"), i.name)):
        need = need_of(item.name, item.version)
        if need is not None:
            same = next((k for k in rows if k[1] == item.where and _same_need(k[0], need)), None)
            rows.setdefault(same or (need, item.where), []).append(item)
    return [(need, items) for (need, _), items in rows.items()]


def _same_need(a: NativeNeed, b: NativeNeed) -> bool:
    return (a.cuda, a.cudnn, a.source) == (b.cuda, b.cudnn, b.source)


def base_cudnn(ctx: AuditContext, image: Image) -> str | None:
    """The cuDNN of the image's base image tag (``cudnn8``: "8"), None when it has none."""
    root = [*ctx.workspace.ancestors(image.key), image][0]
    reference = root.base_image
    dockerfile = ctx.check.dockerfiles.get(root.key)
    if reference is None and dockerfile is not None and dockerfile.stages:
        reference = dockerfile.stages[0].from_line.image
    match = _CUDNN_TAG.search(reference or "")
    return match.group(1) if match else None


def _pip_wheel(replay: ImageReplay, pattern: re.Pattern[str]) -> Installed | None:
    return next((p for p in replay.environment if pattern.match(p.name)), None)


def _major_minor(item: Installed) -> str:
    return ".".join(item.version.public.split(".")[:2])


@dataclass(frozen=True)
class _Available:
    """The CUDA and cuDNN a wheel loads, and how to say where they come from."""

    cuda: str
    cudnn: str | None
    pip: bool  # the nvidia-* wheels' libraries, not the image's
    said: str  # "the base image of asr has CUDA 12.1 and cuDNN 8"
    beside: str  # a pip cuDNN wheel the package does not look for, said after; "" when none


def _available(
    replay: ImageReplay, image: Image, item: Installed, cuda: str, cudnn: str | None
) -> _Available:
    """The base's CUDA and cuDNN, or the ``nvidia-*`` wheels' for a package that finds them."""
    pip_cudnn, pip_cuda = _pip_wheel(replay, _PIP_CUDNN), _pip_wheel(replay, _PIP_CUDA)
    base = f"the base image of {image.key} has CUDA {cuda}" + (
        f" and cuDNN {cudnn}" if cudnn else " and no cuDNN"
    )
    if item.name not in FINDS_PIP_LIBRARIES:
        beside = (
            f"; the {pip_cudnn.name} {pip_cudnn.version} wheel in the image is not on its "
            "library path" if pip_cudnn else ""
        )
        return _Available(cuda, cudnn, False, base, beside)
    if pip_cudnn is None and pip_cuda is None:
        return _Available(cuda, cudnn, False, base, "")
    said = [
        f"the {w.name} {w.version} wheel gives {what} {_major_minor(w)}"
        for w, what in ((pip_cuda, "CUDA"), (pip_cudnn, "cuDNN")) if w is not None
    ]
    return _Available(
        _major_minor(pip_cuda) if pip_cuda else cuda,
        _major_minor(pip_cudnn) if pip_cudnn else cudnn,
        True,
        " and ".join(said) + (f" (the base image of {image.key} has CUDA {cuda})"
                              if pip_cuda is None else ""),
        "",
    )


def _judge(
    replay: ImageReplay, image: Image, items: list[Installed], need: NativeNeed, cuda: str,
    cudnn: str | None,
) -> Finding | None:
    item = items[0]
    have = _available(replay, image, item, cuda, cudnn)
    gaps = [shortfall(need.cuda, have.cuda)]
    if need.cudnn:
        gaps.append(shortfall(need.cudnn, have.cudnn))
    if not any(gaps):
        return None
    wants = f"CUDA {need.cuda}" + (f" and cuDNN {need.cudnn}" if need.cudnn else "")
    names = f"{item.name} {item.version}" + "".join(
        f" (with {other.name} {other.version})" for other in items[1:]
    )
    return base_image_incompatible.finding(
        f"{names} loads {wants} libraries{'' if have.pip else ' from the image'}, but "
        f"{have.said}{have.beside} (per {need.source})",
        item.where,
        image=image.key,
        package=item.name,
        hint=_hint(item, need, have),
        severity=Severity.ERROR if "major" in gaps or item.name in CHECKS_VERSIONS
        else Severity.WARNING,
    )


def _hint(item: Installed, need: NativeNeed, have: _Available) -> str:
    fits = [
        n for n in NATIVE_NEEDS
        if n.package == item.name and not shortfall(n.cuda, have.cuda)
        and not (n.cudnn and shortfall(n.cudnn, have.cudnn))
    ]
    # a build of the same release first (PaddlePaddle's 2.6.2.post120 for 2.6.2)
    fits.sort(key=lambda n: not n.versions.startswith(f"=={item.version.base_version}"))
    older = f"pin {item.name}{fits[0].versions} (built for this base), or " if fits else ""
    wants = f"CUDA {need.cuda}" + (f" and cuDNN {need.cudnn}" if need.cudnn else "")
    if have.pip:
        return (f"{older}upgrade the nvidia-* runtime wheels to {wants} (the extra of "
                f"{item.name} that pins them installs them)")
    cudnn_tag = f"-cudnn{need.cudnn.split('.')[0]}" if need.cudnn else ""
    return (
        f"{older}move the base image to CUDA {need.cuda}{cudnn_tag} (an nvidia/cuda "
        f"...{cudnn_tag}-runtime tag)"
    )
