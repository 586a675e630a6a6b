"""Text and JSON for a :class:`~lockaudit.builder.run.BuildReport`.

Printing goes through :mod:`lockaudit.render`'s console and JSON helpers (the one place rich
is imported); text is printed with markup off, so image names and logs are shown verbatim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockaudit import render
from lockaudit.builder.backends import BuildOutcome, BuildStatus
from lockaudit.builder.run import BuildReport
from lockaudit.render import Format

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["build_lines", "render_build"]

_ORDER = (BuildStatus.BUILT, BuildStatus.SKIPPED, BuildStatus.FAILED, BuildStatus.BLOCKED)


def render_build(report: BuildReport, fmt: Format, *, out: Console | None = None) -> None:
    """Print the report: the gate, the plan, the commands (dry run) or the summary."""
    if fmt is Format.JSON:
        render.emit_json(report.as_json())
        return
    out = out or render.console()
    for line in build_lines(report):
        out.print(line, markup=False, highlight=False)


def build_lines(report: BuildReport) -> list[str]:
    """The text report as lines (tested directly: no terminal needed)."""
    lines = _gate_lines(report)
    lines += _plan_lines(report)
    if report.dry_run or report.refused:
        lines += ["commands:", *(f"  $ {c}" for c in report.commands)] if report.commands else []
        if report.bake_file:
            lines.append(f"bake file written: {report.bake_file}")
        if report.refused:
            lines.append("build refused: the gate found errors (fix them, or pass --no-gate)")
        return lines
    lines += _summary_lines(report)
    lines += _smoke_lines(report)
    if report.sizes_log:
        lines.append(f"sizes of {len(report.sizes)} images appended to {report.sizes_log}")
    return lines


def _gate_lines(report: BuildReport) -> list[str]:
    if not report.gate_ran:
        return ["gate: skipped (--no-gate)"]
    errors = report.gate_errors
    if not errors:
        return ["gate: passed"]
    lines = [f"gate: FAILED, {len(errors)} error{'s' if len(errors) != 1 else ''}"]
    for finding in errors:
        lines.append(f"  {finding.location} {finding.rule}: {finding.message}")
    return lines


def _plan_lines(report: BuildReport) -> list[str]:
    plan = report.plan
    on = f" on builder {report.builder}" if report.builder else ""
    head = (
        f"plan ({report.backend.value}{on}): {len(plan.steps)} to build, "
        f"{len(plan.skipped)} up to date"
    )
    lines = [head]
    for number, step in enumerate(plan.steps, start=1):
        lines.append(f"  {number}. {step.image_key}  {step.ref}  {step.platform}  ({step.reason})")
    lines += [f"  -  {step.image_key}  {step.ref}  (up to date)" for step in plan.skipped]
    return lines


def _summary_lines(report: BuildReport) -> list[str]:
    lines = ["summary:"]
    for outcome in sorted(report.outcomes, key=lambda o: _ORDER.index(o.status)):
        lines.append("  " + _outcome_line(outcome))
        if outcome.status is BuildStatus.FAILED and outcome.message:
            lines += [f"      {text}" for text in outcome.message.splitlines()]
    counts = ", ".join(f"{report.count(s)} {s.value}" for s in _ORDER)
    total = sum(o.seconds for o in report.outcomes if o.status is not BuildStatus.SKIPPED)
    lines.append(f"{counts} ({total:.1f} s of building)")
    return lines


def _outcome_line(outcome: BuildOutcome) -> str:
    size = _size(outcome.size_bytes) if outcome.size_bytes is not None else "-"
    note = "" if outcome.status is BuildStatus.FAILED else outcome.message
    text = f"{outcome.status.value:<8} {outcome.image_key:<24} {outcome.seconds:7.1f} s  {size:>9}"
    return f"{text}  {note}".rstrip()


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _smoke_lines(report: BuildReport) -> list[str]:
    lines = []
    for result in report.smoke:
        if result.ok:
            lines.append(f"smoke {result.image_key}: {len(result.imported)} modules imported")
            continue
        lines.append(f"smoke {result.image_key}: FAILED")
        lines += [f"  {line}" for line in result.message.splitlines()]
        for finding in report.findings:
            if finding.image == result.image_key:
                head = f"{finding.location} {finding.code} {finding.rule}"
                lines.append(f"  {head}: {finding.message}")
                lines += [f"     hint: {finding.hint}"] if finding.hint else []
    return lines
