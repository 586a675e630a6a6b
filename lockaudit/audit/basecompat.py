"""What CUDA and cuDNN the native libraries of some GPU wheels need from the base image.

Pure data and one lookup. Each row says: releases ``versions`` of ``package`` are built against
CUDA ``cuda`` (major.minor, or a major alone when the project says only that) and cuDNN
``cudnn`` (None: they do not use it), as the project's own release notes or install pages say
(``source``). These wheels do not bring the CUDA user-space libraries with them (unlike torch's
``nvidia-*`` dependencies): they load ``libcudart``/``libcublas``/``libcudnn`` of the image, so
the base image must have a matching major and at least the minor.

Kept small on purpose: a row is added only with its source. Packages whose GPU wheels bring
their own CUDA libraries by default (``jax[cuda12]``, ``tensorflow[and-cuda]``) are judged
by the wheels they install, not by this table; PaddlePaddle is left out until its pages are
read for every release train.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = ["NATIVE_NEEDS", "NativeNeed", "need_of", "shortfall"]

_CT2 = "https://github.com/OpenNMT/CTranslate2/blob/master/CHANGELOG.md"
_ORT = "https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html#requirements"
_TF = "https://www.tensorflow.org/install/source#gpu"


@dataclass(frozen=True)
class NativeNeed:
    package: str  # normalized name
    versions: str  # a specifier set
    cuda: str  # "12" or "12.5": the CUDA the wheels are built against
    cudnn: str | None  # "9" or "8.9"; None: no cuDNN needed
    source: str  # where the project says so

    def covers(self, version: Version) -> bool:
        return SpecifierSet(self.versions).contains(version, prereleases=True)


NATIVE_NEEDS: tuple[NativeNeed, ...] = (
    # 4.5.0 moved to cuDNN 9; 4.0.0 moved to CUDA 12 (3.x: CUDA 11)
    NativeNeed("ctranslate2", ">=4.5.0", "12", "9", _CT2),
    NativeNeed("ctranslate2", ">=4.0.0,<4.5.0", "12", "8", _CT2),
    NativeNeed("ctranslate2", ">=3.0.0,<4.0.0", "11", "8", _CT2),
    # the index's onnxruntime-gpu is built for CUDA 12 and cuDNN 9 from 1.19 (11.8 and 8 before)
    NativeNeed("onnxruntime-gpu", ">=1.19.0", "12", "9", _ORT),
    NativeNeed("onnxruntime-gpu", ">=1.15.0,<1.19.0", "11.8", "8", _ORT),
    # TensorFlow's tested build configurations (without the and-cuda extra's wheels)
    NativeNeed("tensorflow", ">=2.18.0,<2.20.0", "12.5", "9.3", _TF),
    NativeNeed("tensorflow", ">=2.16.0,<2.18.0", "12.3", "8.9", _TF),
    NativeNeed("tensorflow", ">=2.15.0,<2.16.0", "12.2", "8.9", _TF),
    NativeNeed("tensorflow", ">=2.14.0,<2.15.0", "11.8", "8.7", _TF),
    NativeNeed("tensorflow", ">=2.12.0,<2.14.0", "11.8", "8.6", _TF),
)


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
