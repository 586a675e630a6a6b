"""Findings: what every rule returns. A finding is data, never an exception.

This module imports nothing of lockaudit beyond :mod:`lockaudit.errors`, so the workspace
model (which names severities in ``[tool.lockaudit.audit]``) can import it from below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from lockaudit.errors import Location

__all__ = ["SCHEMA_VERSION", "Finding", "RuleSpec", "Severity"]

# Version of the JSON documents ``check`` and ``audit`` print (``schema_version``). 1: the
# first versioned form, which added ``code``, ``path``, ``line`` and ``related`` to every
# finding and kept every field the unversioned form had.
SCHEMA_VERSION = 1


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Lower is worse; used to sort findings worst first."""
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about the workspace.

    ``rule`` is the rule's name (``from-mismatch``) and ``code`` its stable code (``LA101``,
    filled in from the rule catalogue when a caller leaves it empty). ``location`` is a path
    relative to the workspace root and a line (0: the whole file); ``related`` are the other
    places the same cause shows up (the images a replaced package is replaced in, the other
    side of a conflict). ``image`` is an image key (``asr:cuda``) or None when the finding is
    about a shared file.
    """

    rule: str
    severity: Severity
    message: str
    location: Location
    image: str | None = None
    package: str | None = None
    hint: str | None = None
    related: tuple[Location, ...] = ()
    code: str = field(default="")

    def __post_init__(self) -> None:
        if not self.code:
            from lockaudit.rules.catalog import code_of  # pure data, imported on first need

            object.__setattr__(self, "code", code_of(self.rule))

    def sort_key(self) -> tuple[int, str, str, int, str]:
        return (
            self.severity.rank,
            self.image or "",
            self.location.path,
            self.location.line,
            self.rule,
        )

    def as_json(self) -> dict[str, object]:
        """The finding in the documented JSON schema (``schema_version`` 1)."""
        return {
            "code": self.code or None,
            "rule": self.rule,
            "severity": self.severity.value,
            "image": self.image,
            "package": self.package,
            "location": str(self.location),
            "path": self.location.path,
            "line": self.location.line,
            "message": self.message,
            "hint": self.hint,
            "related": [{"path": r.path, "line": r.line} for r in self.related],
        }


@dataclass(frozen=True)
class RuleSpec:
    """What a rule is called, what it is about, and how bad its findings are by default.

    ``id`` is the rule's name (kept as the field name: every selector, config key and JSON
    ``rule`` field uses it); ``code`` its stable code from the catalogue (empty for a rule that
    has none yet). `check` rules and `audit` rules both build their findings through
    :meth:`finding`.
    """

    id: str
    severity: Severity
    description: str
    code: str = field(default="", kw_only=True)
    command: str = field(default="check", kw_only=True)  # "check" or "audit"

    @property
    def name(self) -> str:
        return self.id

    def finding(
        self,
        message: str,
        location: Location,
        *,
        image: str | None = None,
        package: str | None = None,
        hint: str | None = None,
        severity: Severity | None = None,
        related: tuple[Location, ...] = (),
    ) -> Finding:
        """A finding of this rule; ``severity`` overrides the default for this one finding."""
        return Finding(
            self.id,
            severity or self.severity,
            message,
            location,
            image,
            package,
            hint,
            related,
            self.code,
        )
