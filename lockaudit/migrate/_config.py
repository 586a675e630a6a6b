"""Edits of ``[tool.lockaudit]`` in ``pyproject.toml`` that keep every comment and layout.

tomlkit round-trips the document: only the values set here change. An image table is found
by ``name`` and ``tag`` (a fallback by its table's ``tag``); one that is not there is an error,
never a silently added table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from lockaudit.errors import InputError, Location


@dataclass
class ConfigEdits:
    """What to change, filled while planning."""

    requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)  # image key → files
    build_args: dict[str, tuple[str, str]] = field(default_factory=dict)  # image key → (ARG, value)
    locks: dict[str, str] = field(default_factory=dict)  # image key → its own locks folder
    versions: str | None = None  # set `versions` (the workspace had none)
    new_images: list[dict[str, Any]] = field(default_factory=list)  # tables to append
    # (name, url, variant, routed packages) of indexes to add
    indexes: list[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=list)


def edit_config(text: str, edits: ConfigEdits) -> str:
    """``text`` with ``edits`` applied; unchanged text when there is nothing to do."""
    if not (
        edits.requirements or edits.build_args or edits.versions or edits.new_images
        or edits.indexes or edits.locks
    ):
        return text
    doc = tomlkit.parse(text)
    section = _lockaudit(doc)
    if edits.versions is not None:
        section["versions"] = edits.versions
    if edits.indexes:
        _add_indexes(section, edits.indexes)
    images = section.get("images")
    if edits.new_images:
        if images is None:
            images = tomlkit.aot()
            section.append("images", images)
        for table in edits.new_images:
            images.append(_table(table))
    for key, files in edits.requirements.items():
        table = _image_table(images, key, fallback=False)
        table["requirements"] = _array(files)
    for key, folder in edits.locks.items():
        _image_table(images, key, fallback=False)["locks"] = folder
    for key, (name, value) in edits.build_args.items():
        table = _image_table(images, key, fallback=None)
        args = table.get("build-args")
        if args is None:
            args = tomlkit.inline_table()
            table["build-args"] = args
        args[name] = value
    return tomlkit.dumps(doc)


def _add_indexes(section: Table, indexes: list[tuple[str, str, str, tuple[str, ...]]]) -> None:
    tables = section.get("indexes")
    if tables is None:
        tables = tomlkit.aot()
        section.append("indexes", tables)
    for name, url, variant, packages in indexes:
        entry: dict[str, Any] = {"name": name, "url": url, "variant": variant}
        if packages:
            entry["packages"] = list(packages)
        tables.append(_table(entry))


def _lockaudit(doc: Any) -> Table:
    tool = doc.get("tool")
    if tool is None or "lockaudit" not in tool:
        raise InputError(Location("pyproject.toml"), "no [tool.lockaudit] section")
    section: Table = tool["lockaudit"]
    return section


def _image_table(images: AoT | None, key: str, *, fallback: bool | None) -> Table:
    """The table of image ``key``; ``fallback`` None: the image or a fallback's sub-table."""
    name, _, tag = key.partition(":")
    for table in images.body if images is not None else ():
        if table.get("name") != name:
            continue
        if fallback is not True and table.get("tag") == tag:
            return table
        sub = table.get("fallback")
        if fallback is not False and sub is not None and sub.get("tag") == tag:
            found: Table = sub
            return found
    raise InputError(Location("pyproject.toml"), f"no [[tool.lockaudit.images]] for {key}")


def _array(values: tuple[str, ...]) -> Any:
    array = tomlkit.array()
    array.extend(values)
    return array


def _table(values: dict[str, Any]) -> Table:
    table = tomlkit.table()
    for key, value in values.items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            table[key] = inline
        else:
            table[key] = value
    return table
