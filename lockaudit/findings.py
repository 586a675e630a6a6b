"""Findings: what every audit rule returns. A finding is data, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lockaudit.errors import Location


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

    ``location`` is ``path:line`` relative to the workspace root; ``image`` is an image key
    (``asr:cuda``) or None when the finding is about a shared file.
    """

    rule: str
    severity: Severity
    message: str
    location: Location
    image: str | None = None
    package: str | None = None
    hint: str | None = None

    def sort_key(self) -> tuple[int, str, str, int, str]:
        return (
            self.severity.rank,
            self.image or "",
            self.location.path,
            self.location.line,
            self.rule,
        )

    def as_json(self) -> dict[str, str | None]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "image": self.image,
            "package": self.package,
            "location": str(self.location),
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class RuleSpec:
    """What a rule is called, what it is about, and how bad its findings are by default.

    `check` rules and `audit` rules both build their findings through :meth:`finding`.
    """

    id: str
    severity: Severity
    description: str

    def finding(
        self,
        message: str,
        location: Location,
        *,
        image: str | None = None,
        package: str | None = None,
        hint: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of this rule; ``severity`` overrides the default for this one finding."""
        return Finding(self.id, severity or self.severity, message, location, image, package, hint)
