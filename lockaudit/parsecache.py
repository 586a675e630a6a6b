"""Parsed generated files, kept between runs so `lockaudit check` stays fit for a hook.

Locks are the biggest inputs `check` reads (thousands of `--hash` lines) and change only when
`compile` rewrites them. A parse result is stored under the sha256 of the exact bytes it came
from (plus lockaudit's version and the parser's name), so a stale entry can never be used: any
edit changes the key. Entries are written atomically; an unreadable one is parsed again.
Only lockaudit's own files are cached: they are what the cache directory's owner generated.
"""

from __future__ import annotations

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


def cached_parse(kind: str, data: bytes, parse: Callable[[], T]) -> T:
    """``parse()`` of ``data``, or the result stored for these exact bytes by an earlier run."""
    key = hashlib.sha256(f"{__version__}\0{kind}\0".encode() + data).hexdigest()
    folder = default_cache_dir() / "parsed"
    entry = folder / key[:2] / key
    try:
        with entry.open("rb") as handle:
            found: T = pickle.load(handle)  # written by this user's lockaudit only
        return found
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    result = parse()
    _store(entry, result)
    return result


def _store(entry: Path, value: object) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, entry)
    except OSError:
        pass  # a read-only or full cache only costs speed
