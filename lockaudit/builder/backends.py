"""Build backends: how a :class:`~lockaudit.builder.plan.BuildPlan` becomes images.

A backend has two methods (:class:`BuildBackend`): ``prepare`` returns the exact commands a
build starts with, writing any file they read (the bake file), and is all a dry run calls;
``build`` runs the plan through a :class:`~lockaudit.builder.runner.Runner` and returns one
:class:`BuildOutcome` per step.

* :class:`DockerBuild` runs ``docker build`` image by image, parents first.
* :class:`BuildxBake` writes ``docker-bake.json`` and runs one ``docker buildx bake``, so
  BuildKit builds independent stages in parallel.

Either way a failed image stops its dependents (``blocked``) and every other image finishes.
A single bake run cannot say which target failed, so after a failed bake each image is checked:
one the engine now has with the right inputs label is built; the others are baked one target
at a time in plan order (cheap: everything already built comes from the build cache), which
names the failing image and lets the independent ones finish.

Decisions:
* ``docker build`` stays the command while no builder and no cache is asked for (it is what
  every engine has). A named builder or a cache spec needs buildx: the command becomes
  ``docker buildx build --builder NAME ... --load``; ``--load`` puts the result in the local
  image store even when the builder runs elsewhere (a ``docker-container``, remote or
  Kubernetes builder keeps it in its own cache otherwise), so the next image's FROM, the size
  read-back and the smoke step find it. Bake gets ``--builder`` and ``--load`` the same way.
* Every build names its platform (``--platform``, bake's ``platforms``): the lock's.
* A bake's images share one wall time: each built image reports the bake's total seconds and
  says so in its message; per-target times are not observable from outside BuildKit.
* Sizes are read back with ``docker image inspect`` after a successful build.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from lockaudit.builder.bakefile import bake_definition, write_bakefile
from lockaudit.builder.plan import INPUTS_LABEL, BuildPlan, BuildStep
from lockaudit.builder.runner import Command, CommandResult, Runner, inspect_image

__all__ = [
    "BuildBackend",
    "BuildOutcome",
    "BuildReporter",
    "BuildStatus",
    "BuildxBake",
    "DockerBuild",
]


class BuildStatus(StrEnum):
    BUILT = "built"
    SKIPPED = "skipped"  # up to date: the engine has it with the same inputs digest
    FAILED = "failed"
    BLOCKED = "blocked"  # not attempted: an ancestor failed


@dataclass(frozen=True)
class BuildOutcome:
    image_key: str
    status: BuildStatus
    seconds: float = 0.0
    size_bytes: int | None = None
    message: str = ""


class BuildReporter:
    """Progress hooks; every one is a no-op here. The CLI subclasses it to print progress."""

    def planned(self, plan: BuildPlan) -> None:
        """The images about to be built (``plan.steps``), before the first command runs."""

    def starting(self, step: BuildStep, command: Command) -> None:
        """A command that builds ``step`` is about to run."""

    def finished(self, outcome: BuildOutcome) -> None:
        """``outcome`` is final for its image."""


class BuildBackend(Protocol):
    """One way of turning a plan into images."""

    def prepare(self, plan: BuildPlan) -> tuple[Command, ...]:
        """The commands ``build`` starts with; writes the files they read. No engine needed."""
        ...

    def build(
        self, plan: BuildPlan, runner: Runner, reporter: BuildReporter
    ) -> tuple[BuildOutcome, ...]:
        """Build every step; a failure blocks the failed image's dependents only."""
        ...


def _docker_build_command(
    step: BuildStep,
    root: Path,
    network: str | None,
    extra: tuple[tuple[str, str], ...],
    builder: str | None = None,
) -> Command:
    argv = ["docker", "build"]
    if builder or step.cache_from or step.cache_to:
        argv = ["docker", "buildx", "build", *(("--builder", builder) if builder else ()), "--load"]
    # a Dockerfile whose FROM the build writes is read from stdin: the file on disk is left
    # as it is
    inline = step.dockerfile_text is not None
    argv += ["--progress", "plain", "--file", "-" if inline else step.dockerfile]
    argv += ["--tag", step.ref, "--platform", step.platform]
    if step.stage:
        argv += ["--target", step.stage]
    for spec in step.cache_from:
        argv += ["--cache-from", spec]
    for spec in step.cache_to:
        argv += ["--cache-to", spec]
    if network:
        argv += ["--network", network]
    for name, value in (*step.build_args, *extra):
        argv += ["--build-arg", f"{name}={value}"]
    for name, value in step.labels:
        argv += ["--label", f"{name}={value}"]
    argv.append(step.context)
    return Command(tuple(argv), cwd=root, stdin=step.dockerfile_text)


