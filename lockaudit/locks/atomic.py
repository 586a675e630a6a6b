"""Writing files all or nothing: temporary files, fsync, then ``os.replace``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lockaudit.errors import InputError, Location


def write_atomically(root: Path, files: Mapping[str, bytes]) -> tuple[str, ...]:
    """Write ``files`` (relative path → bytes) all or nothing; return the paths that changed.

    A file whose bytes are already on disk is not touched. The others are first written to
    temporary files in their own directory and fsynced; only when every one is ready are they
    moved into place with ``os.replace`` (atomic per file). If preparing any fails, no file is
    replaced and the temporaries are removed.
    """
    changed = [path for path, data in sorted(files.items()) if _current_bytes(root / path) != data]
    for path in changed:
        if (root / path).is_dir():  # os.replace would fail only after other locks moved
            raise InputError(Location(path), "is a directory, not a lock file: nothing written")
    prepared: list[tuple[str, Path]] = []
    path = ""
    try:
        for path in changed:
            prepared.append((path, _write_temp(root / path, files[path])))
    except BaseException as e:
        for _, temp in prepared:
            with contextlib.suppress(OSError):
                temp.unlink()
        if isinstance(e, OSError):  # a read-only folder, a full disk, a quota
            raise InputError(
                Location(path),
                f"cannot write: {e.strerror or e}: nothing written",
                hint="make the folder writable, or free some space, and compile again",
            ) from None
        raise
    directories: set[Path] = set()
    for path, temp in prepared:
        os.replace(temp, root / path)
        directories.add((root / path).parent)
    for directory in directories:
        _fsync_directory(directory)
    return tuple(changed)


def _current_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_temp(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _file_mode(target)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; a committed lock keeps the mode it had, or the umask's default.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: Path) -> None:
    # Makes the renames durable; not every platform allows opening a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
