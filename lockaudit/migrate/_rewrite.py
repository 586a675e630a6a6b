"""Rewrite a Dockerfile's ``pip install`` steps into one install of the image's layer lock.

Per stage, the first step that installs lockable requirements becomes
``pip install --no-deps --require-hashes -r <lock>`` (same ``pip``/``python -m pip``/``uv pip``
prefix, same placement options such as ``--user`` or ``--prefix``), with a ``COPY`` of the lock
inserted right before its ``RUN``; every later such step is removed. What a lock cannot pin
(VCS without a commit, URLs, local paths) and installs of pip itself stay, as a ``pip install``
of just those words where the step was.

Only the spans of the rewritten commands change: a ``RUN`` that also runs ``apt-get`` keeps
those commands; a ``RUN`` left with nothing is removed with its lines. A removed command is cut
with the ``&&``/``;`` that joined it to its neighbour only when nothing else sits between them
(an ``if … then … fi`` around it keeps its shape: the command becomes ``true``).

Decisions: the lock is installed where the *first* loose install was, so later steps that use
the packages (``python -m spacy download``) still find them; routing (``--index-url``,
``--extra-index-url``) now lives in the lock's option lines, so the lock command carries none.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lockaudit.errors import Location
from lockaudit.migrate._model import Edit, Note, NoteKind
from lockaudit.migrate._spans import Command, Lines, RunText, escape_of, run_text
from lockaudit.parsing.dockerfile import Instruction, PipInstall, Stage
from lockaudit.parsing.shell import SimpleCommand

# Options that say where or how quietly pip installs, not what: kept on the lock command.
_PLACEMENT = frozenset(
    [
        "--user",
        "--target",
        "-t",
        "--prefix",
        "--root",
        "--break-system-packages",
        "--system",
        "--root-user-action",
        "-q",
        "--quiet",
        "-v",
        "--verbose",
        "--progress-bar",
        "--no-warn-script-location",
        "--no-compile",
        "--disable-pip-version-check",
        "--python",
    ]
)


@dataclass(frozen=True)
class LockRef:
    """How the rewritten Dockerfile names the image's layer lock."""

    source: str  # COPY source: `locks/asr-cuda.layer.txt` or `${LAYER_LOCK}`
    container: str  # where the COPY puts it
    arg: str | None = None  # `ARG LAYER_LOCK=…` when several images build from the file


@dataclass(frozen=True)
class InstallPlan:
    """What becomes of one ``pip install`` step."""

    install: PipInstall
    locked: bool  # its lockable requirements are in the lock now
    residual: tuple[str, ...] = ()  # shell words still installed as written
    projects: tuple[str, ...] = ()  # local projects whose dependencies are in the lock now


def rewrite(
    text: str,
    stages: Sequence[Stage],
    plans: Mapping[Location, InstallPlan],
    lock: LockRef,
) -> tuple[tuple[Edit, ...], tuple[Note, ...]]:
    """The edits that make ``text`` install ``lock`` instead of the planned installs.

    ``stages`` are the stages the image is made of (the final one and those it is built FROM,
    in file order): the lock is installed once, at the first planned install among them.
    """
    lines = Lines.of(text)
    escape = escape_of(lines)
    edits: list[Edit] = []
    notes: list[Note] = []
    first = True
    for stage in stages:
        stage_plans = [plans[i.location] for i in stage.pip_installs if i.location in plans]
        if not any(p.locked for p in stage_plans):
            continue
        for instruction in _runs_with(stage, stage_plans):
            here = [p for p in stage_plans if _inside(p.install, instruction)]
            run = _run(lines, instruction, escape, here)
            if run is None:
                notes.append(
                    Note(
                        NoteKind.NOT_REWRITTEN,
                        instruction.location,
                        "this RUN (heredoc, or commands lockaudit cannot place) is kept as "
                        "written: move its pip install into the image's requirements by hand",
                    )
                )
                continue
            matched = _match(run, here)
            if matched is None:
                notes.append(
                    Note(
                        NoteKind.NOT_REWRITTEN,
                        instruction.location,
                        "cannot find the pip install commands of this RUN: kept as written",
                    )
                )
                continue
            new_texts: dict[int, str | None] = {}
            for index, plan in matched.items():
                new_texts[index] = _replacement(run.commands[index], plan, lock, first=first)
                if plan.locked and first:
                    edits.append(Edit(run.start, run.start, _copy_lines(lock, run, lines)))
                    first = False
            edits.extend(_command_edits(lines, run, new_texts))
    return tuple(edits), tuple(notes)


def _runs_with(stage: Stage, plans: Sequence[InstallPlan]) -> list[Instruction]:
    return [
        i
        for i in stage.instructions
        if i.keyword == "RUN" and any(_inside(p.install, i) for p in plans)
    ]


def _inside(install: PipInstall, instruction: Instruction) -> bool:
    return instruction.location.line <= install.location.line <= instruction.end_line


