"""The ``docker-bake.json`` a plan becomes, for ``docker buildx bake``.

One target per image to build; a child names its parent through ``contexts``::

    "contexts": {"<registry>/<prefix>base:cpu": "target:base-cpu"}

so BuildKit feeds the parent's build result straight into the child's FROM (no round trip
through an image store) and builds independent branches in parallel. A parent that is up to
date is not a target: the child's FROM then resolves to the local image, as with
``docker build``. Each target names the platform of its lock (``platforms``) and its cache
specs (``cache-from``/``cache-to``); the builder is not part of a bake file, it is the
command's ``--builder``. Paths are relative to the workspace root, where bake runs; bake resolves a
target's ``dockerfile`` relative to its ``context``, so that one is rewritten accordingly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockaudit.builder.plan import BuildPlan, BuildStep

__all__ = ["DEFAULT_GROUP", "bake_definition", "render_bakefile", "write_bakefile"]

DEFAULT_GROUP = "default"


def bake_definition(
    plan: BuildPlan,
    *,
    network: str | None = None,
    extra_build_args: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """The bake file as a JSON-ready mapping: a ``default`` group of every step's target."""
    built = {step.image_key: step for step in plan.steps}
    targets = {step.target: _target(step, built, network, extra_build_args) for step in plan.steps}
    return {
        "group": {DEFAULT_GROUP: {"targets": [step.target for step in plan.steps]}},
        "target": targets,
    }


def _target(
    step: BuildStep,
    built: Mapping[str, BuildStep],
    network: str | None,
    extra_build_args: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    target: dict[str, Any] = {
        "context": step.context,
        **_dockerfile(step),
        "args": dict(step.build_args) | dict(extra_build_args),
        "tags": [step.ref],
        "labels": dict(step.labels),
        "platforms": [step.platform],
    }
    if step.stage:
        target["target"] = step.stage
    if step.cache_from:
        target["cache-from"] = list(step.cache_from)
    if step.cache_to:
        target["cache-to"] = list(step.cache_to)
    parent = built.get(step.parent_key) if step.parent_key else None
    if parent is not None and step.parent_ref is not None:
        target["contexts"] = {step.parent_ref: f"target:{parent.target}"}
    if network:
        target["network"] = network
    return target


def _dockerfile(step: BuildStep) -> dict[str, str]:
    # a Dockerfile whose FROM the build writes goes inline: the file on disk is left as it is
    if step.dockerfile_text is not None:
        return {"dockerfile-inline": step.dockerfile_text}
    return {"dockerfile": _relative_to_context(step.dockerfile, step.context)}


def _relative_to_context(dockerfile: str, context: str) -> str:
    # Pure path arithmetic on workspace-relative paths: nothing is resolved on disk.
    return Path(os.path.relpath(dockerfile, context)).as_posix()


def render_bakefile(definition: Mapping[str, Any]) -> bytes:
    return (json.dumps(definition, indent=2, sort_keys=False) + "\n").encode()


def write_bakefile(path: Path, definition: Mapping[str, Any]) -> bool:
    """Write the bake file; returns False (and writes nothing) when it is already identical."""
    data = render_bakefile(definition)
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True
