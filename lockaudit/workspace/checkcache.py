"""Findings of the last `lockaudit check`, reused while no input has changed.

A pre-commit hook runs `check` on every commit, mostly with the same Dockerfiles, pins and
locks. The key is a digest of lockaudit's code (version and source files), the options, and the
path, size and modification time of every file under the workspace root (the folders
``workspace/tree.py`` skips aside: version control, virtual environments, caches, which no rule
reads; a new Dockerfile anywhere else changes the key, so the coverage rule sees it): any
edit, added or removed file gives a new key, so a stale answer is never reused. As git does
for "racily clean" files, a file modified in the last few seconds is keyed by its bytes too:
an edit within one timestamp tick of the previous one would otherwise keep its time and size.
``--no-cache`` skips the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockaudit.workspace.parsecache import code_fingerprint, default_cache_dir
from lockaudit.workspace.tree import repository_files

if TYPE_CHECKING:
    from lockaudit.rules.findings import Finding

_RACY_NS = 5_000_000_000  # files touched this recently are keyed by content as well


def check_key(root: Path, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> str:
    """The key of one `check` run: the workspace's files and the rule selection."""
    return workspace_key(root, [*select, "|", *ignore])


def workspace_key(root: Path, options: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{code_fingerprint()}\0{os.fspath(root.resolve())}\0".encode())
    digest.update("\0".join(options).encode())
    recent = time.time_ns() - _RACY_NS
    for path, stat in _files(root):
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        if stat.st_mtime_ns >= recent:
            try:
                digest.update(hashlib.sha256((root / path).read_bytes()).digest())
            except OSError:
                digest.update(b"unreadable\n")
    return digest.hexdigest()


def _files(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    for path in repository_files(root):  # the folders the coverage rule walks, no fewer
        try:
            yield path, os.stat(root / path)
        except OSError:
            continue  # vanished while walking: the next run sees the change


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
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{key}.{os.getpid()}"
        temp.write_text(json.dumps(rows), encoding="utf-8")
        os.replace(temp, folder / key)
    except OSError:
        pass  # a read-only cache only costs speed


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
