"""``--format github``: findings as GitHub Actions workflow commands (annotations on the diff).

Each finding becomes one ``::error``/``::warning``/``::notice`` line with ``file``, ``line`` and a
``title`` of the rule's code and name, so a pull request shows it beside the line it is about.
The runner parses these lines from stdout; nothing else is printed. Values are escaped as the
runner expects: ``%``, CR and LF in the message, and also ``:`` and ``,`` in properties.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lockaudit.rules.findings import Finding

__all__ = ["error_annotation", "workflow_commands"]

_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def workflow_commands(findings: Iterable[Finding]) -> str:
    """One workflow command per finding, in the order given."""
    return "".join(_annotation(finding) + "\n" for finding in findings)


def _annotation(finding: Finding) -> str:
    title = f"{finding.code} {finding.rule}".strip()
    properties = [f"file={_property(finding.location.path)}"]
    if finding.location.line > 0:
        properties.append(f"line={finding.location.line}")
    properties.append(f"title={_property(title)}")
    text = finding.message + (f"\nhint: {finding.hint}" if finding.hint else "")
    command = _COMMAND.get(finding.severity.value, "warning")
    return f"::{command} {','.join(properties)}::{_data(text)}"


def error_annotation(error: dict[str, Any]) -> str:
    """An input error (``render.error_json``) as one ``::error`` line at its file and line."""
    properties = [f"file={_property(error['path'])}"] if error.get("path") else []
    if error.get("path") and error.get("line"):
        properties.append(f"line={error['line']}")
    text = error["message"] + (f"\nhint: {error['hint']}" if error.get("hint") else "")
    head = f"::error {','.join(properties)}" if properties else "::error"
    return f"{head}::{_data(text)}\n"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
