"""``versions.txt``: the pipeline's compatibility matrix.

Each line is one of:

* a note: ``# torch 2.1.0 is the last release built for cu121`` (kept, with its line);
* a setting: ``KEY=VALUE`` with ``KEY`` matching ``[A-Z][A-Z0-9_]*`` (``CUDA_VERSION=12.1``);
* a pin: a PEP 508 requirement (``torch==2.1.0``), optionally followed by ``  # note``.

Anything else is an error: a matrix that is silently half-read is worse than none. A key or a
package given twice is an error too, because which one wins would be a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lockaudit.errors import InputError, Location
from lockaudit.parsing.requirements import (
    RequirementLine,
    parse_requirement_string,
    read_text,
    split_lines,
)
from lockaudit.workspace.model import normalize

__all__ = ["Setting", "VersionsFile", "parse_versions", "parse_versions_text"]

_SETTING = re.compile(r"([A-Z][A-Z0-9_]*)\s*=(?!=)\s*(.*)")
_INLINE_COMMENT = re.compile(r"\s+#(.*)$")


@dataclass(frozen=True)
class Setting:
    key: str
    value: str
    location: Location


@dataclass(frozen=True)
class VersionsFile:
    path: str
    settings: tuple[Setting, ...]
    pins: tuple[RequirementLine, ...]
    notes: tuple[tuple[Location, str], ...]

    def setting(self, key: str) -> str | None:
        return next((s.value for s in self.settings if s.key == key), None)

    def pin(self, name: str) -> RequirementLine | None:
        wanted = normalize(name)
        return next((p for p in self.pins if p.name == wanted), None)


def parse_versions(root: Path, path: str) -> VersionsFile:
    return parse_versions_text(read_text(root, path), path)


def parse_versions_text(text: str, path: str) -> VersionsFile:
    settings: dict[str, Setting] = {}
    pins: dict[str, RequirementLine] = {}
    notes: list[tuple[Location, str]] = []
    for number, line in enumerate(split_lines(text), start=1):
        location = Location(path, number)
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            notes.append((location, stripped[1:].strip()))
            continue
        comment = _INLINE_COMMENT.search(stripped)
        if comment:
            notes.append((location, comment.group(1).strip()))
            stripped = stripped[: comment.start()].strip()
        setting = _SETTING.fullmatch(stripped)
        if setting:
            _add_setting(settings, Setting(setting.group(1), _unquote(setting.group(2)), location))
        else:
            _add_pin(pins, _pin(stripped, location))
    return VersionsFile(path, tuple(settings.values()), tuple(pins.values()), tuple(notes))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _pin(text: str, location: Location) -> RequirementLine:
    try:
        return parse_requirement_string(text, location)
    except InputError as e:
        raise InputError(
            location,
            f"expected a '# note', KEY=VALUE or a requirement such as torch==2.1.0: {e.message}",
        ) from None


def _add_setting(settings: dict[str, Setting], setting: Setting) -> None:
    first = settings.get(setting.key)
    if first is not None:
        raise InputError(
            setting.location, f"{setting.key} is set twice (first at {first.location})"
        )
    settings[setting.key] = setting


def _add_pin(pins: dict[str, RequirementLine], pin: RequirementLine) -> None:
    first = pins.get(pin.name)
    if first is not None:
        raise InputError(pin.location, f"{pin.name} is pinned twice (first at {first.location})")
    pins[pin.name] = pin
