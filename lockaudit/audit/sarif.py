"""SARIF 2.1.0 output, for code-scanning annotations on pull requests.

One run, one tool (``lockaudit``) whose rules are the audit rules (and any other rule id a
finding carries, e.g. from ``check``). Each finding is a result at its ``path:line`` relative to
the workspace root (``%SRCROOT%``); a finding without a line points at the file. Severities map
to SARIF levels error / warning / note. ``partialFingerprints`` are stable across runs (rule,
image, package, location), so a code-scanning service tracks a finding instead of reopening it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from lockaudit import __version__
from lockaudit.rules.catalog import doc_of
from lockaudit.rules.findings import Finding, Severity

__all__ = ["SARIF_SCHEMA", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def to_sarif(
    findings: Sequence[Finding], rules: Iterable[tuple[str, Severity, str]] = ()
) -> dict[str, Any]:
    """The SARIF log of ``findings``; ``rules`` are (id, default severity, description)."""
    described = {rule_id: (severity, text) for rule_id, severity, text in rules}
    for finding in findings:
        described.setdefault(finding.rule, (finding.severity, finding.rule))
    ids = sorted(described)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "lockaudit",
                        "version": __version__,
                        "rules": [_rule(rule_id, *described[rule_id]) for rule_id in ids],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "workspace root"}}},
                "results": [_result(finding, ids.index(finding.rule)) for finding in findings],
            }
        ],
    }


def _rule(rule_id: str, severity: Severity, text: str) -> dict[str, Any]:
    """A SARIF rule; a catalogued rule also carries its code, why it matters and its examples
    (the entry of docs/rules.md)."""
    rule: dict[str, Any] = {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": text},
        "defaultConfiguration": {"level": _LEVEL[severity]},
    }
    doc = doc_of(rule_id)
    if doc is not None:
        rule["fullDescription"] = {"text": doc.why}
        rule["help"] = {
            "text": f"{doc.why}\n\nBad:\n{doc.bad}\nGood:\n{doc.good}",
            "markdown": f"{doc.why}\n\nBad:\n\n```\n{doc.bad}```\n\nGood:\n\n```\n{doc.good}```",
        }
        rule["properties"] = {"code": doc.code}
    return rule


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    physical: dict[str, Any] = {
        # a relative URI reference: spaces, '#', '%' and non-ASCII must be percent-encoded
        "artifactLocation": {"uri": quote(finding.location.path), "uriBaseId": "%SRCROOT%"}
    }
    if finding.location.line > 0:
        physical["region"] = {"startLine": finding.location.line}
    text = finding.message + (f"\nhint: {finding.hint}" if finding.hint else "")
    key = "|".join(
        (finding.rule, finding.image or "", finding.package or "", str(finding.location))
    )
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {"lockaudit/v1": hashlib.sha256(key.encode()).hexdigest()[:32]},
        "properties": {
            "code": finding.code or None,
            "image": finding.image,
            "package": finding.package,
            "hint": finding.hint,
        },
    }
    return result
