"""Measuring a built image for the size log (:mod:`lockaudit.sizelog`): the engine's figures
(``docker image inspect``, ``docker history``) next to what the image's locks download.
"""

from __future__ import annotations

import hashlib
import json

from lockaudit.builder.plan import INPUTS_LABEL, BuildStep
from lockaudit.builder.runner import Command, Runner
from lockaudit.locks import lock_paths
from lockaudit.sizelog import LayerSize, SizeRecord, clean_step
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Image, Workspace

__all__ = ["measure"]


def measure(
    runner: Runner, given: Inputs | Workspace, image: Image, step: BuildStep, built_at: str
) -> SizeRecord | None:
    """The record of ``step``'s image as the engine has it now; None when it has none."""
    inspected = runner.run(
        Command(("docker", "image", "inspect", "--format", "{{json .}}", step.ref))
    )
    if not inspected.ok:
        return None
    try:
        data = json.loads(inspected.output.strip().splitlines()[0])
    except (ValueError, IndexError):
        return None
    labels = (data.get("Config") or {}).get("Labels") or {}
    inputs = as_inputs(given)
    workspace = inputs.workspace
    layer_estimate, total_estimate, lock_digest = _estimates(inputs, image)
    return SizeRecord(
        built_at=built_at,
        image=image.key,
        ref=step.ref,
        id=str(data.get("Id", "")),
        platform=step.platform,
        lock=lock_paths(workspace, image).full,
        lock_digest=lock_digest,
        inputs_digest=str(labels.get(INPUTS_LABEL, "")),
        estimate_layer=layer_estimate,
        estimate_total=total_estimate,
        size=int(data.get("Size") or 0),
        layers=_layers(runner, step.ref),
    )


def _estimates(inputs: Inputs, image: Image) -> tuple[int, int, str]:
    """Download bytes of the image's own layer and of its whole lock, and the lock's digest."""
    path = lock_paths(inputs.workspace, image).full
    data = inputs.file_bytes(path)
    text = inputs.lock_text(path) if data is not None else None
    if data is None or text is None:
        return 0, 0, ""
    lock = text.lock
    own = sum(p.install_size for p in lock.layer_packages)
    total = sum(p.install_size for p in lock.packages)
    return own, total, "sha256:" + hashlib.sha256(data).hexdigest()


def _layers(runner: Runner, ref: str) -> tuple[LayerSize, ...]:
    fmt = "{{json .}}"
    result = runner.run(
        Command(("docker", "history", "--human=false", "--no-trunc", "--format", fmt, ref))
    )
    if not result.ok:
        return ()
    layers: list[LayerSize] = []
    for line in result.output.splitlines():
        try:
            entry = json.loads(line)
            size = int(entry.get("Size") or 0)
        except (ValueError, TypeError, AttributeError):
            continue  # a line that is not an entry (a warning): the others still count
        layers.append(LayerSize(size, clean_step(str(entry.get("CreatedBy") or ""))))
    return tuple(reversed(layers))  # history lists the newest first
