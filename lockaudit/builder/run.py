"""``lockaudit build``'s core: gate, plan, build, push, smoke; returns a :class:`BuildReport`.

Order of work, and why:

1. **Gate** (unless ``--no-gate``): ``lockaudit.rules.run_checks``. Any finding at error
   severity (stale or missing locks among them) refuses the build: building from locks that do
   not match their inputs would bake the drift into images.
2. **Look** at what the engine has (``docker image inspect``: read-only, also in a dry run; no
   engine answering means every image counts as absent).
3. **Plan** (pure, :func:`lockaudit.builder.plan.plan_build`).
4. **Prepare** the backend's commands (writes the bake file). A dry run stops here: it has
   printed the plan and the exact commands, written the bake file, and touched nothing else.
5. **Build**, then ``docker push`` each built or up-to-date image when asked, then the smoke
   step on each image built.
6. **Record** each built image's size with its lock's digest in ``reports/sizes.jsonl``
   (:mod:`lockaudit.sizelog`; ``--no-record-sizes`` skips it). Up-to-date images
   are not recorded again: nothing about them changed.

A refused gate in a dry run still plans and prints, so the user sees what would be built; the
report's ``refused`` tells the CLI to exit 1 either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lockaudit.builder.backends import (
    BuildBackend,
    BuildOutcome,
    BuildReporter,
    BuildStatus,
    BuildxBake,
    DockerBuild,
)
from lockaudit.builder.plan import (
    INPUTS_LABEL,
    Backend,
    BuildOptions,
    BuildPlan,
    BuildStep,
    builder_name,
    image_ref,
    plan_build,
    select_images,
)
from lockaudit.builder.runner import (
    Command,
    ImageState,
    Runner,
    SubprocessRunner,
    engine_version,
    inspect_image,
)
from lockaudit.builder.sizes import measure
from lockaudit.builder.smoke import SmokeResult, layer_distributions, run_smoke, smoke_findings
from lockaudit.errors import LockauditError
from lockaudit.rules.findings import Finding, Severity
from lockaudit.sizelog import SizeRecord, append_records
from lockaudit.workspace.inputs import Inputs, as_inputs
from lockaudit.workspace.model import Workspace

__all__ = ["BuildReport", "make_backend", "run_build"]


@dataclass(frozen=True)
class BuildReport:
    """Everything ``lockaudit build`` did or would do, for the renderer.

    ``gate_ran`` is False with ``--no-gate``. ``outcomes`` lists skipped images first, then one
    outcome per step; it is empty in a dry run and when the gate refused.
    """

    backend: Backend
    dry_run: bool
    gate_ran: bool
    gate_findings: tuple[Finding, ...]
    plan: BuildPlan
    commands: tuple[Command, ...]
    outcomes: tuple[BuildOutcome, ...] = ()
    smoke: tuple[SmokeResult, ...] = ()
    # what the smoke step found, at the requirement lines (``import-fails``)
    findings: tuple[Finding, ...] = ()
    bake_file: str | None = None
    engine: str | None = None
    builder: str | None = None
    sizes: tuple[SizeRecord, ...] = ()
    sizes_log: str | None = None  # where ``sizes`` were appended

    @property
    def gate_errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.gate_findings if f.severity is Severity.ERROR)

    @property
    def refused(self) -> bool:
        return self.gate_ran and bool(self.gate_errors)

    @property
    def ok(self) -> bool:
        """No refusal, no failed or blocked image, no failed smoke step."""
        bad = {BuildStatus.FAILED, BuildStatus.BLOCKED}
        return (
            not self.refused
            and not any(o.status in bad for o in self.outcomes)
            and all(s.ok for s in self.smoke)
        )

    def count(self, status: BuildStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend.value,
            "dry_run": self.dry_run,
            "engine": self.engine,
            "builder": self.builder,
            "gate": {
                "ran": self.gate_ran,
                "refused": self.refused,
                "findings": [f.as_json() for f in self.gate_errors],
            },
            "plan": [_step_json(s, "build") for s in self.plan.steps]
            + [_step_json(s, "skip") for s in self.plan.skipped],
            "commands": [str(c) for c in self.commands],
            "bake_file": self.bake_file,
            "outcomes": [_outcome_json(o) for o in self.outcomes],
            "smoke": [_smoke_json(s) for s in self.smoke],
            "findings": [f.as_json() for f in self.findings],
            "sizes_log": self.sizes_log,
            "sizes": [record.as_json() for record in self.sizes],
            "ok": self.ok,
        }


def _step_json(step: BuildStep, action: str) -> dict[str, Any]:
    return {
        "image": step.image_key,
        "action": action,
        "ref": step.ref,
        "reason": step.reason,
        "dockerfile": step.dockerfile,
        "context": step.context,
        "build_args": dict(step.build_args),
        "labels": dict(step.labels),
        "parent_ref": step.parent_ref,
        "platform": step.platform,
        "cache_from": list(step.cache_from),
        "cache_to": list(step.cache_to),
    }


def _outcome_json(outcome: BuildOutcome) -> dict[str, Any]:
    return {
        "image": outcome.image_key,
        "status": outcome.status.value,
        "seconds": round(outcome.seconds, 1),
        "size_bytes": outcome.size_bytes,
        "message": outcome.message,
    }


def _smoke_json(result: SmokeResult) -> dict[str, Any]:
    return {
        "image": result.image_key,
        "ok": result.ok,
        "imported": list(result.imported),
        "failures": [vars(f) for f in result.failures],
        "missing": list(result.missing),
        "message": result.message,
    }


def make_backend(workspace: Workspace, options: BuildOptions) -> BuildBackend:
    if options.backend is Backend.BAKE:
        return BuildxBake(
            workspace.root,
            bake_file=options.bake_file,
            network=options.network,
            extra_build_args=options.extra_build_args,
            builder=builder_name(workspace, options),
        )
    return DockerBuild(
        workspace.root,
        network=options.network,
        extra_build_args=options.extra_build_args,
        builder=builder_name(workspace, options),
    )


def run_build(
    given: Inputs | Workspace,
    options: BuildOptions,
    *,
    runner: Runner | None = None,
    reporter: BuildReporter | None = None,
    now: datetime | None = None,
) -> BuildReport:
    """Gate, plan and (unless ``options.dry_run``) build; see the module docstring."""
    inputs = as_inputs(given)
    workspace = inputs.workspace
    runner = runner or SubprocessRunner()
    reporter = reporter or BuildReporter()
    select_images(workspace, options.stages, options.variant)  # bad --stage: fail before work
    findings = _gate(inputs) if options.gate else ()
    engine = engine_version(runner)
    plan = plan_build(inputs, options, _existing(workspace, options, runner, engine))
    backend = make_backend(workspace, options)
    report = BuildReport(
        backend=options.backend,
        dry_run=options.dry_run,
        gate_ran=options.gate,
        gate_findings=findings,
        plan=plan,
        commands=(),
        engine=engine,
        builder=builder_name(workspace, options),
    )
    if report.refused and not options.dry_run:
        return report
    commands = backend.prepare(plan)
    report = replace(
        report,
        commands=commands + (_push_commands(plan) if options.push else ()),
        bake_file=options.bake_file if options.backend is Backend.BAKE and commands else None,
    )
    if options.dry_run:
        return report
    if engine is None:
        raise LockauditError(
            "no Docker engine answers (`docker version` cannot reach a server)",
            hint="start the Docker daemon, or use --dry-run to see the plan and commands",
        )
    if report.builder:
        _require_builder(runner, report.builder, plan)
    reporter.planned(plan)
    outcomes = _skipped(plan, runner) + backend.build(plan, runner, reporter)
    if options.push:
        outcomes = _push(outcomes, plan, runner)
    smoke = _smoke(inputs, plan, outcomes, runner) if options.smoke else ()
    findings = tuple(
        finding
        for result in smoke
        for finding in smoke_findings(inputs, inputs.workspace.image(result.image_key), result)
    )
    report = replace(report, outcomes=outcomes, smoke=smoke, findings=findings)
    if options.record_sizes:
        report = _record_sizes(inputs, options, report, runner, now or datetime.now(UTC))
    return report


def _record_sizes(
    inputs: Inputs, options: BuildOptions, report: BuildReport, runner: Runner, now: datetime
) -> BuildReport:
    """Measure every image built now and append the records (module docstring, step 6)."""
    built_at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = []
    for outcome in report.outcomes:
        if outcome.status is BuildStatus.BUILT:
            image = inputs.workspace.image(outcome.image_key)
            step = report.plan.step(outcome.image_key)
            record = measure(runner, inputs, image, step, built_at)
            if record is not None:
                records.append(record)
    if not records:
        return report
    append_records(inputs.workspace.path(options.sizes_log), records)
    return replace(report, sizes=tuple(records), sizes_log=options.sizes_log)


def _require_builder(runner: Runner, name: str, plan: BuildPlan) -> None:
    """Fail before any build when ``name`` cannot build the plan: buildx knows no such
    builder, it is another Docker context's own (buildx takes those only through the
    context), or it cannot build a platform the locks target."""
    result = runner.run(Command(("docker", "buildx", "inspect", name)))
    if not result.ok:
        raise LockauditError(
            f"no buildx builder {name!r} answers: {result.tail(3)}",
            hint="`docker buildx ls` lists the builders; "
            "`docker buildx create --name NAME ...` makes one",
        )
    fields = _inspect_fields(result.output)
    current = runner.run(Command(("docker", "context", "show"))).output.strip()
    if fields.get("driver") == "docker" and name not in ("default", current):
        raise LockauditError(
            f"buildx builder {name!r} is the engine of Docker context {name!r}: buildx builds "
            "on it only from that context",
            hint=f"run `DOCKER_CONTEXT={name} lockaudit build ...` (without --builder)",
        )
    offered = {p.strip() for p in fields.get("platforms", "").split(",") if p.strip()}
    missing = sorted({step.platform for step in plan.steps} - offered)
    if offered and missing:
        raise LockauditError(
            f"buildx builder {name!r} cannot build {', '.join(missing)}, the platform of the "
            f"locks (it builds {', '.join(sorted(offered))})",
            hint="use a builder of that platform, or register QEMU emulation for it (binfmt_misc)",
        )


def _inspect_fields(output: str) -> dict[str, str]:
    """``Driver:`` and the first node's ``Platforms:`` of ``docker buildx inspect``."""
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key in ("driver", "platforms") and key not in fields:
            fields[key] = value.strip()
    return fields


