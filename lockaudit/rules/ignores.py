"""Inline ignores: ``# lockaudit: ignore[CODE,...] reason`` where the finding is.

Two places, as hadolint and ruff put them:

* a comment line directly above a Dockerfile instruction (a block of comment lines directly
  above counts too): it silences findings on any line of that instruction, continuations
  included;
* the end of a line of a requirements, constraints or ``versions.txt`` file: it silences
  findings on that line.

Selectors are codes (``LA302``) or names (``shell-redirect``), or prefixes of either,
comma-separated; the reason after ``]`` is for the reader. An ignore that silences nothing is
reported as ``unused-ignore`` (an info), so a stale one does not hide the next problem: one
whose selectors name no rule at all, or one that is not where it can apply (a Dockerfile
comment not above an instruction). An ignore is judged only by a command whose rules it names
(``check`` does not call an audit code unused, and the reverse).

Decisions: generated files (the locks directory) are never read for ignores; a file is read
only when its text contains ``lockaudit:``, so a workspace without ignores pays one read of
each small file per cold ``check``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockaudit.errors import Location
from lockaudit.parsing.dockerfile import Dockerfile
from lockaudit.rules import RuleSpec, matches, register_spec, selects_any
from lockaudit.rules.context import CheckContext, distinct_dockerfiles
from lockaudit.rules.findings import Finding, Severity

__all__ = [
    "UNUSED_IGNORE",
    "Ignored",
    "InlineIgnore",
    "apply_ignores",
    "counts",
    "find_ignores",
    "workspace_ignores",
]

UNUSED_IGNORE = register_spec(
    RuleSpec(
        "unused-ignore",
        Severity.INFO,
        "an inline lockaudit: ignore[...] comment that silences nothing",
        code="LA902",
        command="check and audit",
    )
)

_MARK = re.compile(r"#\s*lockaudit:\s*ignore\[([^\]]*)\]\s*(.*)$")
_COMMENT = re.compile(r"^\s*#")


@dataclass(frozen=True)
class InlineIgnore:
    """One ignore comment: where it is written, which lines it covers, what it names."""

    location: Location  # the comment itself
    lines: tuple[int, int]  # first and last line it covers (0, -1: covers nothing)
    selectors: tuple[str, ...]
    reason: str
    problem: str | None = None  # why it cannot apply where it is written

    def covers(self, finding: Finding) -> bool:
        place = finding.location
        first, last = self.lines
        return (
            place.path == self.location.path
            and first <= place.line <= last
            and matches(finding, self.selectors)
        )


@dataclass(frozen=True)
class Ignored:
    """What applying the ignores did: the findings kept, those silenced, the unused ignores."""

    kept: tuple[Finding, ...]
    silenced: tuple[Finding, ...]


def find_ignores(
    root: Path,
    dockerfiles: Iterable[tuple[str, Dockerfile]],
    line_files: Iterable[str],
) -> tuple[InlineIgnore, ...]:
    """Every inline ignore of these Dockerfiles (path, parsed) and requirement-like files."""
    found: list[InlineIgnore] = []
    seen: set[str] = set()
    for path, dockerfile in dockerfiles:
        if path not in seen:
            seen.add(path)
            found.extend(_dockerfile_ignores(path, _lines(root, path), dockerfile))
    for path in line_files:
        if path not in seen:
            seen.add(path)
            found.extend(_line_ignores(path, _lines(root, path)))
    return tuple(found)


def workspace_ignores(ctx: CheckContext) -> tuple[InlineIgnore, ...]:
    """The ignores of every Dockerfile and every hand-written requirement-like file of ``ctx``."""
    files = [path for path in ctx.requirement_files if not ctx.is_lock(path)]
    if ctx.versions is not None:
        files.append(ctx.versions.path)
    dockerfiles = [(image.dockerfile, parsed) for image, parsed in distinct_dockerfiles(ctx)]
    return find_ignores(ctx.workspace.root, dockerfiles, files)


def apply_ignores(
    findings: Sequence[Finding],
    ignores: Sequence[InlineIgnore],
    rules: Sequence[RuleSpec],
) -> Ignored:
    """Drop the findings an ignore covers; add an ``unused-ignore`` for each that covers none.

    ``rules`` are the rules that ran: an ignore naming none of them is not judged here.
    """
    used: set[InlineIgnore] = set()
    kept: list[Finding] = []
    silenced: list[Finding] = []
    for finding in findings:
        hit = next((i for i in ignores if i.covers(finding)), None)
        if hit is None:
            kept.append(finding)
        else:
            used.add(hit)
            silenced.append(finding)
    for ignore in ignores:
        if ignore in used:
            continue
        ours = any(selects_any(s, rules) for s in ignore.selectors)
        unknown = [s for s in ignore.selectors if not selects_any(s, (*rules, *_known_rules()))]
        if unknown:
            why = f"{', '.join(unknown)} names no rule"
        elif ignore.problem:
            why = ignore.problem
        elif ours:
            why = "nothing it names is reported here"
        else:
            continue  # another command's rules: that command judges it
        kept.append(
            UNUSED_IGNORE.finding(
                f"lockaudit: ignore[{', '.join(ignore.selectors)}] silences nothing: {why}",
                ignore.location,
                hint="delete the comment (or fix its code)",
            )
        )
    return Ignored(tuple(kept), tuple(silenced))


def counts(silenced: Iterable[Finding]) -> str:
    """``LA302 2, LA110 1``: the silenced findings per code, most first ("" when none)."""
    tally = Counter(f.code or f.rule for f in silenced)
    ordered = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{code} {n}" for code, n in ordered)


def _known_rules() -> tuple[RuleSpec, ...]:
    """Every rule of every command: loads the audit's rule modules, so only asked for an
    unused ignore (a gate without one never imports the audit)."""
    from lockaudit.rules import rule_specs

    return rule_specs()


def _lines(root: Path, path: str) -> list[str]:
    try:
        text = (root / path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines() if "lockaudit:" in text else []


def _parse(text: str) -> tuple[tuple[str, ...], str] | None:
    match = _MARK.search(text)
    if match is None:
        return None
    selectors = tuple(part.strip() for part in match.group(1).split(",") if part.strip())
    return selectors, match.group(2).strip()


def _dockerfile_ignores(path: str, lines: list[str], dockerfile: Dockerfile) -> list[InlineIgnore]:
    if not lines:
        return []
    spans = {
        instruction.location.line: instruction.end_line
        for stage in dockerfile.stages
        for instruction in stage.instructions
    }
    for stage in dockerfile.stages:
        spans.setdefault(stage.from_line.location.line, stage.from_line.location.line)
    found: list[InlineIgnore] = []
    for index, text in enumerate(lines):
        if not _COMMENT.match(text):
            continue
        parsed = _parse(text)
        if parsed is None:
            continue
        below = index + 1
        while below < len(lines) and _COMMENT.match(lines[below]):
            below += 1  # a block of comments directly above the instruction
        start = below + 1  # 1-based line of the next non-comment line
        end = spans.get(start)
        location = Location(path, index + 1)
        if end is None:
            found.append(
                InlineIgnore(location, (0, -1), *parsed, "it is not directly above an instruction")
            )
        else:
            found.append(InlineIgnore(location, (start, max(end, start)), *parsed))
    return found


def _line_ignores(path: str, lines: list[str]) -> list[InlineIgnore]:
    found: list[InlineIgnore] = []
    for index, text in enumerate(lines):
        parsed = _parse(text)
        if parsed is None:
            continue
        location = Location(path, index + 1)
        if _COMMENT.match(text):
            problem = "in a requirements file it goes at the end of the line it silences"
            found.append(InlineIgnore(location, (0, -1), *parsed, problem))
        else:
            found.append(InlineIgnore(location, (index + 1, index + 1), *parsed))
    return found
