"""The engine platform an image is built for, from the target its lock was compiled for.

A lock pins wheels for one target (``linux_x86_64`` and its manylinux aliases): building it on
an arm64 host without ``--platform`` would make BuildKit pick the host's platform, and pip
would then refuse the locked wheels (or, worse, an sdist would build for the wrong machine).
So every build names the lock's platform: ``linux/amd64`` for an x86_64 target.

The platform is read from the target's own wheel platform tags
(:func:`lockaudit.index.tags.platforms`: the last one is the plain ``<system>_<arch>`` tag),
so the build and the resolver can never disagree about the machine.
"""

from __future__ import annotations

from lockaudit.errors import WorkspaceError
from lockaudit.index.tags import platforms
from lockaudit.workspace.model import Image, Workspace

__all__ = ["docker_platform"]

# Wheel-tag architecture -> the OCI platform's architecture (and variant), as Docker names it.
_OCI_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm/v7",
    "armv6l": "arm/v6",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def docker_platform(workspace: Workspace, image: Image) -> str:
    """``linux/amd64`` for an image whose target is Linux x86_64; an error for anything else
    Docker cannot build (another system, an architecture without an OCI name)."""
    plain = platforms(image.target)[-1]  # "linux_x86_64"
    system, _, arch = plain.partition("_")
    oci = _OCI_ARCH.get(arch)
    if system != "linux" or oci is None:
        raise WorkspaceError(
            f"image {image.key}: its target {plain} has no Docker platform",
            location=workspace.config_location,
            hint="target.platform must be linux and target.arch one of " + ", ".join(_OCI_ARCH),
        )
    return f"linux/{oci}"