def _gate(inputs: Inputs) -> tuple[Finding, ...]:
    from lockaudit.rules import run_checks  # imported late: the rules load every parser

    return tuple(run_checks(inputs))


def _existing(
    workspace: Workspace, options: BuildOptions, runner: Runner, engine: str | None
) -> dict[str, ImageState]:
    """What the engine has of every image the plan may touch, and of the external bases."""
    if engine is None:
        return {}
    selected = select_images(workspace, options.stages, options.variant)
    images = {a.key: a for i in selected for a in (*workspace.ancestors(i.key), i)}
    refs = [image_ref(workspace, image) for image in images.values()]
    refs += [i.base_image for i in images.values() if i.base_image]
    states = (inspect_image(runner, ref, label=INPUTS_LABEL) for ref in dict.fromkeys(refs))
    return {state.ref: state for state in states if state is not None}


def _skipped(plan: BuildPlan, runner: Runner) -> tuple[BuildOutcome, ...]:
    outcomes = []
    for step in plan.skipped:
        state = inspect_image(runner, step.ref, label=INPUTS_LABEL)
        size = state.size_bytes if state else None
        outcomes.append(BuildOutcome(step.image_key, BuildStatus.SKIPPED, 0.0, size, "up to date"))
    return tuple(outcomes)