def _run(
    lines: Lines, instruction: Instruction, escape: str, plans: Sequence[InstallPlan]
) -> RunText | None:
    found = run_text(lines, instruction, escape)
    if found is not None or instruction.heredocs:
        return found
    # Exec form with one pip install: the whole instruction is that command.
    if len(plans) != 1 or not instruction.value.startswith("["):
        return None
    start, end = lines.span(instruction.location.line, instruction.end_line)
    install = plans[0].install
    command = SimpleCommand(install.argv, (), tuple(shlex.quote(w) for w in install.argv))
    body = lines.text[start:end]
    body_start = start + body.index("[")
    body_end = start + len(body.rstrip("\r\n"))
    line = instruction.location.line
    indent = body[: len(body) - len(body.lstrip(" \t"))]
    only = Command(command, body_start, body_end, line)
    return RunText(start, end, (only,), indent, exec_form=True)


def _match(run: RunText, plans: Sequence[InstallPlan]) -> dict[int, InstallPlan] | None:
    """Which command of the RUN each planned install is (same line, in order)."""
    used: set[int] = set()
    out: dict[int, InstallPlan] = {}
    for plan in plans:
        found = next(
            (
                i
                for i, c in enumerate(run.commands)
                if i not in used
                and (run.exec_form or c.line == plan.install.location.line)
                and "install" in c.command.argv
            ),
            None,
        )
        if found is None:
            return None
        used.add(found)
        out[found] = plan
    return out


def _replacement(command: Command, plan: InstallPlan, lock: LockRef, *, first: bool) -> str | None:
    """The new text of one command: the lock install, what stays as written, or nothing."""
    prefix = _prefix(command)
    kept = _kept_options(plan.install)
    parts: list[str] = []
    if plan.locked and first:
        parts.append(
            " ".join([*prefix, *kept, "--no-deps", "--require-hashes", "-r", lock.container])
        )
    if plan.projects:
        words = [w for p in plan.projects for w in (["-e", p[3:]] if p.startswith("-e ") else [p])]
        parts.append(" ".join([*prefix, *kept, "--no-deps", *(shlex.quote(w) for w in words)]))
    if plan.residual:
        routing = _routing(plan.install)
        upgrade = ["--upgrade"] if plan.install.upgrade else []
        words = [shlex.quote(w) for w in plan.residual]
        parts.append(" ".join([*prefix, *kept, *upgrade, *routing, *words]))
    return " && ".join(parts) if parts else None


def _prefix(command: Command) -> list[str]:
    """``pip install`` as written (``$VENV/bin/pip``, ``python3 -m pip``, ``uv pip``)."""
    raw = list(command.command.raw_words)
    if "install" in raw:
        return raw[: raw.index("install") + 1]
    argv = command.command.argv
    return [shlex.quote(w) for w in argv[: argv.index("install") + 1]]


def _kept_options(install: PipInstall) -> list[str]:
    kept = [o for o in install.options if o.split("=", 1)[0] in _PLACEMENT]
    if install.no_cache_dir:
        kept.append("--no-cache-dir")
    return [shlex.quote(o) for o in kept]


def _routing(install: PipInstall) -> list[str]:
    out: list[str] = []
    if install.index_url:
        out += ["--index-url", shlex.quote(install.index_url)]
    for url in install.extra_index_urls:
        out += ["--extra-index-url", shlex.quote(url)]
    for link in install.find_links:
        out += ["--find-links", shlex.quote(link)]
    return out


def _copy_lines(lock: LockRef, run: RunText, lines: Lines) -> str:
    nl = lines.newline
    out = f"{run.indent}ARG {lock.arg}{nl}" if lock.arg else ""
    return out + f"{run.indent}COPY {lock.source} {lock.container}{nl}"


# -- cutting commands out of a RUN ----------------------------------------------------------------

_JOINERS = frozenset({"", "&&", ";", "||"})


def _command_edits(lines: Lines, run: RunText, new: Mapping[int, str | None]) -> list[Edit]:
    commands = run.commands
    count = len(commands)
    gone = [i in new and new[i] is None for i in range(count)]
    if all(gone):
        return [Edit(run.start, run.end, "")]
    edits = [Edit(commands[i].start, commands[i].end, text) for i, text in new.items() if text]
    last_kept = max(i for i in range(count) if not gone[i])
    # A removed command before the last kept one goes with the joiner after it.
    for i in range(last_kept):
        if not gone[i]:
            continue
        after = commands[i + 1].start
        if _only_joiners(lines, commands[i].end, after):
            edits.append(Edit(commands[i].start, after, ""))
        else:
            edits.append(Edit(commands[i].start, commands[i].end, "true"))
    # A removed tail goes in one cut from the end of the last kept command.
    if last_kept < count - 1:
        joined = all(
            _only_joiners(lines, commands[j].end, commands[j + 1].start)
            for j in range(last_kept, count - 1)
        )
        if joined and _only_joiners(lines, commands[-1].end, run.end):
            edits.append(Edit(commands[last_kept].end, commands[-1].end, ""))
        else:
            edits += [
                Edit(commands[i].start, commands[i].end, "true")
                for i in range(last_kept + 1, count)
            ]
    return edits


def _only_joiners(lines: Lines, start: int, end: int) -> bool:
    """Between two commands only blanks, continuations, comment lines and one joiner."""
    between = lines.text[start:end]
    between = re.sub(r"(?m)^[ \t]*#.*$", "", between)
    between = re.sub(r"[\\`][ \t]*(\r\n|\r|\n)", "", between)
    return re.sub(r"\s+", "", between) in _JOINERS