def _blocked(step: BuildStep, failed: dict[str, str]) -> BuildOutcome | None:
    """BLOCKED when an ancestor did not get built; ``failed`` maps key -> root failure."""
    if step.parent_key is None or step.parent_key not in failed:
        return None
    cause = failed[step.parent_key]
    failed[step.image_key] = cause
    return BuildOutcome(step.image_key, BuildStatus.BLOCKED, message=f"not built: {cause} failed")


def _finish(
    step: BuildStep, result: CommandResult, runner: Runner, seconds: float | None = None
) -> BuildOutcome:
    elapsed = result.seconds if seconds is None else seconds
    if not result.ok:
        return BuildOutcome(
            step.image_key,
            BuildStatus.FAILED,
            seconds=elapsed,
            message=f"exit {result.returncode}:\n{result.tail()}",
        )
    state = inspect_image(runner, step.ref, label=INPUTS_LABEL)
    return BuildOutcome(
        step.image_key,
        BuildStatus.BUILT,
        seconds=elapsed,
        size_bytes=state.size_bytes if state else None,
    )


@dataclass(frozen=True)
class DockerBuild:
    """``docker build`` one image at a time, in plan order."""

    root: Path
    network: str | None = None
    extra_build_args: tuple[tuple[str, str], ...] = ()
    builder: str | None = None

    def command(self, step: BuildStep) -> Command:
        return _docker_build_command(
            step, self.root, self.network, self.extra_build_args, self.builder
        )

    def prepare(self, plan: BuildPlan) -> tuple[Command, ...]:
        return tuple(self.command(step) for step in plan.steps)

    def build(
        self, plan: BuildPlan, runner: Runner, reporter: BuildReporter
    ) -> tuple[BuildOutcome, ...]:
        failed: dict[str, str] = {}
        outcomes: list[BuildOutcome] = []
        for step in plan.steps:
            outcome = _blocked(step, failed)
            if outcome is None:
                command = self.command(step)
                reporter.starting(step, command)
                outcome = _finish(step, runner.run(command), runner)
                if outcome.status is BuildStatus.FAILED:
                    failed[step.image_key] = step.image_key
            reporter.finished(outcome)
            outcomes.append(outcome)
        return tuple(outcomes)


@dataclass(frozen=True)
class BuildxBake:
    """One ``docker buildx bake`` over a bake file of every step (see the module docstring)."""

    root: Path
    bake_file: str = "docker-bake.json"
    network: str | None = None
    extra_build_args: tuple[tuple[str, str], ...] = ()
    progress: str = field(default="plain")
    builder: str | None = None

    def command(self, targets: Iterable[str] = ()) -> Command:
        argv = ["docker", "buildx", "bake", "--file", self.bake_file, "--progress", self.progress]
        if self.builder:
            argv += ["--builder", self.builder, "--load"]
        return Command((*argv, *targets), cwd=self.root)

    def prepare(self, plan: BuildPlan) -> tuple[Command, ...]:
        if not plan.steps:
            return ()
        definition = bake_definition(
            plan, network=self.network, extra_build_args=self.extra_build_args
        )
        write_bakefile(self.root / self.bake_file, definition)
        return (self.command(),)

    def build(
        self, plan: BuildPlan, runner: Runner, reporter: BuildReporter
    ) -> tuple[BuildOutcome, ...]:
        commands = self.prepare(plan)
        if not commands:
            return ()
        for step in plan.steps:
            reporter.starting(step, commands[0])
        result = runner.run(commands[0])
        if result.ok:
            outcomes = [_finish(step, result, runner, self._shared(result)) for step in plan.steps]
        else:
            outcomes = self._attribute(plan, runner, reporter, result)
        for outcome in outcomes:
            reporter.finished(outcome)
        return tuple(outcomes)

    @staticmethod
    def _shared(result: CommandResult) -> float:
        return round(result.seconds, 1)

    def _attribute(
        self, plan: BuildPlan, runner: Runner, reporter: BuildReporter, first: CommandResult
    ) -> list[BuildOutcome]:
        """After a failed bake: which images got built, and which one failed (docstring)."""
        failed: dict[str, str] = {}
        outcomes: list[BuildOutcome] = []
        for step in plan.steps:
            outcome = _blocked(step, failed)
            if outcome is None:
                state = inspect_image(runner, step.ref, label=INPUTS_LABEL)
                if state is not None and state.digest == step.digest:
                    outcome = BuildOutcome(
                        step.image_key,
                        BuildStatus.BUILT,
                        seconds=self._shared(first),
                        size_bytes=state.size_bytes,
                        message="built by the bake run that failed elsewhere",
                    )
                else:
                    command = self.command((step.target,))
                    reporter.starting(step, command)
                    outcome = _finish(step, runner.run(command), runner)
                    if outcome.status is BuildStatus.FAILED:
                        failed[step.image_key] = step.image_key
            outcomes.append(outcome)
        return outcomes
