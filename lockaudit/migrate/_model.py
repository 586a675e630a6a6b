"""The frozen values a migration plan is made of: file changes, the spans they replace, notes."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lockaudit.errors import Location


class NoteKind(StrEnum):
    UNLOCKABLE = "unlockable"  # kept as written: a lock cannot pin it (VCS, URL, local path)
    DISAGREEMENT = "disagreement"  # images pin one package differently: not merged
    HOISTED = "hoisted"  # a pin every image that names it agrees on, now in versions
    NOT_REWRITTEN = "not-rewritten"  # an install lockaudit could not rewrite safely
    DISCOVERY = "discovery"  # what `lockaudit init` could not decide
    LOCKS_IN_CONTEXT = "locks-in-context"  # an image's locks go where its context can COPY them
    NOT_MIGRATED = "not-migrated"  # an image whose lock does not resolve: left as it was


@dataclass(frozen=True)
class Note:
    kind: NoteKind
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class Edit:
    """``text`` replaces the characters ``start``..``end`` of the old text (``start == end``:
    an insertion). Everything outside the edits of a file stays byte for byte."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the workspace root
    old: str | None  # None: a new file
    new: str
    edits: tuple[Edit, ...] = ()  # for rewritten Dockerfiles: what replaced what

    def diff(self) -> str:
        old = (self.old or "").splitlines(keepends=True)
        lines = difflib.unified_diff(
            old,
            self.new.splitlines(keepends=True),
            "/dev/null" if self.old is None else f"a/{self.path}",
            f"b/{self.path}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class MigrationPlan:
    """Everything ``lockaudit migrate`` would change, before any lock is compiled."""

    root: Path
    changes: tuple[FileChange, ...]
    notes: tuple[Note, ...]
    images: tuple[str, ...]  # the image keys of the migrated workspace
    discovered: bool  # the configuration is new (from discovery)

    def change(self, path: str) -> FileChange:
        return next(c for c in self.changes if c.path == path)

    @property
    def dockerfiles(self) -> tuple[FileChange, ...]:
        return tuple(c for c in self.changes if c.edits)


def apply_edits(text: str, edits: tuple[Edit, ...]) -> str:
    """``text`` with ``edits`` (non-overlapping, any order) applied."""
    out: list[str] = []
    at = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        out.append(text[at : edit.start])
        out.append(edit.text)
        at = edit.end
    out.append(text[at:])
    return "".join(out)
