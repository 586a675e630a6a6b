"""PEP 751 ``pylock.<slug>.toml``: the writer and the reader.

The same lock as the text locks, with every file's URL, index, hashes and size (an installer
needs them); lockaudit's own data under ``[tool.lockaudit]`` and ``[packages.tool.lockaudit]``.
It also witnesses the body: when a text lock's body no longer matches its recorded digest, the
pylock (if it is intact) says which line was edited.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from lockaudit.errors import InputError, Location
from lockaudit.locks.digest import sha256_digest
from lockaudit.locks.model import (
    DEFAULT_INDEX,
    LOCK_FORMAT,
    NO_URL,
    PYLOCK_FORM,
    Lock,
    LockedFile,
    LockedPackage,
    parse_target_spec,
    target_markers,
    target_spec,
)
from lockaudit.locks.text import render_body
from lockaudit.parsing.directref import DIRECT_INDEX, classify
from lockaudit.workspace.model import normalize


def render_pylock(lock: Lock) -> bytes:
    """The lock as PEP 751 ``pylock.<slug>.toml`` (deterministic: sorted, no time of writing).

    tomli-w writes the TOML (escapes every control character TOML forbids, which a hand-made
    emitter got wrong for U+007F). The ``[tool.lockaudit]`` table comes last: a no-op compile
    reads its ``body-digest`` and ``pylock-form`` off the end of the file without parsing it.
    """
    body = render_body(lock, lock.packages)
    document: dict[str, Any] = {
        "lock-version": "1.0",
        "environments": [target_markers(lock.target)],
        "requires-python": "==" + lock.target.python,
        "extras": [],
        "dependency-groups": [],
        "default-groups": [],
        "created-by": "lockaudit",
        "packages": [_pylock_package(p) for p in sorted(lock.packages, key=lambda p: p.name)],
        "tool": {
            "lockaudit": {
                "lock-format": LOCK_FORMAT,
                "pylock-form": PYLOCK_FORM,
                "image": lock.image,
                "parent": lock.parent or "",
                "target": target_spec(lock.target),
                "inputs-digest": lock.inputs_digest,
                "inputs": [f"{n} {d}" for n, d in lock.inputs],
                "index-urls": sorted(set(lock.index_urls)),
                "body-digest": sha256_digest(body.encode()),
            }
        },
    }
    return tomli_w.dumps(document).encode()


def _pylock_package(package: LockedPackage) -> dict[str, Any]:
    index = package.index if package.index != DEFAULT_INDEX else package.source_index
    table: dict[str, Any] = {"name": package.name, "version": str(package.version)}
    if index:
        table["index"] = index
    files = sorted(package.files, key=lambda f: f.filename)
    if package.index == DIRECT_INDEX:
        table.pop("index", None)
        table["archive"] = _pylock_archive(files[0])
        table["tool"] = {"lockaudit": _tool(package, files)}
        return table
    wheels = [_pylock_file(f) for f in files if f.is_wheel]
    if wheels:
        table["wheels"] = wheels
    # pylock allows one sdist; an index keeps an sdist only when no wheel fits.
    sdist = next((f for f in files if not f.is_wheel), None)
    if sdist is not None:
        table["sdist"] = _pylock_file(sdist)
    table["tool"] = {"lockaudit": _tool(package, files)}
    return table


def _tool(package: LockedPackage, files: list[LockedFile]) -> dict[str, Any]:
    tool: dict[str, Any] = {"layer": package.layer, "required-by": sorted(package.required_by)}
    # The text locks give no URL for these files (the user's own index or a mirror): the
    # reader must not take the machine-local URL as provenance.
    if package.index == DEFAULT_INDEX:
        tool["local-index"] = True
    if any(f.url == NO_URL for f in files):
        tool["local-urls"] = True
    return tool


def _pylock_archive(file: LockedFile) -> dict[str, Any]:
    """A direct reference to an archive (PEP 751 ``[packages.archive]``, PEP 610's
    ``archive_info``): its URL and hash; the file name is the URL's last segment."""
    table: dict[str, Any] = {"url": file.url}
    if file.size is not None:
        table["size"] = file.size
    table["hashes"] = {"sha256": file.sha256} if file.sha256 else {}
    return table


