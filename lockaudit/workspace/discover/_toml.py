"""The proposal as ``[tool.lockaudit]`` TOML text, and writing it into ``pyproject.toml``."""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lockaudit.errors import InputError, Location
from lockaudit.workspace.discover._decide import Settings
from lockaudit.workspace.discover._results import Discovery, FoundImage
from lockaudit.workspace.model import Variant

_HEAVY_DEFAULT = ("torch", "torchaudio", "torchvision", "triton", "nvidia-*")


# -- TOML ---------------------------------------------------------------------------------------


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_toml_str(v) for v in values) + "]"


def _toml_table(pairs: Iterable[tuple[str, str]]) -> str:
    items = ", ".join(f"{_toml_key(k)} = {_toml_str(v)}" for k, v in pairs)
    return "{ " + items + " }" if items else "{ }"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_str(key)


def render(
    settings: Settings,
    images: list[FoundImage],
    versions: str | None,
    constraints: list[tuple[Variant | None, str]],
    target: Mapping[str, str],
    indexes: list[tuple[str, str, Variant | None, tuple[str, ...]]],
) -> str:
    out = ["[tool.lockaudit]", "# proposed by `lockaudit init`; review, then commit"]
    out.append(f"registry = {_toml_str(settings.registry)}")
    out.append(f"image-prefix = {_toml_str(settings.prefix)}")
    out.append(f"versions = {_toml_str(versions or '')}")
    out.append(f"common = {_toml_str(settings.common or '')}")
    out.append('locks = "locks"')
    out.append(f"heavy = {_toml_list(_HEAVY_DEFAULT)}")
    if target:
        out += ["", "[tool.lockaudit.target]"]
        out += [f"{key} = {_toml_str(value)}" for key, value in target.items()]
    for variant, path in constraints:
        out += ["", "[[tool.lockaudit.constraints]]", f"file = {_toml_str(path)}"]
        if variant is not None:
            out.append(f"variant = {_toml_str(variant.value)}")
    for name, url, variant, packages in indexes:
        out += ["", "[[tool.lockaudit.indexes]]", f"name = {_toml_str(name)}",
                f"url = {_toml_str(url)}"]
        if variant is not None:
            out.append(f"variant = {_toml_str(variant.value)}")
        out.append(f"packages = {_toml_list(packages)}")
    for image in images:
        out += ["", *_render_image(image)]
    return "\n".join(out) + "\n"


def _render_image(image: FoundImage) -> list[str]:
    out = ["[[tool.lockaudit.images]]"]
    out += [f"# {note}" for note in image.notes]
    out += [
        f"name = {_toml_str(image.name)}",
        f"tag = {_toml_str(image.tag)}",
        f"dockerfile = {_toml_str(image.dockerfile)}",
    ]
    if image.edge:
        out.append(f"# {'parent' if image.parent is not None else 'base image'} from {image.edge}")
    if image.parent is not None:
        out.append(f"parent = {_toml_str(image.parent)}")
    else:
        out.append(f"base-image = {_toml_str(image.base_image or '')}")
    if image.from_inserted:
        out.append("# its build writes a FROM line above the Dockerfile's line 1")
        out.append("from-inserted = true")
    out.append(f"variant = {_toml_str(image.variant.value)}")
    if not image.python:
        out.append("python = false")
    out.append(f"requirements = {_toml_list(image.requirements)}")
    if image.context != ".":
        out.append(f"context = {_toml_str(image.context)}")
    if image.stage:
        out.append(f"stage = {_toml_str(image.stage)}")
    if image.build_args:
        out.append(f"build-args = {_toml_table(image.build_args)}")
    if image.target:
        out.append(f"target = {_toml_table(image.target)}")
    if image.fallback is not None:
        fb = image.fallback
        out.append("[tool.lockaudit.images.fallback]")
        out.append(f"# {fb.evidence}")
        if fb.note:
            out.append(f"# {fb.note}")
        out.append(f"tag = {_toml_str(fb.tag)}")
        out.append(f"parent = {_toml_str(fb.parent)}")
        if fb.build_args:
            out.append(f"build-args = {_toml_table(fb.build_args)}")
    return out


# -- writing pyproject.toml ---------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def write_config(root: Path, discovery: Discovery, *, force: bool = False) -> Path:
    """Put ``discovery.config_toml`` into ``root/pyproject.toml`` as ``[tool.lockaudit]``.

    The file is created when missing; an existing ``[tool.lockaudit]`` is replaced only with
    ``force``. The write is atomic (a temporary file renamed over the old one), and the result
    is checked with ``tomllib``: every other table must read exactly as before.
    """
    path = root / "pyproject.toml"
    old_text = path.read_text(encoding="utf-8") if path.exists() else ""
    old = _load(old_text, "pyproject.toml")
    if "lockaudit" in old.get("tool", {}) and not force:
        raise InputError(
            Location("pyproject.toml", _section_line(old_text)),
            "pyproject.toml already has a [tool.lockaudit] section",
            hint="pass --force to replace it, or --print to see the proposal",
        )
    kept = _without_section(old_text)
    new_text = (kept.rstrip("\n") + "\n\n" if kept.strip() else "") + discovery.config_toml
    try:
        new: dict[str, Any] | None = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        new = None  # e.g. `lockaudit = {...}` inline under [tool], which we did not remove
    if new is None or _strip_lockaudit(new) != _strip_lockaudit(old):
        raise InputError(
            Location("pyproject.toml", _section_line(old_text)),
            "cannot replace [tool.lockaudit] safely: it is not written as its own tables",
            hint="move it into [tool.lockaudit] tables, or remove it, and run init again",
        )
    _atomic_write(path, new_text)
    return path


def _load(text: str, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(Location(what), f"invalid TOML: {e}") from e


def _strip_lockaudit(data: Mapping[str, Any]) -> dict[str, Any]:
    copy = dict(data)
    tool = dict(copy.get("tool", {}))
    tool.pop("lockaudit", None)
    if tool:
        copy["tool"] = tool
    else:
        copy.pop("tool", None)
    return copy


def _section_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if match and _is_ours(match.group(1)):
            return number
    return 1


def _is_ours(header: str) -> bool:
    name = re.sub(r"\s*\.\s*", ".", header.strip()).replace('"', "")
    return name == "tool.lockaudit" or name.startswith("tool.lockaudit.")


def _without_section(text: str) -> str:
    """The text with every ``[tool.lockaudit…]`` table removed (up to the next other table)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        match = _HEADER.match(line)
        if match:
            skipping = _is_ours(match.group(1))
        if not skipping:
            out.append(line)
    return "".join(out)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".pyproject.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
