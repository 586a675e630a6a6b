"""Parsed generated files, kept between runs so `lockaudit check` stays fit for a hook.

Locks are the biggest inputs `check` reads (a big workspace has tens of megabytes of them) and
change only when `compile` rewrites them. The parsed locks of a workspace are stored in one
*slot* (one file per workspace, overwritten, so the cache does not grow with every compile),
under a key that digests every byte they came from, plus lockaudit's own code (version and
source files): a stale entry can never be used, since any edit changes the key. The key is
compared before anything is unpickled; entries are written atomically; an unreadable one is
computed again.
Only lockaudit's own files are cached: they are what the cache directory's owner generated.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
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


@functools.cache
def code_fingerprint() -> str:
    """lockaudit's version and the size and time of each of its source files.

    Part of every cache key: a cached value is only as good as the code that made it, and in
    a development checkout the code changes without the version changing.
    """
    package = Path(__file__).resolve().parent.parent  # the lockaudit package, not this folder
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        name = path.relative_to(package)
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_in_slot(slot: str, key: bytes, compute: Callable[[], T]) -> T:
    """``compute()``, or the value an earlier run stored in ``slot`` under the same ``key``."""
    digest = hashlib.sha256(f"{code_fingerprint()}\0{slot}\0".encode() + key).digest()
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


def cached_each(slot: str, compute: Mapping[bytes, Callable[[], T]]) -> dict[bytes, T]:
    """``compute[key]()`` for each key, reusing the values an earlier run stored in ``slot``.

    For many files each parsed on its own (a workspace's pylocks): after one of them changes,
    only that one is computed again. The slot keeps the current keys only, so it does not
    grow; each key must digest everything its value depends on.
    """
    digest = hashlib.sha256(f"{code_fingerprint()}\0{slot}\0".encode()).digest()
    entry = default_cache_dir() / "parsed" / hashlib.sha256(slot.encode()).hexdigest()
    known: dict[bytes, T] = {}
    try:
        with entry.open("rb") as handle:
            if handle.read(len(digest)) == digest:
                known = pickle.load(handle)  # written by this user's lockaudit only
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    values = {key: known[key] if key in known else make() for key, make in compute.items()}
    if values.keys() != known.keys():
        _store(entry, digest, values)
    return values


def _store(entry: Path, digest: bytes, value: object) -> None:
    temp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # only when writing: a check answered from its cache never writes

        fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(digest)
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, entry)
    except (OSError, pickle.PicklingError):
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # a read-only or full cache only costs speed