def _pylock_file(file: LockedFile) -> dict[str, Any]:
    table: dict[str, Any] = {"name": file.filename}
    uploaded = _upload_time(file.upload_time)
    if uploaded is not None:
        table["upload-time"] = uploaded
    url = file.url if file.url != NO_URL else file.source_url
    if url:
        table["url"] = url
    if file.size is not None:
        table["size"] = file.size
    table["hashes"] = {"sha256": file.sha256} if file.sha256 else {}
    return table


def _upload_time(value: str | None) -> datetime | None:
    """An index's ISO 8601 upload time as a UTC datetime (None if absent or unreadable)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def read_pylock(path: Path, *, display: str | None = None) -> Lock:
    """Read a ``pylock.<slug>.toml`` written by :func:`render_pylock` back into a Lock."""
    shown = display or str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(Location(shown), f"cannot read the lock: {e.strerror}") from e
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(Location(shown, 1), f"not a TOML file: {e}") from e
    try:
        return _pylock_lock(data)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidVersion) as e:
        raise InputError(
            Location(shown, 1),
            f"not a pylock written by lockaudit ({type(e).__name__}: {e})",
            hint="run `lockaudit compile` to rewrite it",
        ) from e


def _pylock_lock(data: Mapping[str, Any]) -> Lock:
    tool = data["tool"]["lockaudit"]
    inputs = tuple(
        (name, digest) for name, _, digest in (item.rpartition(" ") for item in tool["inputs"])
    )
    return Lock(
        image=tool["image"],
        parent=tool["parent"] or None,
        target=parse_target_spec(tool["target"]),
        inputs_digest=tool["inputs-digest"],
        inputs=inputs,
        packages=tuple(_pylock_locked_package(raw) for raw in data.get("packages", [])),
        index_urls=tuple(tool["index-urls"]),
    )


def _pylock_locked_package(raw: Mapping[str, Any]) -> LockedPackage:
    tool = raw["tool"]["lockaudit"]
    # ``index`` is always written (PEP 751); ``local-index`` says it is the user's own index,
    # which the text locks name ``default``.
    source_index = raw.get("index")
    local = bool(tool.get("local-index")) or source_index is None
    index = DEFAULT_INDEX if local else str(source_index)
    files = [*raw.get("wheels", []), *([raw["sdist"]] if "sdist" in raw else [])]
    if "archive" in raw:  # a direct reference: the one file, named by its URL
        archive = raw["archive"]
        index = DIRECT_INDEX
        files = [{**archive, "name": classify(str(archive["url"])).filename}]
    return LockedPackage(
        name=normalize(raw["name"]),
        version=Version(raw["version"]),
        files=tuple(_pylock_locked_file(f, index, bool(tool.get("local-urls"))) for f in files),
        index=index,
        required_by=tuple(tool["required-by"]),
        layer=tool["layer"],
        source_index=None if source_index is None else str(source_index),
    )


def _pylock_locked_file(raw: Mapping[str, Any], index: str, local: bool) -> LockedFile:
    uploaded = raw.get("upload-time")
    url = raw.get("url")
    return LockedFile(
        filename=raw["name"],
        url=url if url and not local else NO_URL,
        sha256=raw["hashes"].get("sha256"),
        size=raw.get("size"),
        index=index,
        upload_time=uploaded.isoformat() if isinstance(uploaded, datetime) else None,
        source_url=url,
    )


def pylock_packages(raw: bytes) -> dict[NormalizedName, LockedPackage]:
    """The packages of a pylock by name (empty when it cannot be read: compile rewrites it)."""
    try:
        lock = _pylock_lock(tomllib.loads(raw.decode("utf-8")))
    except (
        UnicodeDecodeError,
        tomllib.TOMLDecodeError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,  # a table where a string was written, or the other way round
    ):
        return {}
    return {p.name: p for p in lock.packages}


def pylock_body_digest(path: Path) -> str | None:
    """The ``body-digest`` a pylock recorded, or None when it cannot be read."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return str(data["tool"]["lockaudit"]["body-digest"])
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return None
