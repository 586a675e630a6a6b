"""The one seam through which ``lockaudit build`` runs programs, and the engine queries on it.

Every docker command the build issues is a :class:`Command` value handed to a :class:`Runner`.
:class:`SubprocessRunner` runs it; a dry run never reaches a runner for anything that changes
state, it prints the commands instead. Tests use the real runner against a real engine.

Decisions:
* Output is captured (stdout and stderr merged, in order) rather than streamed: the core stays
  quiet and a failure message can quote the tail of the build log. Progress is reported
  per image through the reporter hooks instead.
* A missing program is a result (exit 127, like a shell), not an exception, so "no docker
  client" and "no engine" are handled by the same code path: the image counts as absent.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "Command",
    "CommandResult",
    "ImageState",
    "Runner",
    "SubprocessRunner",
    "engine_version",
    "inspect_image",
]

_NOT_FOUND = 127


@dataclass(frozen=True)
class Command:
    """A program and its arguments, run in ``cwd`` (the workspace root, usually)."""

    argv: tuple[str, ...]
    cwd: Path | None = None
    stdin: str | None = None  # text fed to the program (a Dockerfile for ``--file -``)

    def __str__(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 15) -> str:
        """The last lines of the output: where a build says what went wrong."""
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


class Runner(Protocol):
    """Runs one command to completion."""

    def run(self, command: Command) -> CommandResult: ...


@dataclass(frozen=True)
class SubprocessRunner:
    """Runs commands as child processes; ``env`` entries are added to the inherited ones."""

    env: Mapping[str, str] | None = None
    timeout: float | None = None

    def run(self, command: Command) -> CommandResult:
        env = {**os.environ, **self.env} if self.env else None
        started = time.monotonic()
        try:
            completed = subprocess.run(
                command.argv,
                cwd=command.cwd,
                env=env,
                stdin=subprocess.DEVNULL if command.stdin is None else None,
                input=command.stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            return CommandResult(_NOT_FOUND, f"{command.argv[0]}: not found", 0.0)
        except subprocess.TimeoutExpired as e:
            output = e.output if isinstance(e.output, str) else ""
            return CommandResult(124, output + f"\ntimed out after {self.timeout} s", e.timeout)
        return CommandResult(completed.returncode, completed.stdout, time.monotonic() - started)


@dataclass(frozen=True)
class ImageState:
    """What the local engine knows of one image reference."""

    ref: str
    id: str
    digest: str | None  # the ``org.lockaudit.inputs-digest`` label, None when unlabelled
    size_bytes: int


def inspect_image(runner: Runner, ref: str, *, label: str) -> ImageState | None:
    """The local image ``ref``, or None when it is absent (or no engine answers)."""
    result = runner.run(Command(("docker", "image", "inspect", "--format", "{{json .}}", ref)))
    if not result.ok:
        return None
    try:
        data = json.loads(result.output.strip().splitlines()[0])
    except (ValueError, IndexError):
        return None
    labels = (data.get("Config") or {}).get("Labels") or {}
    return ImageState(
        ref=ref,
        id=str(data.get("Id", "")),
        digest=labels.get(label),
        size_bytes=int(data.get("Size") or 0),
    )


def engine_version(runner: Runner) -> str | None:
    """The server version of the engine the docker client talks to, None when none answers."""
    result = runner.run(Command(("docker", "version", "--format", "{{.Server.Version}}")))
    version = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    return version if result.ok and version else None
