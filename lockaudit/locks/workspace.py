"""A workspace's locks: every image's files rendered together, and read together with one
memo and a cache keyed by their bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from lockaudit.errors import InputError, Location
from lockaudit.locks.model import Lock, lock_paths
from lockaudit.locks.pylock import render_pylock
from lockaudit.locks.text import (
    LockMemo,
    LockText,
    parse_lock_data,
    render_layer_lock,
    render_lock,
)
from lockaudit.workspace.model import Image, Workspace
from lockaudit.workspace.parsecache import cached_in_slot


@dataclass(frozen=True)
class WorkspaceLocks:
    """Every image's full and layer lock that exists, by path: parsed, or why it cannot be.

    Dockerfiles install their layer lock with ``-r``: the loader reads such a lock as a
    requirements file through :func:`lock_requirements` of its entry here, when a rule asks.
    """

    texts: Mapping[str, LockText | InputError]


def read_workspace_locks(workspace: Workspace, memo: LockMemo | None = None) -> WorkspaceLocks:
    """The workspace's locks, parsed with one shared memo and cached by their bytes.

    The cache (``parsecache``) is keyed by the digest of all the locks' bytes: a check after an
    edit of anything but a lock reads them back instead of parsing them again, and ``compile``
    calls this once it has written locks, so the first check does too. An unreadable lock is
    not cached; it is parsed again to report it.
    """
    memo = memo or LockMemo()
    data: dict[str, bytes] = {}
    outside: dict[str, InputError] = {}
    for image in workspace.images:
        paths = lock_paths(workspace, image)
        for path in (paths.full, paths.layer):
            if _leads_outside(workspace, path):
                outside[path] = InputError(
                    Location(path, 1),
                    f"it is a symlink leading outside the workspace (to "
                    f"{workspace.path(path).resolve()}): a build cannot COPY it and the gate "
                    "judges only the workspace's own files",
                )
                continue
            with contextlib.suppress(OSError):  # a missing lock is lock-missing's to report
                data.setdefault(path, workspace.path(path).read_bytes())
    key = b"".join(
        path.encode() + b"\0" + hashlib.sha256(raw).digest() for path, raw in sorted(data.items())
    )

    def parse() -> dict[str, LockText]:
        parsed: dict[str, LockText] = {}
        for path, raw in data.items():
            with contextlib.suppress(InputError):
                parsed[path] = parse_lock_data(raw, path, memo)
        return parsed

    slot = f"locks:{workspace.root.resolve()}"
    good = cached_in_slot(slot, key, parse)
    texts: dict[str, LockText | InputError] = dict(outside)
    for path, raw in data.items():
        try:
            texts[path] = good.get(path) or parse_lock_data(raw, path, memo)
        except InputError as e:
            texts[path] = e
    return WorkspaceLocks(texts)


def _leads_outside(workspace: Workspace, path: str) -> bool:
    """Whether a lock path exists and resolves (through a symlink) outside the workspace."""
    file = workspace.path(path)
    if not file.is_symlink() and not any(p.is_symlink() for p in file.parents):
        return False
    return not file.resolve().is_relative_to(workspace.root.resolve())


# --------------------------------------------------------------------------- writing


def render_all(workspace: Workspace, image: Image, lock: Lock) -> dict[str, bytes]:
    """The three files of an image's lock, keyed by path relative to the workspace root."""
    paths = lock_paths(workspace, image)
    files = {paths.full: render_lock(lock), paths.layer: render_layer_lock(lock, paths.full)}
    if workspace.pylock:
        files[paths.pylock] = render_pylock(lock)
    return files
