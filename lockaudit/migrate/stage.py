"""``lockaudit add-stage``: scaffold a new stage image that passes ``check`` from the start.

A stage is four things that must agree: a Dockerfile FROM its parent that installs its layer
lock, a ``requirements.in``, an ``[[tool.lockaudit.images]]`` entry, and the lock itself.
:func:`plan_stage` decides the first three (pure); :func:`add_stage_files` compiles the lock in
a scratch copy and writes all four together, or nothing.

Decisions: the Dockerfile goes next to the parent's (``docker/<name>/Dockerfile`` when the
parent's is ``docker/<parent>/Dockerfile``); it takes the parent from ``ARG PARENT_IMAGE`` and
the lock from ``ARG LAYER_LOCK``, as the embedded workspace's stages do, so a CPU fallback can
be added later with build args alone. The stage's tag is its variant (``cuda``/``cpu``), which
must be the parent's: a CUDA stage on a CPU parent has no CUDA runtime to use.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

from lockaudit.errors import InputError, Location, UsageError
from lockaudit.locks import lock_paths
from lockaudit.migrate._apply import MigrationResult, SourceFactory, apply_migration
from lockaudit.migrate._config import ConfigEdits, edit_config
from lockaudit.migrate._model import FileChange, MigrationPlan
from lockaudit.workspace.model import Image, Target, Variant, Workspace

__all__ = ["StageRequest", "add_stage_files", "plan_stage"]

_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


@dataclass(frozen=True)
class StageRequest:
    name: str
    parent: str  # image key
    variant: Variant | None = None  # default: the parent's
    packages: tuple[str, ...] = ()  # requirement strings for the new requirements.in


def plan_stage(workspace: Workspace, request: StageRequest) -> MigrationPlan:
    """The files of the new stage and the configuration edit (nothing is written)."""
    parent = workspace.image(request.parent)
    variant = request.variant or parent.variant
    _validate(workspace, request, parent, variant)
    key = f"{request.name}:{variant.value}"
    here = _stage_dir(parent, request.name)
    dockerfile = f"{here}/Dockerfile"
    in_path = f"{here}/requirements.in"
    for path in (dockerfile, in_path):
        if workspace.path(path).exists():
            raise InputError(Location(path), "already exists: the stage is not scaffolded over it")
    image = Image(request.name, variant.value, dockerfile, parent.key, None, (in_path,),
                  Target(variant=variant))
    layer = lock_paths(workspace, image).layer
    config_path = workspace.root / "pyproject.toml"
    old_config = config_path.read_text(encoding="utf-8")
    edits = ConfigEdits(
        new_images=[
            {
                "name": request.name,
                "tag": variant.value,
                "dockerfile": dockerfile,
                "parent": parent.key,
                "variant": variant.value,
                "requirements": [in_path],
            }
        ]
    )
    changes = (
        FileChange("pyproject.toml", old_config, edit_config(old_config, edits)),
        FileChange(dockerfile, None, _dockerfile(workspace, key, parent, layer, in_path)),
        FileChange(in_path, None, _requirements_in(key, request.packages)),
    )
    images = (*(i.key for i in workspace.images), key)
    return MigrationPlan(workspace.root, changes, (), images, discovered=False)


def add_stage_files(plan: MigrationPlan, open_source: SourceFactory) -> MigrationResult:
    """Compile the new stage's lock aside, then write its files, config and lock together."""
    return apply_migration(plan, open_source, images=(plan.images[-1],))


def _validate(
    workspace: Workspace, request: StageRequest, parent: Image, variant: Variant
) -> None:
    if not _NAME.fullmatch(request.name):
        raise UsageError(
            f"{request.name!r} is not an image name",
            hint="lower-case letters, digits and single . _ - between them",
        )
    key = f"{request.name}:{variant.value}"
    if any(image.key == key for image in workspace.images):
        raise UsageError(f"the workspace already has an image {key}")
    if variant is not parent.variant:
        raise UsageError(
            f"a {variant.value} stage cannot be built on {parent.key} ({parent.variant.value})",
            hint=f"pick a {variant.value} parent, or leave --variant out",
        )
    for text in request.packages:
        try:
            Requirement(text)
        except InvalidRequirement as e:
            raise InputError(Location("<command line>"), f"{text!r}: {e}") from e


def _stage_dir(parent: Image, name: str) -> str:
    """Beside the parent's folder (``docker/base-ml/Dockerfile`` → ``docker/<name>``)."""
    folder = posixpath.dirname(posixpath.dirname(parent.dockerfile))
    if not posixpath.dirname(parent.dockerfile):
        folder = "docker"
    return posixpath.join(folder, name) if folder else name


def _dockerfile(workspace: Workspace, key: str, parent: Image, layer: str, in_path: str) -> str:
    reference = f"{workspace.image_prefix}{parent.name}:{parent.tag}"
    head = [
        "# syntax=docker/dockerfile:1",
        f"# {key}: made by `lockaudit add-stage`. Its packages are listed in {in_path};",
        "# `lockaudit compile` locks them into the layer lock this file installs.",
    ]
    if workspace.registry:
        head += [f"ARG REGISTRY={workspace.registry}", f"ARG PARENT_IMAGE={reference}",
                 "FROM ${REGISTRY}/${PARENT_IMAGE}"]
    else:
        head += [f"ARG PARENT_IMAGE={reference}", "FROM ${PARENT_IMAGE}"]
    body = [
        "",
        f"# Python packages: only what {parent.key} does not already have.",
        f"ARG LAYER_LOCK={layer}",
        "COPY ${LAYER_LOCK} /tmp/layer.txt",
        "RUN --mount=type=cache,target=/root/.cache/pip \\",
        "    pip install --no-deps --require-hashes -r /tmp/layer.txt",
        "",
        "# Code last (it changes most often): COPY it here.",
    ]
    return "\n".join([*head, *body]) + "\n"


def _requirements_in(key: str, packages: tuple[str, ...]) -> str:
    head = [
        f"# {key}: the packages this stage adds to its parent image, one per line.",
        "# After an edit: `lockaudit compile --stage <name>`, then `lockaudit check`.",
    ]
    return "\n".join([*head, *packages]) + "\n"