def _push_targets(plan: BuildPlan, outcomes: Iterable[BuildOutcome] | None = None) -> list[str]:
    if outcomes is None:
        return [s.image_key for s in (*plan.skipped, *plan.steps)]
    good = {BuildStatus.BUILT, BuildStatus.SKIPPED}
    return [o.image_key for o in outcomes if o.status in good]


def _push_commands(plan: BuildPlan) -> tuple[Command, ...]:
    return tuple(_push_command(plan, key) for key in _push_targets(plan))


def _push_command(plan: BuildPlan, key: str) -> Command:
    return Command(("docker", "push", plan.step(key).ref))


def _push(
    outcomes: tuple[BuildOutcome, ...], plan: BuildPlan, runner: Runner
) -> tuple[BuildOutcome, ...]:
    """Push every image that is now good; a failed push turns its outcome into a failure."""
    pushed: list[BuildOutcome] = []
    targets = set(_push_targets(plan, outcomes))
    for outcome in outcomes:
        if outcome.image_key in targets:
            result = runner.run(_push_command(plan, outcome.image_key))
            if not result.ok:
                outcome = replace(
                    outcome,
                    status=BuildStatus.FAILED,
                    message=f"{outcome.status.value}, but the push failed:\n{result.tail()}",
                )
        pushed.append(outcome)
    return tuple(pushed)


def _smoke(
    inputs: Inputs, plan: BuildPlan, outcomes: Iterable[BuildOutcome], runner: Runner
) -> tuple[SmokeResult, ...]:
    workspace = inputs.workspace
    results = []
    for outcome in outcomes:
        if outcome.status is not BuildStatus.BUILT:
            continue
        image = workspace.image(outcome.image_key)
        if not image.python:
            continue  # `python = false`: no interpreter to import anything with
        ref = plan.step(outcome.image_key).ref
        results.append(run_smoke(runner, image.key, ref, layer_distributions(inputs, image)))
    return tuple(results)
