"""Audit precision on the corpus: run ``check`` and ``audit`` over a repository's hand-written
image graph and compare the findings with ``expected_findings`` and ``non_defects``.

The graph is expected.toml's, not ``init``'s proposal: this measures what the rules find on the
true image family, apart from how well discovery reads it (``compare.py`` measures that). The
trimmed files are copied to a scratch folder and a ``[tool.lockaudit]`` table made from the
``[[images]]`` is added to its ``pyproject.toml`` (kept when the repository has one: a package's
own pyproject is an input some rules read).

A finding matches an expected one when it is at the same ``file:line`` (its location or one of
its ``related`` places: one finding groups the images a cause shows up in) and its code is one of
the codes :data:`RULE_CODES` gives the expected ``rule`` class (the one place the classes of
expected.toml meet the registry). A non-defect is reported when a finding at warning or error
sits at its ``file:line``.

Shared by ``tests/test_realworld_audit.py`` and ``measure.py --audit``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from lockaudit.errors import Location
from lockaudit.rules.findings import Finding, Severity
from tests.realworld.compare import Expected, data_root, expected_fields, load_expected

# expected.toml's rule classes -> the registry codes that report them. A class with no code yet
# maps to (): every finding of it counts as missed until a rule reports it.
RULE_CODES: dict[str, tuple[str, ...]] = {
    "requirements-not-installed": ("LA104",),
    "parent-package-replaced": ("LA110",),
    "cuda-wheels-newer-than-base": ("LA502",),
    "build-sources-disagree": ("LA113",),
    "unknown-extra": ("LA325",),
    "lock-not-used": ("LA208",),
    "requirements-copy-drift": ("LA215",),
    "needs-build": ("LA310",),
    "remote-requirements": ("LA214",),
}

# Requirement files the workspace model reads as requirement files (uv.lock and pyproject.toml
# of expected.toml's `requirements` are what `uv sync` / `pip install .` read: not declared).
_REQUIREMENT_SUFFIXES = (".txt", ".in")


@dataclass(frozen=True)
class Match:
    entry: dict[str, Any]
    found: tuple[Finding, ...]  # findings that report it (empty: missed)
    near: tuple[Finding, ...] = ()  # other findings at the same file:line (for the reader)


@dataclass
class Precision:
    repo: str
    expected: list[Match] = field(default_factory=list)
    non_defects: list[Match] = field(default_factory=list)  # found: reported at warning+
    findings: tuple[Finding, ...] = ()  # audit's, after tuning
    checks: tuple[Finding, ...] = ()  # check's
    error: str | None = None

    @property
    def found(self) -> int:
        return sum(1 for m in self.expected if m.found)

    @property
    def missed(self) -> list[Match]:
        return [m for m in self.expected if not m.found]

    @property
    def false_positives(self) -> list[Match]:
        return [m for m in self.non_defects if m.found]

    @property
    def shown(self) -> int:
        """Audit findings the text output shows by default (infos hidden)."""
        return sum(1 for f in self.findings if f.severity is not Severity.INFO)


def workspace_table(expected: Expected, tree: Path) -> dict[str, Any]:
    """A ``[tool.lockaudit]`` table describing expected.toml's image graph."""
    keys = {}
    for image in expected.images:
        fields = expected_fields(image)
        keys.setdefault(fields["name"], _key(fields))
        keys[_key(fields)] = _key(fields)
    images = [_image(expected_fields(image), image, keys, tree) for image in expected.images]
    imaged = {image["dockerfile"] for image in expected.images}
    excludes = [
        {"path": path, "reason": "not an image of expected.toml"}
        for path in expected.dockerfiles()
        if path not in imaged
    ]
    return {
        "registry": "",
        "locks": "locks",
        "pylock": False,
        "images": images,
        **({"exclude": excludes} if excludes else {}),
    }


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _key(fields: dict[str, Any]) -> str:
    return f"{fields['name']}:{_first(fields['tag']) or 'latest'}"


