"""Wheel tags of a :class:`~lockaudit.workspace.model.Target`: what an image's pip would accept.

Computed from the target alone, never from the host running lockaudit: a macOS laptop auditing
a Linux CUDA image must see the Linux tags. The order is ``packaging.tags``' priority order
(most specific first), so a tag's position is its rank: lower is better.

Linux platforms are ``manylinux_2_X_<arch>`` for every glibc minor from the target's down to
the oldest manylinux for the architecture (2.5 on x86, 2.17 elsewhere), the legacy aliases
(``manylinux2014`` = 2.17, ``manylinux2010`` = 2.12, ``manylinux1`` = 2.5) next to their
equivalents, and finally plain ``linux_<arch>``: the PyTorch index ships such wheels, and a
``pip install`` inside the image accepts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from packaging import tags
from packaging.tags import Tag

from lockaudit.workspace.model import Target

__all__ = ["best_rank", "compatible_tags", "platforms"]

# Legacy manylinux names and the glibc minor (2.X) they stand for (PEP 599 / PEP 571 / PEP 513).
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_LEGACY_ARCHES = {
    17: ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"),
    12: ("x86_64", "i686"),
    5: ("x86_64", "i686"),
}


def _glibc(target: Target) -> tuple[int, int]:
    major, _, minor = target.glibc.partition(".")
    return int(major), int(minor or 0)


def platforms(target: Target) -> tuple[str, ...]:
    """Platform tags of ``target``, best first."""
    arch = target.arch
    if target.system != "linux":
        return (f"{target.system}_{arch}",)
    major, minor = _glibc(target)
    oldest = 5 if arch in ("x86_64", "i686") else 17
    result: list[str] = []
    if major == 2:
        for x in range(minor, oldest - 1, -1):
            result.append(f"manylinux_2_{x}_{arch}")
            legacy = _LEGACY_MANYLINUX.get(x)
            if legacy is not None and arch in _LEGACY_ARCHES[x]:
                result.append(f"{legacy}_{arch}")
    result.append(f"linux_{arch}")
    return tuple(result)


def _python_version(target: Target) -> tuple[int, int]:
    major, minor = target.python_short.split(".")
    return int(major), int(minor)


@lru_cache(maxsize=64)
def _ranked(target: Target) -> dict[Tag, int]:
    version = _python_version(target)
    plats = list(platforms(target))
    ordered: list[Tag] = []
    if target.implementation == "cp":
        ordered.extend(tags.cpython_tags(version, platforms=plats))
    else:
        interpreter = f"{target.implementation}{version[0]}{version[1]}"
        ordered.extend(tags.generic_tags(interpreter, platforms=plats))
    interpreter = f"{target.implementation}{version[0]}{version[1]}"
    ordered.extend(tags.compatible_tags(version, interpreter, plats))
    ranks: dict[Tag, int] = {}
    for tag in ordered:
        ranks.setdefault(tag, len(ranks))
    return ranks


@lru_cache(maxsize=64)
def compatible_tags(target: Target) -> frozenset[Tag]:
    """Every wheel tag an installer on ``target`` accepts."""
    return frozenset(_ranked(target))


def best_rank(file_tags: Iterable[Tag], target: Target) -> int | None:
    """Rank of the best tag of a wheel on ``target`` (lower is better); None: not installable."""
    ranks = _ranked(target)
    found = [ranks[tag] for tag in file_tags if tag in ranks]
    return min(found) if found else None
