"""``check``: run the selected rules over one :class:`~lockaudit.rules.context.CheckContext`."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lockaudit.errors import LockauditError
from lockaudit.rules import Rule, matches, registered_rules, selects_any
from lockaudit.rules.context import CheckContext
from lockaudit.rules.findings import Finding
from lockaudit.rules.ignores import UNUSED_IGNORE, apply_ignores, workspace_ignores
from lockaudit.workspace.inputs import Inputs
from lockaudit.workspace.model import Workspace

__all__ = ["CheckResult", "check_workspace", "run_checks"]


@dataclass(frozen=True)
class CheckResult:
    findings: tuple[Finding, ...]  # worst first, unused inline ignores included
    ignored: tuple[Finding, ...] = ()  # silenced by an inline ignore


def run_checks(
    workspace: Inputs | Workspace,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
) -> tuple[Finding, ...]:
    """The findings of :func:`check_workspace`."""
    return check_workspace(workspace, select=select, ignore=ignore).findings


def check_workspace(
    workspace: Inputs | Workspace,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
) -> CheckResult:
    """Run the selected rules over ``workspace``, then its inline ignores; worst first.

    ``select`` keeps only the rules these selectors name (all when None); ``ignore`` drops the
    rules they name (codes, code prefixes, names or name prefixes). A selector that names no
    rule is a usage error, so a typo never silently disables a check. ``unused-ignore``
    (LA902) is selected like a rule.
    """
    chosen = list(select) if select is not None else None
    dropped = list(ignore or ())
    rules = _selected(registered_rules(), chosen, dropped)
    with _collector_paused():
        ctx = CheckContext.load(workspace)
        found = {finding for selected in rules for finding in selected(ctx)}
        ignores = workspace_ignores(ctx)
    applied = apply_ignores(sorted(found, key=_order), ignores, rules)
    wanted = (chosen is None or matches(UNUSED_IGNORE, chosen)) and not matches(
        UNUSED_IGNORE, dropped
    )
    kept = [f for f in applied.kept if wanted or f.rule != UNUSED_IGNORE.id]
    return CheckResult(tuple(sorted(kept, key=_order)), applied.silenced)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a check runs.

    A check builds a few hundred thousand small objects (parsed locks, requirement lines) that
    all live until it ends and form no cycles: the collector would only scan them again and
    again (a tenth of the run on a 200-image workspace). Reference counting still frees the rest.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Age them straight into the oldest generation (freeze, then unfreeze): enabling the
        # collector would otherwise scan every one of them at the next allocation.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _order(finding: Finding) -> tuple[tuple[int, str, str, int, str], str]:
    return (finding.sort_key(), finding.message)


def _selected(
    rules: tuple[Rule[CheckContext, Finding], ...],
    select: Iterable[str] | None,
    ignore: Iterable[str] | None,
) -> tuple[Rule[CheckContext, Finding], ...]:
    chosen = list(select) if select is not None else None
    dropped = list(ignore or ())
    known = (*rules, UNUSED_IGNORE)
    unknown = [s for s in (*(chosen or ()), *dropped) if not selects_any(s, known)]
    if unknown:
        listing = sorted(f"{r.code} {r.id}".strip() for r in known)
        raise LockauditError(
            f"unknown rule id {unknown[0]!r}", hint="known rules: " + ", ".join(listing)
        )
    return tuple(
        r for r in rules if (chosen is None or matches(r, chosen)) and not matches(r, dropped)
    )
