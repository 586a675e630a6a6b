"""Tuning the audit like a linter: which rules run, how bad their findings are, what fails.

Sources, in order: ``[tool.lockaudit.audit]`` (:class:`~lockaudit.workspace.model.AuditSettings`),
then the command line. ``--select`` replaces the configured selection, ``--ignore`` adds to the
configured ignores (as ruff's ``--select``/``--extend-ignore``). A selector is a rule code
(``LA401``), a code prefix (``LA4``), a rule name or a prefix of one
(:func:`lockaudit.rules.matches`); a selector that names no rule is an input error, so a typo
never silently turns a rule off. A ``severity`` key is a code or a name.

Order of application: select, ignore, then severity overrides; ``fail-on`` is compared with
the overridden severity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from lockaudit.errors import InputError, Location, UsageError
from lockaudit.rules import RuleSpec, matches, selects_any
from lockaudit.rules.findings import Finding, Severity
from lockaudit.rules.ignores import counts as inline_counts
from lockaudit.workspace.model import AuditSettings, Workspace

__all__ = ["Tuning", "split_selectors", "summary_line"]


@dataclass(frozen=True)
class Tuning:
    select: tuple[str, ...] = ()  # empty: every rule
    ignore: tuple[str, ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()
    fail_on: Severity = Severity.ERROR

    @classmethod
    def of(
        cls,
        workspace: Workspace,
        rules: Iterable[RuleSpec],
        *,
        select: Sequence[str] = (),
        ignore: Sequence[str] = (),
        fail_on: Severity | None = None,
    ) -> Tuning:
        """The workspace's settings with the command line's on top; selectors are checked."""
        known = tuple(rules)
        settings = workspace.audit
        _check_config(settings, known, workspace.config_location.path)
        cli_select, cli_ignore = split_selectors(select), split_selectors(ignore)
        for selector in (*cli_select, *cli_ignore):
            if not selects_any(selector, known):
                raise UsageError(f"{selector!r} names no audit rule (known: {_listing(known)})")
        by_code = {spec.code: spec.id for spec in known if spec.code}
        return cls(
            select=cli_select or settings.select,
            ignore=(*settings.ignore, *cli_ignore),
            severity=tuple((by_code.get(key.upper(), key), s) for key, s in settings.severity),
            fail_on=fail_on or settings.fail_on,
        )

    def apply(self, findings: Iterable[Finding]) -> tuple[Finding, ...]:
        """The findings this tuning keeps, at their overridden severity, worst first."""
        overrides = dict(self.severity)
        kept = []
        for finding in findings:
            if self.select and not matches(finding, self.select):
                continue
            if matches(finding, self.ignore):
                continue
            severity = overrides.get(finding.rule, finding.severity)
            kept.append(replace(finding, severity=severity))
        return tuple(sorted(kept, key=lambda f: (f.sort_key(), f.message)))

    def selects(self, spec: RuleSpec) -> bool:
        """Whether this tuning runs the rule ``spec`` (its findings can be kept)."""
        return (not self.select or matches(spec, self.select)) and not matches(spec, self.ignore)

    def fails(self, findings: Iterable[Finding]) -> bool:
        return any(f.severity.rank <= self.fail_on.rank for f in findings)


def split_selectors(values: Sequence[str]) -> tuple[str, ...]:
    """Repeatable, comma-separated options (``--ignore a,b --ignore c``) as one tuple."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def summary_line(
    findings: Sequence[Finding], *, hidden_infos: int, ignored: Sequence[Finding] = ()
) -> str:
    """Counts per rule (code and name), most frequent first, how many infos were hidden, and
    what inline ignores silenced, per code."""
    counts = Counter(f"{f.code} {f.rule}".strip() for f in findings)
    parts = [f"{rule} {n}" for rule, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    line = "by rule: " + (", ".join(parts) or "none")
    if hidden_infos:
        line += f" ({hidden_infos} info{'s' if hidden_infos != 1 else ''} hidden: --show-info)"
    if ignored:
        line += f"; ignored inline: {inline_counts(ignored)}"
    return line + "\n"


def _listing(known: Sequence[RuleSpec]) -> str:
    return ", ".join(f"{spec.code} {spec.id}".strip() for spec in known)


def _check_config(settings: AuditSettings, known: Sequence[RuleSpec], path: str) -> None:
    lines = dict(settings.lines)
    exact = {rule for rule, _ in settings.severity}
    names = {spec.id for spec in known} | {spec.code for spec in known if spec.code}
    for name in (*settings.select, *settings.ignore, *sorted(exact)):
        if not (
            name in names or name.upper() in names if name in exact else selects_any(name, known)
        ):
            raise InputError(
                Location(path, lines.get(name, 1)),
                f"{name!r} in [tool.lockaudit.audit] names no audit rule",
                hint="known rules: " + _listing(known),
            )
