"""Direct references in a resolution: an archive URL with its hash is the one release of its name.

``name @ https://host/name-1.0-py3-none-any.whl#sha256=<hex>`` becomes a
:class:`~lockaudit.index.types.Candidate` whose only file is that URL with that hash, listed on
no index (:data:`~lockaudit.parsing.directref.DIRECT_INDEX`). The provider offers it as the only
release of ``name``, so every other requirement on the name must accept its version, as pip
does. Its dependencies come from the file's own METADATA, fetched like any index file's (a
range request, the hash checked when the whole file comes): nothing is built or run.

A VCS reference, even at a commit, has no metadata without a build: the resolver refuses it
(compile says so at the requirement's line); every other kind is a finding of ``check``.
"""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename

from lockaudit.errors import InputError
from lockaudit.index.tags import best_rank
from lockaudit.index.types import Candidate, DistFile
from lockaudit.parsing.directref import (
    DIRECT_INDEX,
    DirectKind,
    DirectRef,
    archive_version,
    classify,
)
from lockaudit.resolve._model import RootRequirement
from lockaudit.workspace.model import Target

_WHY = {
    DirectKind.VCS: "a VCS checkout has no metadata without a build, so its dependencies "
    "cannot be resolved",
    DirectKind.VCS_REF: "it names no commit: each build installs what the branch or tag "
    "points to then",
    DirectKind.UNHASHED: "it has no #sha256=: its bytes cannot be verified",
    DirectKind.LOCAL: "a local path is resolved at build time",
    DirectKind.UNNAMED_FILE: "its file name is no wheel or sdist name, so it says no version",
}


def direct_candidate(root: RootRequirement, target: Target) -> Candidate:
    """The one release a lockable archive reference stands for; InputError at its line else."""
    url = root.requirement.url or ""
    ref = classify(url)
    if ref.kind is not DirectKind.ARCHIVE:
        raise InputError(
            root.origin.location,
            f"{root.requirement.name} @ {ref.url}: cannot be locked: {_WHY[ref.kind]}",
            hint="lockable: an archive URL with its hash (name @ https://…/name-1.0-…whl"
            "#sha256=<hex>); or publish the package to an index and pin name==version",
        )
    return _archive(root, ref, target)


def _archive(root: RootRequirement, ref: DirectRef, target: Target) -> Candidate:
    found = archive_version(ref.filename)
    assert found is not None  # classify() made it an ARCHIVE only then
    name, version = found
    if name != root.name:
        raise InputError(
            root.origin.location,
            f"{root.requirement.name} @ {ref.url}: the file is {name} {version}, "
            f"not {root.requirement.name}",
            hint="name the project the file holds",
        )
    if ref.filename.endswith(".whl"):
        tags = parse_wheel_filename(ref.filename)[3]
        if best_rank(tags, target) is None:
            raise InputError(
                root.origin.location,
                f"{ref.filename} does not install on the image's target (CPython "
                f"{target.python}, {target.system} {target.arch}, glibc {target.glibc})",
                hint="point to the wheel built for this target",
            )
    file = DistFile(ref.filename, ref.url, DIRECT_INDEX, ref.sha256)
    return Candidate(name, version, (file,), DIRECT_INDEX)


def pinned(requirement: Requirement, candidate: Candidate) -> Requirement:
    """``name[extras]==version ; marker``: the direct requirement as the resolver sees it."""
    pin = Requirement(f"{candidate.name}=={candidate.version}")
    pin.extras = set(requirement.extras)
    pin.marker = requirement.marker
    return pin
