"""Every ``--format json`` document matches its schema in ``docs/schemas/`` (the contract).

Real output, as users get it: the commands run in a child process on this repository (the gate,
the graph, a dry-run compile from the locks alone) and on a broken workspace (the error
document); the audit's document comes from the replay tests' loopback workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from lockaudit.audit import AuditResult
from tests.test_audit_replay import NEWER_TORCH, run_audit, server  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs" / "schemas"


def _registry() -> Registry:  # type: ignore[type-arg]
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text())))
        for path in SCHEMAS.glob("*.schema.json")
    ]
    return Registry().with_resources(resources)


def _validate(document: Any, schema: str) -> None:
    contents = json.loads((SCHEMAS / schema).read_text())
    jsonschema.Draft7Validator(contents, registry=_registry()).validate(document)


def _json(*args: str, cwd: Path = ROOT, code: int = 0) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "lockaudit", *args, "--format", "json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("args", "schema"),
    [
        (("check",), "findings.schema.json"),
        (("graph",), "graph.schema.json"),
        (("compile", "--all", "--offline", "--dry-run"), "compile.schema.json"),
    ],
)
def test_this_repository_s_documents_match_their_schemas(
    args: tuple[str, ...], schema: str
) -> None:
    document = _json(*args)
    assert document["schema_version"] == 1
    _validate(document, schema)


def test_the_error_document_matches_its_schema(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.lockaudit]\nlocks = 3\n")
    _validate(_json("check", cwd=tmp_path, code=2), "error.schema.json")


def test_audit_document_with_findings_matches_its_schema(
    run_audit: Callable[..., AuditResult],  # noqa: F811
) -> None:
    document = json.loads(json.dumps(run_audit(NEWER_TORCH).as_json()))
    assert document["findings"], "a document with findings, so their schema is exercised"
    _validate(document, "audit.schema.json")
    _validate({"schema_version": 1, "findings": document["findings"]}, "findings.schema.json")


def test_the_schemas_reject_what_they_must() -> None:
    """A schema that accepts anything proves nothing: a wrong severity is refused."""
    bad = {"schema_version": 1, "findings": [{"code": "LA101", "severity": "fatal"}]}
    with pytest.raises(jsonschema.ValidationError):
        _validate(bad, "findings.schema.json")
