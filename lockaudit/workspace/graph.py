"""The image graph: build order (parents first), cycles and unknown parents.

Errors name the FROM that caused them: the Dockerfile is where a user fixes a wrong parent.
"""

from __future__ import annotations

from dataclasses import replace

from lockaudit.errors import Location, WorkspaceError
from lockaudit.workspace.model import Image, Workspace


def build_order(workspace: Workspace) -> tuple[Image, ...]:
    """Images sorted so that every parent comes before its children.

    Siblings keep their configuration order, so the order is stable and reviewable.
    """
    by_key = {image.key: image for image in workspace.images}
    for image in workspace.images:
        if image.parent is not None and image.parent not in by_key:
            raise WorkspaceError(
                f"image {image.key} is built FROM {image.parent}, which no image of the "
                "workspace builds",
                location=_from_location(workspace, image),
                hint="declare that image in [tool.lockaudit], or use `base-image` for an "
                "external one",
            )
    ordered: list[Image] = []
    state: dict[str, str] = {}  # key -> "visiting" | "done"

    def visit(image: Image, path: list[str]) -> None:
        mark = state.get(image.key)
        if mark == "done":
            return
        if mark == "visiting":
            cycle = [*path[path.index(image.key) :], image.key]
            raise WorkspaceError(
                "FROM cycle: " + " -> ".join(cycle),
                location=_from_location(workspace, image),
                hint="an image cannot be built on itself; fix the parent of one of these",
            )
        state[image.key] = "visiting"
        if image.parent is not None:
            visit(by_key[image.parent], [*path, image.key])
        state[image.key] = "done"
        ordered.append(image)

    for image in workspace.images:
        visit(image, [])
    return tuple(ordered)


def lock_view(workspace: Workspace) -> Workspace:
    """The workspace as locking sees it: only Python images (``python = false`` ones have
    nothing to lock). A Python image built on a non-Python one becomes a root built on that
    image's reference: it has no parent lock to layer on."""
    if all(image.python for image in workspace.images):
        return workspace
    dropped = {image.key for image in workspace.images if not image.python}
    kept = tuple(
        replace(image, parent=None, base_image=image.parent) if image.parent in dropped else image
        for image in workspace.images
        if image.python
    )
    return replace(workspace, images=kept)


def depth(workspace: Workspace, key: str) -> int:
    return len(workspace.ancestors(key))


def _from_location(workspace: Workspace, image: Image) -> Location:
    """The line of the last FROM of the image's Dockerfile (cheap scan, no full parse)."""
    try:
        lines = workspace.path(image.dockerfile).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Location(image.dockerfile)
    last = 0
    for number, text in enumerate(lines.splitlines(), start=1):
        if text.lstrip().upper().startswith("FROM "):
            last = number
    return Location(image.dockerfile, last)
