"""Moved to :mod:`lockaudit.rules.findings`; kept so existing imports keep working."""

from lockaudit.rules.findings import SCHEMA_VERSION, Finding, RuleSpec, Severity

__all__ = ["SCHEMA_VERSION", "Finding", "RuleSpec", "Severity"]