def _image(
    fields: dict[str, Any], raw: dict[str, Any], keys: dict[str, str], tree: Path
) -> dict[str, Any]:
    variant = _first(fields["variant"])
    base = str(_first(fields["base"]) or "")
    target: dict[str, str] = {}
    version = str(_first(fields["python_version"]) or "") if fields["python"] else ""
    if version.count(".") >= 1:  # "3" alone says no minor: the workspace default stands
        target["python"] = _full(version)
    if variant == "cuda" and fields["cuda"]:
        target["cuda"] = str(_first(fields["cuda"]))
    table: dict[str, Any] = {
        "name": fields["name"],
        "tag": _first(fields["tag"]) or "latest",
        "dockerfile": raw["dockerfile"],
        "context": fields["context"],
        "variant": "cuda" if variant == "cuda" else "cpu",
        "python": bool(fields["python"]),
        "requirements": [
            r for r in fields["requirements"]
            if r.endswith(_REQUIREMENT_SUFFIXES) and (tree / r).is_file()
        ],
    }
    if fields["parent"]:
        table["parent"] = keys[fields["parent"]]
    else:
        table["base-image"] = base
    if target:
        table["target"] = target
    return table


def _full(version: str) -> str:
    parts = version.split(".")
    return ".".join([*parts, *["0"] * (3 - len(parts))][:3])


@contextmanager
def corpus_workspace(repo: str) -> Iterator[Path]:
    """A scratch copy of the repository's trimmed files with the true graph as its config."""
    expected = load_expected(repo)
    tree = data_root() / repo
    with tempfile.TemporaryDirectory(prefix=f"{repo}-") as scratch:
        root = Path(scratch) / repo
        shutil.copytree(tree, root)
        pyproject = root / "pyproject.toml"
        doc = tomlkit.parse(pyproject.read_text(encoding="utf-8")) if pyproject.is_file() else (
            tomlkit.document()
        )
        tool = doc.setdefault("tool", tomlkit.table())
        tool["lockaudit"] = workspace_table(expected, root)
        pyproject.write_text(tomlkit.dumps(doc), encoding="utf-8")
        yield root


def measure_precision(repo: str, *, offline: bool = False) -> Precision:
    """Check and audit ``repo``'s true graph; pair the findings with expected.toml's lists."""
    from lockaudit.audit import audit_workspace
    from lockaudit.errors import LockauditError
    from lockaudit.report.sources import open_sources
    from lockaudit.rules.runner import run_checks
    from lockaudit.workspace.config import load_workspace

    expected = load_expected(repo)
    result = Precision(repo)
    with corpus_workspace(repo) as root:
        try:
            workspace = load_workspace(root)
            result.checks = run_checks(workspace)
            with open_sources(workspace, offline=offline) as (client, vulns):
                result.findings = audit_workspace(workspace, client, vulns=vulns).findings
        except LockauditError as error:
            result.error = str(error)
    every = (*result.findings, *result.checks)
    result.expected = [_match(entry, every, RULE_CODES[entry["rule"]]) for entry in
                       expected.findings]
    loud = tuple(f for f in every if f.severity is not Severity.INFO)
    result.non_defects = [_match(entry, loud, None) for entry in expected.non_defects]
    return result


def _match(entry: dict[str, Any], findings: Sequence[Finding], codes: tuple[str, ...] | None
           ) -> Match:
    where = entry["where"]
    # a finding grouped by cause names the other places in ``related``: each one is reported
    here = tuple(f for f in findings
                 if any(_at(location, where) for location in (f.location, *f.related)))
    if codes is None:  # a non-defect: anything loud at its place
        return Match(entry, here)
    hit = tuple(f for f in here if f.code in codes)
    return Match(entry, hit, tuple(f for f in here if f not in hit))


def _at(location: Location, where: str) -> bool:
    return str(location) == where or (location.line == 0 and f"{location.path}:1" == where)


def render_precision(result: Precision) -> str:
    lines = [f"{result.repo}: expected {len(result.expected)}, found {result.found}, "
             f"false positives {len(result.false_positives)}, shown {result.shown}"]
    if result.error:
        lines.append(f"  error: {result.error}")
    for match in result.missed:
        entry = match.entry
        near = ", ".join(f"{f.code or f.rule}" for f in match.near)
        lines.append(f"  - missed {entry['where']} [{entry['rule']}]"
                     + (f" (there: {near})" if near else "") + f": {entry['summary'][:100]}")
    for match in result.false_positives:
        for finding in match.found:
            lines.append(f"  - false positive {finding.location} {finding.code or finding.rule}: "
                         f"{finding.message[:100]}")
    return "\n".join(lines)
