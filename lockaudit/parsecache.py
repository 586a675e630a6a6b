"""Parsed generated files, kept between runs so `lockaudit check` stays fit for a hook.

Locks are the biggest inputs `check` reads (a big workspace has tens of megabytes of them) and
change only when `compile` rewrites them. The parsed locks of a workspace are stored in one
*slot* (one file per workspace, overwritten, so the cache does not grow with every compile),
under a key that digests every byte they came from, plus lockaudit's version: a stale entry can
never be used, since any edit changes the key. The key is compared before anything is
unpickled; entries are written atomically; an unreadable one is computed again.
Only lockaudit's own files are cached: they are what the cache directory's owner generated.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from lockaudit import __version__

T = TypeVar("T")


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$LOCKAUDIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/lockaudit``, else ``~/.cache/lockaudit``."""
    env = os.environ if environ is None else environ
    if env.get("LOCKAUDIT_CACHE_DIR"):
        return Path(env["LOCKAUDIT_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "lockaudit"
    return Path.home() / ".cache" / "lockaudit"


def cached_in_slot(slot: str, key: bytes, compute: Callable[[], T]) -> T:
    """``compute()``, or the value an earlier run stored in ``slot`` under the same ``key``."""
    digest = hashlib.sha256(f"{__version__}\0{slot}\0".encode() + key).digest()
    entry = default_cache_dir() / "parsed" / hashlib.sha256(slot.encode()).hexdigest()
    try:
        with entry.open("rb") as handle:
            if handle.read(len(digest)) == digest:
                found: T = pickle.load(handle)  # written by this user's lockaudit only
                return found
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    value = compute()
    _store(entry, digest, value)
    return value


def _store(entry: Path, digest: bytes, value: object) -> None:
    temp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(digest)
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, entry)
    except (OSError, pickle.PicklingError):
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # a read-only or full cache only costs speed
