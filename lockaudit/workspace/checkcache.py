"""Findings of the last `lockaudit check`, reused while no input has changed.

A pre-commit hook runs `check` on every commit, mostly with the same Dockerfiles, pins and
locks. The key is a digest of lockaudit's code (version and source files), the options, and the
path and content digest of every file under the workspace root (the folders
``workspace/tree.py`` skips aside: version control, virtual environments, caches, which no rule
reads; a new Dockerfile anywhere else changes the key, so the coverage rule sees it): any
edit, added or removed file gives a new key, so a stale answer is never reused, while a file
touched (or rewritten with the same bytes) keeps it.

Hashing every file on every run would cost more than the check, so as git's index does, a
per-workspace *stat index* remembers each file's digest with its size, modification and change
times and inode: a file whose status is unchanged keeps its digest, any other is read and
hashed again. The change time cannot be set back by a program (``os.utime`` moves it), so an
edit that restores the old modification time is still seen. A file changed in the last few
seconds is always hashed and never remembered ("racily clean" in git's words: an edit within
one timestamp tick of the previous one could keep its whole status). ``--no-cache`` skips the
cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockaudit.workspace.parsecache import code_fingerprint, default_cache_dir
from lockaudit.workspace.tree import repository_entries

if TYPE_CHECKING:
    from lockaudit.rules.findings import Finding

_RACY_NS = 5_000_000_000  # files changed this recently are hashed on every run
_Status = tuple[int, int, int, int]  # size, modification time, change time, inode


def check_key(root: Path, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> str:
    """The key of one `check` run: the workspace's files and the rule selection."""
    return workspace_key(root, [*select, "|", *ignore])


def workspace_key(root: Path, options: Sequence[str]) -> str:
    base = os.fspath(root.resolve())
    digest = hashlib.sha256(f"{code_fingerprint()}\0{base}\0".encode())
    digest.update("\0".join(options).encode())
    for path, content in file_digests(root).items():
        digest.update(f"{path}\0{content}\n".encode())
    return digest.hexdigest()


def file_digests(root: Path) -> dict[str, str]:
    """The SHA-256 (hex) of every file the key covers, by relative path, in walk order: from
    the stat index where a file's status is unchanged, else read (see the module docstring)."""
    slot = hashlib.sha256(os.fspath(root.resolve()).encode()).hexdigest()
    index_path = _folder() / f"index-{slot}"
    known = _read_index(index_path)
    recent = time.time_ns() - _RACY_NS
    digests: dict[str, str] = {}
    kept: dict[str, tuple[int, int, int, int, str]] = {}
    for path, entry in repository_entries(root):
        try:
            stat = entry.stat()
        except OSError:
            continue  # vanished while walking: the next run sees the change
        status = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        old = known.get(path)
        if old is not None and tuple(old[:4]) == status:
            digests[path] = str(old[4])
        else:
            digests[path] = _content_digest(entry.path)
        if max(stat.st_mtime_ns, stat.st_ctime_ns) < recent:
            kept[path] = (*status, digests[path])
    if kept.keys() != known.keys() or any(kept[p] != tuple(known[p]) for p in kept):
        _write_atomically(index_path, json.dumps(kept).encode())
    return digests


def _content_digest(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return "unreadable"


def _read_index(path: Path) -> dict[str, list[Any]]:
    try:
        found = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, list) and len(v) == 5}


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
        os.replace(temp, path)
    except OSError:
        pass  # a read-only cache only costs speed


def load(key: str) -> tuple[Finding, ...] | None:
    found = load_result(key)
    return found[0] if found is not None else None


def load_result(key: str) -> tuple[tuple[Finding, ...], tuple[Finding, ...]] | None:
    """The stored findings, and those inline ignores silenced (for the summary's counts)."""
    try:
        raw = json.loads((_folder() / key).read_text(encoding="utf-8"))
        items = [(bool(item.get("ignored")), _finding(item)) for item in raw]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    shown = tuple(f for ignored, f in items if not ignored)
    return shown, tuple(f for ignored, f in items if ignored)


def store(key: str, findings: Sequence[Finding], ignored: Sequence[Finding] = ()) -> None:
    folder = _folder()
    rows = [f.as_json() for f in findings] + [{**f.as_json(), "ignored": True} for f in ignored]
    _write_atomically(folder / key, json.dumps(rows).encode())


def _folder() -> Path:
    return default_cache_dir() / "check"


def _finding(item: dict[str, Any]) -> Finding:
    # imported here: a hook run whose cached answer is clean never builds a Finding
    from lockaudit.errors import Location
    from lockaudit.rules.findings import Finding, Severity

    path, _, line = str(item["location"]).rpartition(":")
    location = (
        Location(path, int(line)) if path and line.isdigit() else Location(str(item["location"]))
    )
    return Finding(
        rule=str(item["rule"]),
        severity=Severity(str(item["severity"])),
        message=str(item["message"]),
        location=location,
        image=item.get("image"),
        package=item.get("package"),
        hint=item.get("hint"),
        related=tuple(Location(str(r["path"]), int(r["line"])) for r in item.get("related", ())),
        code=str(item.get("code") or ""),
    )
