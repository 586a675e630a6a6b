"""Test workspaces from a few arguments, instead of ``[tool.lockaudit]`` TOML pasted per file.

    write_workspace(root, ml_chain(cu121=url), files={"requirements-common.txt": "numpy\\n"})

:func:`image`, :func:`index` and :func:`constraint` make the tables; :func:`settings` puts them
under ``[tool.lockaudit]``; :func:`write_workspace` writes ``pyproject.toml`` (through tomli-w,
so a value is always valid TOML) and the other files, and returns the root. :func:`ml_chain` is
the image family most tests use: base (cuda and cpu), base-ml, asr on the CUDA line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomli_w

__all__ = [
    "Table",
    "constraint",
    "image",
    "index",
    "ml_chain",
    "pyproject_text",
    "settings",
    "write_workspace",
]

Table = dict[str, Any]


def image(
    name: str,
    tag: str,
    *,
    parent: str | None = None,
    base_image: str | None = None,
    requirements: Sequence[str] = (),
    dockerfile: str | None = None,
    **extra: Any,
) -> Table:
    """One ``[[tool.lockaudit.images]]`` table; ``extra`` keys use ``_`` for ``-``."""
    table: Table = {
        "name": name,
        "tag": tag,
        "dockerfile": dockerfile or f"docker/{name}/Dockerfile",
    }
    if base_image is not None:
        table["base-image"] = base_image
    if parent is not None:
        table["parent"] = parent
    table["requirements"] = list(requirements)
    table.update({key.replace("_", "-"): value for key, value in extra.items()})
    return table


def index(
    name: str, url: str, *, variant: str | None = None, packages: Sequence[str] = ()
) -> Table:
    table: Table = {"name": name, "url": url}
    if variant is not None:
        table["variant"] = variant
    if packages:
        table["packages"] = list(packages)
    return table


def constraint(file: str, variant: str | None = None) -> Table:
    return {"file": file} if variant is None else {"file": file, "variant": variant}


def settings(
    images: Sequence[Table],
    *,
    target: Mapping[str, str] | None = None,
    indexes: Sequence[Table] = (),
    constraints: Sequence[Table] = (),
    **top: Any,
) -> Table:
    """The ``[tool.lockaudit]`` table; ``top`` keys (``versions``, ``common``…) use ``_``."""
    table: Table = {key.replace("_", "-"): value for key, value in top.items()}
    if target is not None:
        table["target"] = dict(target)
    if constraints:
        table["constraints"] = list(constraints)
    if indexes:
        table["indexes"] = list(indexes)
    table["images"] = list(images)
    return table


def pyproject_text(tool: Table) -> str:
    return tomli_w.dumps({"tool": {"lockaudit": tool}})


def write_workspace(root: Path, tool: Table, files: Mapping[str, str | bytes] = {}) -> Path:
    """``root/pyproject.toml`` from ``tool`` and each of ``files`` (relative path → content)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject_text(tool), encoding="utf-8")
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def ml_chain(
    *,
    cu121: str,
    target: Mapping[str, str] | None = None,
    base_images: tuple[str, str] = ("nvidia/cuda:12.1.1-runtime-ubuntu22.04", "python:3.11-slim"),
    **top: Any,
) -> Table:
    """base:cuda and base:cpu on the common requirements, base-ml:cuda, asr:cuda; torch routed
    to the CUDA 12.1 index ``cu121`` for the cuda variant."""
    common = ["requirements-common.txt"]
    return settings(
        [
            image("base", "cuda", base_image=base_images[0], requirements=common),
            image("base", "cpu", base_image=base_images[1], requirements=common),
            image(
                "base-ml",
                "cuda",
                parent="base:cuda",
                requirements=["docker/base-ml/requirements.txt"],
            ),
            image(
                "asr", "cuda", parent="base-ml:cuda", requirements=["docker/asr/requirements.txt"]
            ),
        ],
        target=target or {"python": "3.11.7", "glibc": "2.35", "cuda": "12.1"},
        indexes=[index("pytorch-cu121", cu121, variant="cuda", packages=["torch"])],
        **{"common": "requirements-common.txt", **top},
    )
