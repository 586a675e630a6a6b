"""What CUDA and cuDNN the native libraries of some GPU wheels need from the base image.

Pure data and one lookup. Each row says: releases ``versions`` of ``package`` load CUDA
``cuda`` or newer within its major (major.minor, or a major alone when the project says only
that) and cuDNN ``cudnn`` (None: they do not use it), as the project's own release notes or
install pages say (``source``): the CUDA they are built against, or the oldest one the project
says they run with when it says so (JAX). These wheels do not bring the CUDA user-space
libraries with them (unlike torch's ``nvidia-*`` dependencies): they load
``libcudart``/``libcublas``/``libcudnn`` of the image, so the base image must have a matching
major and at least the minor.

Some of them look for the ``nvidia-*`` runtime wheels in site-packages first
(:data:`FINDS_PIP_LIBRARIES`): installed with those wheels (``tensorflow[and-cuda]``,
``jax[cuda12]``), they load the wheels' CUDA and cuDNN, and it is those that must be new
enough, not the base image's.

Kept small on purpose: a row is added only with its source. Left out: PaddlePaddle 3, whose
GPU wheels depend on the ``nvidia-*`` runtime wheels and bring their CUDA and cuDNN with them
(its install page says so), and the monolithic ``jaxlib`` CUDA wheels (``+cuda12.cudnn89``),
which JAX stopped building with 0.4.30.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = [
    "CHECKS_VERSIONS", "FINDS_PIP_LIBRARIES", "NATIVE_NEEDS", "NativeNeed", "need_of", "shortfall",
]

_CT2 = "https://github.com/OpenNMT/CTranslate2/blob/master/CHANGELOG.md"
_ORT = "https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html#requirements"
_TF = "https://www.tensorflow.org/install/source#gpu"
_JAX_LOG = "https://docs.jax.dev/en/latest/changelog.html"
_JAX_INSTALL = "https://docs.jax.dev/en/latest/installation.html#install-nvidia-gpu"
# PaddlePaddle's Linux pip page as it stood for each 2.x release (the site shows only the
# newest); each commit is the one that documented that release
_PADDLE_DOC = "https://github.com/PaddlePaddle/docs/blob/{}/docs/install/pip/linux-pip_en.md"
_PADDLE_251 = _PADDLE_DOC.format("55d9cb173a2baba92fe4e67e955eaa607c32f10b")
_PADDLE_252 = _PADDLE_DOC.format("37a27c42a4a962f6ac73825d0b39838d31060dec")
_PADDLE_261 = _PADDLE_DOC.format("025b8b19e8086e3f3a126633c10c15063754a804")
_PADDLE_262 = _PADDLE_DOC.format("0f4bf3d5cd656e9e1090c98b0a198d737ae2c7b0")


@dataclass(frozen=True)
class NativeNeed:
    package: str  # normalized name
    versions: str  # a specifier set
    cuda: str  # "12" or "12.5": the oldest CUDA the wheels load
    cudnn: str | None  # "9" or "8.9"; None: no cuDNN needed
    source: str  # where the project says so

    def covers(self, version: Version) -> bool:
        return SpecifierSet(self.versions).contains(version, prereleases=True)


def _paddle(release: str, source: str, builds: Mapping[str, tuple[str, str]]) -> tuple[
    NativeNeed, ...
]:
    """One row per build of a PaddlePaddle 2.x release: the ``.postNNN`` of its version names
    the CUDA it is built for (``2.6.2.post120``: CUDA 12.0), the plain version is the default
    build (the one the public index serves)."""
    return tuple(
        NativeNeed("paddlepaddle-gpu", f"=={release}{'.' + post if post else ''}", cuda, cudnn,
                   source)
        for post, (cuda, cudnn) in builds.items()
    )


# each page's "CUDA toolkit X with cuDNN vY" list, keyed by the build that page installs for it
_PADDLE_26_BUILDS = {
    "post112": ("11.2", "8.2"), "post116": ("11.6", "8.4"), "post117": ("11.7", "8.4"),
    "": ("11.8", "8.6"), "post120": ("12.0", "8.9"),
}
_PADDLE_25_BUILDS = {"post102": ("10.2", "7.6"), **_PADDLE_26_BUILDS}

NATIVE_NEEDS: tuple[NativeNeed, ...] = (
    # 4.5.0 moved to cuDNN 9; 4.0.0 moved to CUDA 12 (3.x: CUDA 11)
    NativeNeed("ctranslate2", ">=4.5.0", "12", "9", _CT2),
    NativeNeed("ctranslate2", ">=4.0.0,<4.5.0", "12", "8", _CT2),
    NativeNeed("ctranslate2", ">=3.0.0,<4.0.0", "11", "8", _CT2),
    # the index's onnxruntime-gpu is built for CUDA 12 and cuDNN 9 from 1.19 (11.8 and 8 before)
    NativeNeed("onnxruntime-gpu", ">=1.19.0", "12", "9", _ORT),
    NativeNeed("onnxruntime-gpu", ">=1.15.0,<1.19.0", "11.8", "8", _ORT),
    # TensorFlow's tested build configurations (without the and-cuda extra's wheels); 2.21.0 is
    # the newest the table lists
    NativeNeed("tensorflow", ">=2.18.0,<2.22.0", "12.5", "9.3", _TF),
    NativeNeed("tensorflow", ">=2.16.0,<2.18.0", "12.3", "8.9", _TF),
    NativeNeed("tensorflow", ">=2.15.0,<2.16.0", "12.2", "8.9", _TF),
    NativeNeed("tensorflow", ">=2.14.0,<2.15.0", "11.8", "8.7", _TF),
    NativeNeed("tensorflow", ">=2.12.0,<2.14.0", "11.8", "8.6", _TF),
    # JAX's CUDA plugin and its PJRT runtime: CUDA 12.1 or newer since jaxlib 0.4.26; cuDNN 9.1
    # declared the minimum in 0.4.31, 9.8 from 0.6.0
    *(
        NativeNeed(name, versions, "12.1", cudnn, _JAX_LOG)
        for name in ("jax-cuda12-plugin", "jax-cuda12-pjrt")
        for versions, cudnn in ((">=0.6.0", "9.8"), (">=0.4.31,<0.6.0", "9.1"))
    ),
    # the CUDA 13 wheels, first documented with 0.8.0
    NativeNeed("jax-cuda13-plugin", ">=0.8.0", "13.0", "9.8", _JAX_INSTALL),
    NativeNeed("jax-cuda13-pjrt", ">=0.8.0", "13.0", "9.8", _JAX_INSTALL),
    *_paddle("2.6.2", _PADDLE_262, _PADDLE_26_BUILDS),
    *_paddle("2.6.1", _PADDLE_261, _PADDLE_26_BUILDS),
    *_paddle("2.5.2", _PADDLE_252, _PADDLE_25_BUILDS),
    *_paddle("2.5.1", _PADDLE_251, _PADDLE_25_BUILDS),
)

# Wheels that load the nvidia-* runtime wheels of the environment before the image's libraries.
# TensorFlow: its and-cuda extra installs them and it adds their directories itself; JAX:
# "jaxlib will now always prefer pip-installed NVIDIA CUDA libraries" (changelog, 0.4.19).
FINDS_PIP_LIBRARIES = frozenset({
    "tensorflow", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt",
})

# Wheels that refuse to start on an older CUDA or cuDNN minor than they need, rather than
# running on it: "JAX checks the versions of your libraries, and will report an error if they
# are not sufficiently new" (install page).
CHECKS_VERSIONS = frozenset({
    "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt",
})


def need_of(package: str, version: Version) -> NativeNeed | None:
    """The row for ``package`` (normalized) at ``version``, None when the table does not say."""
    return next((n for n in NATIVE_NEEDS if n.package == package and n.covers(version)), None)


def shortfall(need: str, have: str | None) -> str | None:
    """How ``have`` (the base's CUDA or cuDNN, None: absent) falls short of ``need``.

    ``"major"`` when the major differs or the library is absent (the wheel's library does not
    load), ``"minor"`` when the major matches but the minor is older, None when it is enough.
    """
    if have is None:
        return "major"
    need_parts, have_parts = _parts(need), _parts(have)
    if need_parts[0] != have_parts[0]:
        return "major"
    if len(need_parts) > 1 and len(have_parts) > 1 and have_parts[1] < need_parts[1]:
        return "minor"
    return None


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
