"""The exception tree of lockaudit.

    LockauditError              base: carries a message and an optional next step (hint)
    ├── UsageError              a command line that asks for something that does not exist
    ├── InputError              bad user input at a known place: ``path:line: message``
    │   └── InputErrors         several of them, found in one load, reported together
    ├── WorkspaceError          the workspace as a whole is inconsistent (cycles, unknown parents)
    ├── IndexFetchError         a package index could not give what was asked (after retries)
    ├── OfflineMissError        ``--offline`` and the cache lacks an entry
    └── ResolutionError         an image cannot be resolved; carries the explained conflicts

Every error is turned into a user message in exactly one place (``lockaudit.cli``), which maps
them to exit code 2 (usage or input error) except ``ResolutionError`` (exit 1: a finding).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    """A place in a workspace file; ``path`` is relative to the workspace root when possible."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class LockauditError(Exception):
    """Base of every error lockaudit raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(LockauditError):
    """The command line names an image, option or value that does not exist."""


class InputError(LockauditError):
    """A file of the workspace cannot be understood; always names where."""

    def __init__(self, location: Location, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class InputErrors(InputError):
    """Every located error one load found, first one first (one ``path:line:`` line each)."""

    def __init__(self, errors: tuple[InputError, ...]) -> None:
        first = errors[0]
        rest = "".join(f"\n{e}" for e in errors[1:])
        super().__init__(first.location, first.message + rest, hint=first.hint)
        self.errors = errors


class WorkspaceError(LockauditError):
    """The workspace is inconsistent as a whole (a FROM cycle, an unknown parent...)."""

    def __init__(
        self, message: str, *, location: Location | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class IndexFetchError(LockauditError):
    """A package index did not answer usefully, even after retries."""

    def __init__(self, url: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url

    def __str__(self) -> str:
        return f"{self.url}: {self.message}"


class OfflineMissError(LockauditError):
    """``--offline`` was asked for and the cache lacks what is needed."""

    def __init__(self, url: str, what: str) -> None:
        super().__init__(
            f"offline, and the cache has no copy of {what} ({url})",
            hint="run once without --offline to fill the cache",
        )
        self.url = url
        self.what = what


class ResolutionError(LockauditError):
    """An image cannot be resolved; ``explanations`` are human-readable conflict chains."""

    def __init__(self, image: str, explanations: tuple[str, ...]) -> None:
        super().__init__(f"{image}: cannot be resolved\n" + "\n".join(explanations))
        self.image = image
        self.explanations = explanations
