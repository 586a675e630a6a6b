"""Locks: one module per file format, one for input digests, one for atomic writes.

- :mod:`~lockaudit.locks.model`: the frozen :class:`Lock`, its packages and files, lock paths;
- :mod:`~lockaudit.locks.digest`: the digest of every input that decides a lock;
- :mod:`~lockaudit.locks.text`: the full and layer locks (pip requirements format);
- :mod:`~lockaudit.locks.pylock`: PEP 751 ``pylock.<slug>.toml``;
- :mod:`~lockaudit.locks.workspace`: all of a workspace's locks, rendered and read together;
- :mod:`~lockaudit.locks.atomic`: all-or-nothing writes.

Callers import from here; the modules are the places to read and change.
"""

from __future__ import annotations

from lockaudit.locks.atomic import write_atomically
from lockaudit.locks.digest import InputDigest, RequirementsLoader, input_digest
from lockaudit.locks.model import (
    BUILD_ARGS_INPUT,
    DEFAULT_INDEX,
    FORMAT_INPUT,
    GENERATED_BY,
    INDEXES_INPUT,
    LOCK_FORMAT,
    MISSING,
    NO_URL,
    PYLOCK_FORM,
    TARGET_INPUT,
    Lock,
    LockedFile,
    LockedPackage,
    LockKind,
    LockPaths,
    lock_paths,
    parse_target_spec,
    target_markers,
    target_spec,
)
from lockaudit.locks.pylock import pylock_body_digest, pylock_packages, read_pylock, render_pylock
from lockaudit.locks.text import (
    LockMemo,
    LockText,
    load_lock,
    lock_requirements,
    parse_lock,
    parse_lock_data,
    read_lock,
    render_body,
    render_layer_lock,
    render_lock,
)
from lockaudit.locks.workspace import WorkspaceLocks, read_workspace_locks, render_all

__all__ = [
    "BUILD_ARGS_INPUT",
    "DEFAULT_INDEX",
    "FORMAT_INPUT",
    "GENERATED_BY",
    "INDEXES_INPUT",
    "LOCK_FORMAT",
    "MISSING",
    "NO_URL",
    "PYLOCK_FORM",
    "TARGET_INPUT",
    "InputDigest",
    "Lock",
    "LockKind",
    "LockMemo",
    "LockPaths",
    "LockText",
    "LockedFile",
    "LockedPackage",
    "RequirementsLoader",
    "WorkspaceLocks",
    "input_digest",
    "load_lock",
    "lock_paths",
    "lock_requirements",
    "parse_lock",
    "parse_lock_data",
    "parse_target_spec",
    "pylock_body_digest",
    "pylock_packages",
    "read_lock",
    "read_pylock",
    "read_workspace_locks",
    "render_all",
    "render_body",
    "render_layer_lock",
    "render_lock",
    "render_pylock",
    "target_markers",
    "target_spec",
    "write_atomically",
]
