"""``lockaudit audit``: replay the images' ``pip install`` steps, then report what they do.

:func:`audit_workspace` replays every image in build order (:mod:`.replay`), runs the audit
rules over the result (:mod:`.rules`) and estimates sizes (:mod:`.sizes`). Renderers:
:func:`~lockaudit.audit.sarif.to_sarif` (code-scanning annotations) and
:func:`~lockaudit.audit.svg.hierarchy_svg` (the image hierarchy with sizes); JSON and text go
through ``lockaudit.render.findings`` like ``check``.

The audit never raises for what it finds: an unreachable index, a step that cannot be resolved,
a file it cannot trace are findings. Bad input (an unparsable Dockerfile line) raises
:class:`~lockaudit.errors.InputError`, as for ``check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lockaudit.audit import baserules, confusion, shellrules  # noqa: F401  (register their rules)
from lockaudit.audit.replay import (
    ImageReplay,
    Installed,
    LayerReplay,
    Replacement,
    ReplayReporter,
    Step,
    Unreachable,
    replay_workspace,
)
from lockaudit.audit.rules import AuditContext, Saving, audit_rules, run_audit_rules
from lockaudit.audit.sarif import to_sarif
from lockaudit.audit.sizes import SizeReport, format_bytes, format_tree, image_sizes
from lockaudit.audit.svg import hierarchy_svg
from lockaudit.audit.tuning import Tuning
from lockaudit.index.client import IndexClient
from lockaudit.index.vulns import VulnerabilityService
from lockaudit.rules.context import CheckContext
from lockaudit.rules.findings import SCHEMA_VERSION, Finding
from lockaudit.rules.ignores import UNUSED_IGNORE, apply_ignores, workspace_ignores
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Workspace

__all__ = [
    "AuditResult",
    "ImageReplay",
    "Installed",
    "LayerReplay",
    "Replacement",
    "ReplayReporter",
    "Saving",
    "SizeReport",
    "Step",
    "Tuning",
    "Unreachable",
    "audit_rules",
    "audit_workspace",
    "format_bytes",
    "format_tree",
    "hierarchy_svg",
    "image_sizes",
    "replay_workspace",
    "to_sarif",
]


if TYPE_CHECKING:
    from lockaudit.audit.rules import AuditRule

    AUDIT_RULES: tuple[AuditRule, ...]


def __getattr__(name: str) -> Any:
    # ``AUDIT_RULES``, the former list, for callers that still import it: the registry's
    # audit rules (every audit rule module's), read when asked.
    if name == "AUDIT_RULES":
        return audit_rules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class AuditResult:
    replays: tuple[ImageReplay, ...]  # build order
    findings: tuple[Finding, ...]  # worst first
    savings: tuple[Saving, ...]  # bytes a suggested fix saves, per finding
    sizes: SizeReport
    tuning: Tuning = field(default_factory=Tuning)  # how ``findings`` were selected, and what fails
    ignored: tuple[Finding, ...] = ()  # silenced by inline ignores (not in ``findings``)

    @property
    def failed(self) -> bool:
        """Exit code 1: any finding at or above ``fail-on`` (error by default, as ``check``)."""
        return self.tuning.fails(self.findings)

    def replay(self, image: str) -> ImageReplay:
        return next(r for r in self.replays if r.image == image)

    def as_json(self) -> dict[str, object]:
        """``check``'s ``findings`` schema, plus sizes and savings."""
        return {
            "schema_version": SCHEMA_VERSION,
            "findings": [f.as_json() for f in self.findings],
            "ignored_inline": [f.as_json() for f in self.ignored],
            "sizes": self.sizes.as_json(),
            "savings": [
                {
                    "code": s.finding.code or None,
                    "rule": s.finding.rule,
                    "image": s.finding.image,
                    "package": s.finding.package,
                    "location": str(s.finding.location),
                    "bytes": s.bytes,
                }
                for s in self.savings
            ],
        }


def audit_workspace(
    given: Inputs | Workspace,
    client: IndexClient,
    *,
    vulns: VulnerabilityService | None = None,
    reporter: ReplayReporter | None = None,
    tuning: Tuning | None = None,
) -> AuditResult:
    """Replay, audit and size every image of ``workspace`` (see the module docstring).

    ``tuning`` selects and re-ranks the findings; by default ``[tool.lockaudit.audit]``'s.
    Savings follow the findings they belong to.
    """
    inputs = as_inputs(given)
    workspace = inputs.workspace
    tuning = tuning or Tuning.of(workspace, (*audit_rules(), UNUSED_IGNORE))
    check = CheckContext.load(inputs)
    replays = replay_workspace(inputs, client, ctx=check, reporter=reporter)
    ctx = AuditContext(
        workspace=check.workspace,  # without the images whose Dockerfile cannot be parsed
        check=check,
        replays={replay.image: replay for replay in replays},
        source=client,
        vulns=vulns,
    )
    raw, raw_savings = run_audit_rules(ctx)
    # inline ignores apply to what the tuning keeps; the unused-ignore infos they add are
    # selected like any rule's findings
    active = tuple(r for r in audit_rules() if tuning.selects(r))
    applied = apply_ignores(tuning.apply(raw), workspace_ignores(check), active)
    findings = tuning.apply(applied.kept)
    kept = {(f.rule, f.location, f.image, f.package, f.message): f for f in findings}
    savings = tuple(
        Saving(kept[key], s.bytes)
        for s in raw_savings
        if (
            key := (
                s.finding.rule,
                s.finding.location,
                s.finding.image,
                s.finding.package,
                s.finding.message,
            )
        )
        in kept
    )
    return AuditResult(
        replays, findings, savings, image_sizes(replays), tuning, applied.silenced
    )
