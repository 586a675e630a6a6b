"""Size estimates from a replay: per image, per layer, and the bytes layers duplicate.

Decisions:

- A package's bytes are the download size of the file pip would pick, as the index lists it
  (``DistFile.size``; 0 when the index gives none). Unpacked wheels are larger on disk (often
  1.5-3x); the estimate is for comparing images and fixes, not for predicting ``docker images``.
- An image's size counts Python packages only, its ancestors' layers included; the OS base image
  (``python:3.11-slim``, ``nvidia/cuda:...``) is not known from a package index and is left out.
- Docker layers are immutable: a release replaced by a later layer stays in the lower one, so
  every replacement duplicates the replaced release's bytes (``duplicated``).
- The text tree is plain text (the rendering layer decides colours); sizes are binary units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lockaudit.audit.replay import ImageReplay
from lockaudit.errors import Location
from lockaudit.units import format_bytes
from lockaudit.workspace.model import Workspace

__all__ = ["ImageSize", "LayerSize", "SizeReport", "format_bytes", "format_tree", "image_sizes"]


@dataclass(frozen=True)
class LayerSize:
    location: Location  # the RUN of the step
    added: int  # bytes the step downloads into the layer
    duplicated: int  # bytes of releases it replaces (they stay in a lower layer)
    verified: bool


@dataclass(frozen=True)
class ImageSize:
    image: str
    parent: str | None
    own: int  # bytes of this image's own layers
    total: int  # own plus every ancestor's
    duplicated: int  # replaced bytes in this image's own layers
    layers: tuple[LayerSize, ...]
    complete: bool


@dataclass(frozen=True)
class SizeReport:
    images: tuple[ImageSize, ...]  # build order

    @property
    def duplicated(self) -> int:
        """Bytes duplicated across layers, over the whole workspace."""
        return sum(image.duplicated for image in self.images)

    def image(self, key: str) -> ImageSize:
        return next(item for item in self.images if item.image == key)

    def as_json(self) -> dict[str, object]:
        return {
            "duplicated_bytes": self.duplicated,
            "images": [
                {
                    "image": item.image,
                    "parent": item.parent,
                    "own_bytes": item.own,
                    "total_bytes": item.total,
                    "duplicated_bytes": item.duplicated,
                    "complete": item.complete,
                    "layers": [
                        {
                            "location": str(layer.location),
                            "added_bytes": layer.added,
                            "duplicated_bytes": layer.duplicated,
                            "verified": layer.verified,
                        }
                        for layer in item.layers
                    ],
                }
                for item in self.images
            ],
        }


def image_sizes(replays: Sequence[ImageReplay]) -> SizeReport:
    """Sizes of every replayed image (parents are replayed before children)."""
    totals: dict[str, int] = {}
    images: list[ImageSize] = []
    for replay in replays:
        layers = tuple(
            LayerSize(
                layer.step.location,
                layer.added_bytes,
                sum(r.before.size for r in layer.replaced),
                layer.verified,
            )
            for layer in replay.layers
        )
        own = sum(layer.added for layer in layers)
        total = own + (totals.get(replay.parent, 0) if replay.parent else 0)
        totals[replay.image] = total
        images.append(
            ImageSize(
                image=replay.image,
                parent=replay.parent,
                own=own,
                total=total,
                duplicated=sum(layer.duplicated for layer in layers),
                layers=layers,
                complete=replay.complete,
            )
        )
    return SizeReport(tuple(images))


def format_tree(workspace: Workspace, sizes: SizeReport) -> str:
    """The hierarchy as an indented text tree with per-image sizes (the hand-drawn picture)."""
    by_key: Mapping[str, ImageSize] = {item.image: item for item in sizes.images}
    lines: list[str] = []

    def label(key: str) -> str:
        item = by_key.get(key)
        if item is None:
            return key
        parts = [f"{format_bytes(item.total)} total", f"+{format_bytes(item.own)} own"]
        if item.duplicated:
            parts.append(f"{format_bytes(item.duplicated)} duplicated")
        unverified = "" if item.complete else " [unverified]"
        return f"{key} ({', '.join(parts)}){unverified}"

    def grow(key: str, prefix: str) -> None:
        children = workspace.children(key)
        for position, child in enumerate(children):
            last = position == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label(child.key)}")
            grow(child.key, prefix + ("    " if last else "│   "))

    for image in workspace.images:
        if image.parent is None:
            lines.append(label(image.key))
            grow(image.key, "")
    lines.append(f"duplicated across layers: {format_bytes(sizes.duplicated)}")
    return "\n".join(lines) + "\n"
