"""Dockerfiles as BuildKit reads them, down to the ``pip install`` steps of every ``RUN``.

Physical lines are grouped into instructions: parser directives at the very top (``# syntax``,
``# escape``), comment lines anywhere (also inside a continued instruction), continuations with
the escape character, heredocs (``RUN <<EOF`` ... ``EOF``). Variables are substituted the way
BuildKit does: global ``ARG`` s (defaults overridden by the caller's build args) in ``FROM``;
``ARG`` and ``ENV`` in scope inside a stage. Every ``RUN`` is split with
:func:`lockaudit.parsing.shell.split_commands` and each ``pip install`` in it becomes a
:class:`PipInstall` whose requirements carry the physical line they were written on.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockaudit.errors import InputError, Location
from lockaudit.parsing.requirements import (
    RequirementLine,
    is_direct_url,
    is_local_path,
    parse_requirement_string,
    read_text,
    split_lines,
)
from lockaudit.parsing.shell import (
    Masking,
    Redirect,
    ShellSyntaxError,
    SimpleCommand,
    errexit_at,
    expand_words,
    masking,
    reached,
    split_commands,
)

__all__ = [
    "DEFAULT_SHELL",
    "Copy",
    "Dockerfile",
    "FromLine",
    "Instruction",
    "Mount",
    "PackageCommand",
    "PipInstall",
    "Position",
    "Run",
    "Span",
    "Stage",
    "parse_dockerfile",
    "parse_dockerfile_text",
]

_INSTRUCTIONS = frozenset(
    [
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ]
)
_FLAGGED = frozenset({"ADD", "COPY", "FROM", "RUN", "HEALTHCHECK"})
_HEREDOC_ABLE = frozenset({"ADD", "COPY", "RUN"})
_DIRECTIVE = re.compile(r"#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*")
# A heredoc marker, or a quoted span (where `<<` is text): whichever starts first wins.
_HEREDOC = re.compile(
    r"<<(?P<dash>-?)(?P<q>[\"']?)(?P<word>[A-Za-z0-9_.-]+)(?P=q)"
    r"|'[^']*'|\"(?:[^\"\\]|\\.)*\""
)
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})
# What BuildKit runs a shell-form RUN with on Linux.
DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")
# A redirection target that is the tail of a version specifier (`pkg<2.0` reads file `2.0`).
_VERSION_TAIL = re.compile(r"^=*\s*v?\d[\w.*+!,<>=~-]*$")

Arg = tuple[str, str | None, Location]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    value: str  # after the flags, continuations joined
    flags: tuple[str, ...]
    location: Location
    end_line: int
    heredocs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FromLine:
    raw: str
    image: str  # after substitution
    alias: str | None
    platform: str | None
    location: Location
    unresolved: tuple[str, ...]  # variable names without a value


@dataclass(frozen=True)
class PipInstall:
    location: Location
    argv: tuple[str, ...]
    requirements: tuple[RequirementLine, ...]
    local_args: tuple[str, ...]  # `.`, `./pkg`, `/src/x.whl`: kept raw
    requirement_files: tuple[str, ...]
    constraint_files: tuple[str, ...]
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    no_deps: bool
    require_hashes: bool
    no_cache_dir: bool
    upgrade: bool
    no_index: bool
    redirects: tuple[Redirect, ...]  # shell redirections on the same command (`pkg>=2`)
    raw_words: tuple[str, ...]
    cache_mount: bool  # the RUN has --mount=type=cache
    options: tuple[str, ...] = ()  # other options, raw (`--user`, `--target=/x` ...)
    unknown_vars: tuple[str, ...] = ()  # variables the command used that had no value
    unparsed: tuple[tuple[str, str], ...] = ()  # (argument, why): built from unknown variables
    # Direct references that do not say their project name (`git+https://…/pkg.git`): kept,
    # with where they are written, for a rule to report; never a reason to reject the file.
    unnamed: tuple[tuple[str, Location], ...] = ()


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file: 1-based ``line``, 0-based ``column`` (characters of that line)."""

    line: int
    column: int


@dataclass(frozen=True)
class Span:
    """Where a command is written: from ``start`` to just past ``end``, in ``path``.

    A command split over continuation lines spans them; the escape characters and line
    breaks between ``start`` and ``end`` belong to it.
    """

    path: str
    start: Position
    end: Position


@dataclass(frozen=True)
class Mount:
    """One ``RUN --mount=...`` flag: ``type`` (``bind`` by default) and its target."""

    type: str
    target: str | None
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PackageCommand:
    """A command of a RUN that installs or removes packages, as the shell would run it.

    ``tool`` is ``pip`` (also ``pip3``, ``pip3.11``, ``python -m pip``), ``uv`` (``uv pip``),
    ``conda``/``mamba``/``micromamba`` or ``apt-get``/``apt``; ``action`` is ``install`` or
    ``uninstall``. ``packages`` are the arguments the tool takes as packages, after splitting,
    quote removal and the tool's own options (``-r file`` is not a package). ``command`` is the
    index of the shell command in :attr:`Run.commands`. ``masked`` says why its failure would
    not fail the build (``|| true``, ``| tee``, a ``;`` without ``set -e``), None when it would.
    ``fallback_of`` is the index in :attr:`Run.packages` of the install whose failure makes this
    one run (``pip install a || pip install b``). ``pip`` holds the parsed ``pip install``.
    ``reached`` is False in an ``if`` branch the shell would not take with the stage's ARG and
    ENV values (:func:`lockaudit.parsing.shell.reached`).
    """

    tool: str
    action: str
    packages: tuple[str, ...]
    location: Location
    command: int
    span: Span | None
    masked: Masking | None = None
    fallback_of: int | None = None
    pip: PipInstall | None = None
    redirects: tuple[Redirect, ...] = ()
    reached: bool = True  # False in an `if` branch the shell does not take (see shell.reached)

    @property
    def never_runs(self) -> bool:
        """An unquoted ``pkg<2`` makes ``sh`` open a file named ``2`` as input: there is none,
        so the command is never run (and the RUN fails)."""
        return any(r.op == "<" and _VERSION_TAIL.match(r.target) for r in self.redirects)


@dataclass(frozen=True)
class Run:
    """A RUN instruction: the commands the shell runs, in order, and those that install.

    ``commands`` are the simple commands of the line and, for ``RUN <<EOF`` (or ``RUN bash
    <<EOF``), of the here-document script; ``spans`` says where each one is written (None in
    the exec form). ``shell`` is the shell in effect (``SHELL``, else :data:`DEFAULT_SHELL`);
    empty for an exec-form RUN, which no shell runs.
    """

    location: Location
    commands: tuple[SimpleCommand, ...]
    spans: tuple[Span | None, ...]
    mounts: tuple[Mount, ...]
    shell: tuple[str, ...]
    packages: tuple[PackageCommand, ...]

    @property
    def pip_installs(self) -> tuple[PipInstall, ...]:
        """The ``pip install`` commands the shell runs (not those of a branch it skips)."""
        return tuple(p.pip for p in self.packages if p.pip is not None and p.reached)


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    dest: str
    from_stage: str | None
    location: Location


@dataclass(frozen=True)
class Stage:
    from_line: FromLine
    instructions: tuple[Instruction, ...]
    pip_installs: tuple[PipInstall, ...]
    copies: tuple[Copy, ...]
    env: tuple[tuple[str, str, Location], ...]
    args: tuple[Arg, ...]  # effective values: build arg, else default, else the global's
    runs: tuple[Run, ...] = ()


@dataclass(frozen=True)
class Dockerfile:
    path: str
    global_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


# -- physical lines → instructions ----------------------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    """An instruction's text with continuations joined, and where each piece came from."""

    text: str
    starts: tuple[int, ...]  # offset in text where each piece starts
    lines: tuple[int, ...]  # the physical line of each piece
    end_line: int
    heredocs: tuple[tuple[str, int], ...]  # (body, first line of the body)
    lead: int = 0  # blanks stripped before the first piece

    def line_at(self, offset: int) -> int:
        return self.lines[max(0, bisect_right(self.starts, offset) - 1)]

    def position(self, offset: int) -> Position:
        piece = max(0, bisect_right(self.starts, offset) - 1)
        lead = self.lead if piece == 0 else 0
        return Position(self.lines[piece], offset - self.starts[piece] + lead)


def _directives(lines: Sequence[str], path: str) -> tuple[str, int]:
    """The escape character and the number of directive lines at the top."""
    escape = "\\"
    count = 0
    for number, line in enumerate(lines, start=1):
        match = _DIRECTIVE.fullmatch(line.strip())
        if not match:
            break
        count = number
        if match.group(1).lower() == "escape":
            if match.group(2) not in ("\\", "`"):
                raise InputError(
                    Location(path, number),
                    f"invalid escape directive '{match.group(2)}': use \\ or `",
                )
            escape = match.group(2)
    return escape, count


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _instructions(text: str, path: str) -> list[_Raw]:
    lines = split_lines(text)
    escape, index = _directives(lines, path)
    out: list[_Raw] = []
    while index < len(lines):
        line = lines[index]
        if not line.strip() or _is_comment(line):
            index += 1
            continue
        raw, index = _collect(lines, index, escape, path)
        out.append(raw)
    return out


def _collect(lines: Sequence[str], index: int, escape: str, path: str) -> tuple[_Raw, int]:
    pieces: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    size = 0
    lead = 0
    end = index
    continued = False
    while index < len(lines):
        line = lines[index]
        index += 1
        if pieces and (not line.strip() or _is_comment(line)):
            continue  # BuildKit drops comment and empty lines inside a continuation
        end = index
        stripped = line.rstrip(" \t")
        continued = stripped.endswith(escape) and not stripped.endswith(escape * 2)
        piece = stripped[:-1] if continued else line
        if not pieces:
            lead = len(piece) - len(piece.lstrip())
            piece = piece.lstrip()
        starts.append(size)
        numbers.append(index)
        pieces.append(piece)
        size += len(piece)
        if not continued:
            break
    if continued:  # BuildKit would run what is there; a cut-off file is the likelier story
        raise InputError(
            Location(path, numbers[-1]),
            f"the file ends inside an instruction: a dangling `{escape}` continues this line",
            hint=f"remove the trailing `{escape}` or finish the instruction",
        )
    text = "".join(pieces)
    heredocs, index = _heredocs(text, lines, index, path, numbers[0])
    raw = _Raw(text, tuple(starts), tuple(numbers), max(end, index), heredocs, lead)
    return raw, index


def _heredocs(
    text: str, lines: Sequence[str], index: int, path: str, first: int
) -> tuple[tuple[tuple[str, int], ...], int]:
    keyword = text.split(None, 1)[0].upper() if text.split() else ""
    if keyword not in _HEREDOC_ABLE:
        return (), index
    bodies: list[tuple[str, int]] = []
    for match in _HEREDOC.finditer(text):
        if match.group("word") is None:
            continue  # a quoted span
        strip_tabs, delimiter = match.group("dash") == "-", match.group("word")
        body: list[str] = []
        start = index + 1
        while True:
            if index >= len(lines):
                raise InputError(
                    Location(path, first), f"heredoc <<{delimiter} has no closing {delimiter} line"
                )
            line = lines[index]
            index += 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
            body.append(line.lstrip("\t") if strip_tabs else line)
        bodies.append(("".join(f"{b}\n" for b in body), start))
    return tuple(bodies), index


# -- stages -------------------------------------------------------------------------------------


@dataclass
class _StageBuilder:
    from_line: FromLine
    env: dict[str, tuple[str, Location]]
    args: dict[str, Arg] = field(default_factory=dict)
    instructions: list[Instruction] = field(default_factory=list)
    pip_installs: list[PipInstall] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    shell: tuple[str, ...] = DEFAULT_SHELL

    def scope(self) -> dict[str, str]:
        values = {name: value for name, value, _ in self.args.values() if value is not None}
        values.update({name: value for name, (value, _) in self.env.items()})
        return values

    def build(self) -> Stage:
        return Stage(
            from_line=self.from_line,
            instructions=tuple(self.instructions),
            pip_installs=tuple(self.pip_installs),
            copies=tuple(self.copies),
            env=tuple((k, v, loc) for k, (v, loc) in self.env.items()),
            args=tuple(self.args.values()),
            runs=tuple(self.runs),
        )


class _Parser:
    def __init__(self, path: str, build_args: Mapping[str, str]) -> None:
        self.path = path
        self.build_args = dict(build_args)
        self.global_args: dict[str, Arg] = {}
        self.stages: list[_StageBuilder] = []
        self.stage: _StageBuilder | None = None

    def parse(self, text: str, first_line: str = "") -> Dockerfile:
        if first_line:
            # A line the build writes above the file's first (``sed -i '1i FROM …'``): read
            # as line 1, the file's own lines keep their numbers (they are what users edit).
            self.instruction(_Raw(first_line, (0,), (1,), 1, ()))
        for raw in _instructions(text, self.path):
            self.instruction(raw)
        if self.stage is None:
            raise InputError(Location(self.path, 1), "no FROM instruction")
        stages = tuple(s.build() for s in self.stages)
        _check_stage_cycles(stages)
        return Dockerfile(self.path, tuple(self.global_args.values()), stages)

    def instruction(self, raw: _Raw) -> None:
        location = Location(self.path, raw.lines[0])
        first_word = raw.text.split(None, 1)
        keyword = first_word[0] if first_word else ""
        rest_at = len(keyword)
        while rest_at < len(raw.text) and raw.text[rest_at] in " \t":
            rest_at += 1
        upper = keyword.upper()
        if upper not in _INSTRUCTIONS:
            raise InputError(location, f"unknown instruction '{keyword}'")
        flags, value_at = _flags(raw.text, rest_at) if upper in _FLAGGED else ((), rest_at)
        value = raw.text[value_at:].strip()
        if not value:
            raise InputError(location, f"{upper} needs arguments")
        instruction = Instruction(
            upper, value, flags, location, raw.end_line, tuple(b for b, _ in raw.heredocs)
        )
        if upper == "FROM":
            self.from_(instruction)
        elif upper == "ARG":
            self.arg(instruction)
        elif self.stage is None:
            raise InputError(location, f"{upper} before the first FROM (only ARG may come first)")
        else:
            self.stage.instructions.append(instruction)
            self.in_stage(self.stage, instruction, raw, value_at)

    def in_stage(
        self, stage: _StageBuilder, instruction: Instruction, raw: _Raw, value_at: int
    ) -> None:
        match instruction.keyword:
            case "ENV":
                for key, value in _env_pairs(instruction, stage.scope()):
                    stage.env[key] = (value, instruction.location)
            case "COPY" | "ADD":
                stage.copies.append(_copy(instruction, stage.scope()))
            case "RUN":
                run = _run(instruction, raw, value_at, stage.scope(), stage.shell)
                stage.runs.append(run)
                stage.pip_installs.extend(run.pip_installs)
            case "SHELL":
                stage.shell = _json_list(instruction.value) or stage.shell
            case _:
                pass

    # -- ARG / FROM -----------------------------------------------------------------------------

    def arg(self, instruction: Instruction) -> None:
        stage = self.stage
        env = self.global_env() if stage is None else stage.scope()
        words, _ = _words(instruction.value, instruction.location, env)
        for word in words:
            name, eq, default = word.partition("=")
            if not _ARG_NAME.fullmatch(name):
                raise InputError(instruction.location, f"invalid ARG name '{name}'")
            value: str | None = self.build_args.get(name, default if eq else None)
            if stage is None:
                self.global_args[name] = (name, value, instruction.location)
                continue
            if value is None and name in self.global_args:
                value = self.global_args[name][1]  # `ARG X` in a stage re-imports the global
            stage.args[name] = (name, value, instruction.location)
            env[name] = value or ""

    def global_env(self) -> dict[str, str]:
        return {name: value for name, value, _ in self.global_args.values() if value is not None}

    def from_(self, instruction: Instruction) -> None:
        location = instruction.location
        words, unresolved = _words(instruction.value, location, self.global_env())
        alias: str | None = None
        if len(words) == 3 and words[1].lower() == "as":
            alias = words[2]
        elif len(words) != 1:
            raise InputError(
                location,
                f"expected 'FROM [--platform=...] image [AS name]', got '{instruction.value}'",
            )
        platform = next(
            (f.partition("=")[2] for f in instruction.flags if f.startswith("--platform=")), None
        )
        line = FromLine(instruction.value, words[0], alias, platform, location, unresolved)
        env: dict[str, tuple[str, Location]] = {}
        shell = DEFAULT_SHELL
        for earlier in self.stages:  # FROM an earlier stage inherits its ENV and SHELL
            if earlier.from_line.alias and earlier.from_line.alias.lower() == words[0].lower():
                env, shell = dict(earlier.env), earlier.shell
        self.stage = _StageBuilder(line, env, shell=shell)
        self.stage.instructions.append(instruction)
        self.stages.append(self.stage)


def _check_stage_cycles(stages: Sequence[Stage]) -> None:
    """BuildKit refuses stages that copy from each other in a circle; so do we, at the COPY.

    A FROM can only name an earlier stage, but ``COPY --from`` may name any stage (by alias
    or index), itself included.
    """
    names = {
        (stage.from_line.alias or str(index)).lower(): index for index, stage in enumerate(stages)
    }
    names.update({str(index): index for index in range(len(stages))})
    earlier: dict[str, int] = {}
    deps: list[list[tuple[int, Location]]] = []
    for index, stage in enumerate(stages):
        found = (
            [(earlier[stage.from_line.image.lower()], stage.from_line.location)]
            if (stage.from_line.image.lower() in earlier)
            else []
        )
        found += [
            (names[copy.from_stage.lower()], copy.location)
            for copy in stage.copies
            if copy.from_stage is not None and copy.from_stage.lower() in names
        ]
        deps.append(found)
        if stage.from_line.alias:
            earlier[stage.from_line.alias.lower()] = index
    state: dict[int, str] = {}

    def label(index: int) -> str:
        return stages[index].from_line.alias or f"stage {index}"

    def visit(index: int, path: list[int]) -> None:
        state[index] = "visiting"
        for dep, location in deps[index]:
            if state.get(dep) == "visiting":
                cycle = [*path[path.index(dep) :], index, dep] if dep in path else [index, dep]
                raise InputError(
                    location,
                    "circular dependency between stages: " + " -> ".join(map(label, cycle)),
                    hint="a stage cannot copy from itself or from a stage built from it",
                )
            if dep not in state:
                visit(dep, [*path, index])
        state[index] = "done"

    for index in range(len(stages)):
        if index not in state:
            visit(index, [])


def _flags(text: str, at: int) -> tuple[tuple[str, ...], int]:
    flags: list[str] = []
    while text.startswith("--", at):
        end = at
        while end < len(text) and text[end] not in " \t":
            end += 1
        flags.append(text[at:end])
        at = end
        while at < len(text) and text[at] in " \t":
            at += 1
    return tuple(flags), at


def _words(
    text: str, location: Location, env: Mapping[str, str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return expand_words(text, location, env)


def _env_pairs(instruction: Instruction, env: Mapping[str, str]) -> list[tuple[str, str]]:
    location = instruction.location
    first = instruction.value.split(None, 1)
    if "=" not in first[0]:
        # Legacy `ENV KEY value with spaces`.
        if len(first) < 2:
            raise InputError(location, f"ENV {first[0]} needs a value (ENV KEY=VALUE)")
        rest, _ = _words(first[1], location, env)
        return [(first[0], " ".join(rest))]
    pairs: list[tuple[str, str]] = []
    scope = dict(env)
    words, _ = _words(instruction.value, location, scope)
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InputError(location, f"ENV expects KEY=VALUE, got '{word}'")
        pairs.append((key, value))
    return pairs


def _copy(instruction: Instruction, env: Mapping[str, str]) -> Copy:
    words = _json_list(instruction.value)
    if words is None:
        words, _ = _words(instruction.value, instruction.location, env)
    if len(words) < 2:
        raise InputError(
            instruction.location, f"{instruction.keyword} needs a source and a destination"
        )
    from_stage = next(
        (f.partition("=")[2] for f in instruction.flags if f.startswith("--from=")), None
    )
    return Copy(tuple(words[:-1]), words[-1], from_stage, instruction.location)


def _json_list(value: str) -> tuple[str, ...] | None:
    """The exec (JSON) form, or None: BuildKit falls back to shell form when it is not JSON."""
    if not value.startswith("["):
        return None
    try:
        loaded = json.loads(value)
    except ValueError:
        return None
    if isinstance(loaded, list) and all(isinstance(x, str) for x in loaded):
        return tuple(loaded)
    return None


# -- RUN → pip installs ---------------------------------------------------------------------------


def _run(
    instruction: Instruction,
    raw: _Raw,
    value_at: int,
    env: Mapping[str, str],
    shell: tuple[str, ...] = DEFAULT_SHELL,
) -> Run:
    mounts = tuple(_mount(f) for f in instruction.flags if f.startswith("--mount="))
    cache = any(m.type == "cache" for m in mounts)
    location = instruction.location
    exec_form = _json_list(instruction.value)
    segments: list[_Segment] = []
    if exec_form is not None:
        shell = ()
        if (
            len(exec_form) >= 3
            and exec_form[0].rsplit("/", 1)[-1] in _SHELLS
            and exec_form[1] == "-c"
        ):
            split = _split(exec_form[2], location, None, env)
            segments.append(_Segment(split, None, _shell_flags(exec_form[:2])))
        elif exec_form:
            segments.append(_Segment((SimpleCommand(exec_form, (), exec_form),), None, None))
    else:
        offset = raw.text.find(instruction.value, value_at)
        shifted = _Raw(
            raw.text[offset:],
            tuple(s - offset for s in raw.starts),
            raw.lines,
            raw.end_line,
            (),
            raw.lead,
        )
        line_commands = _split(shifted.text, location, shifted, env)
        segments.append(_Segment(line_commands, shifted, _shell_flags(shell)))
        script = _heredoc_shell(line_commands)
        script = shell if script == () else script
        if script is not None:
            for body, first in raw.heredocs:
                body_location = Location(location.path, first)
                split = _split(body, body_location, None, env)
                segments.append(_Segment(split, (body, first), _shell_flags(script)))
    return _assemble(location, segments, mounts, shell, cache)


@dataclass(frozen=True)
class _Segment:
    """Commands split from one script text: the RUN line, or a here-document script.

    ``where`` maps offsets back to the file: the RUN's joined lines, or (body, first line)
    of a here-document; None for an exec form. ``flags`` are the shell's ``set -e`` and
    ``pipefail`` at the start, None when no shell runs it.
    """

    commands: tuple[SimpleCommand, ...]
    where: _Raw | tuple[str, int] | None
    flags: tuple[bool, bool] | None

    def span(self, path: str, command: SimpleCommand) -> Span | None:
        if self.where is None:
            return None
        if isinstance(self.where, _Raw):
            start, end = self.where.position(command.offset), self.where.position(command.end)
        else:
            body, first = self.where
            start, end = (
                _body_position(body, first, command.offset),
                _body_position(body, first, command.end),
            )
        return Span(path, start, end)


def _body_position(body: str, first: int, offset: int) -> Position:
    line_start = body.rfind("\n", 0, offset) + 1
    return Position(first + body.count("\n", 0, offset), offset - line_start)


def _assemble(
    location: Location,
    segments: Sequence[_Segment],
    mounts: tuple[Mount, ...],
    shell: tuple[str, ...],
    cache: bool,
) -> Run:
    commands: list[SimpleCommand] = []
    spans: list[Span | None] = []
    packages: list[PackageCommand] = []
    for segment in segments:
        mapping = segment.where if isinstance(segment.where, _Raw) else None
        by_command: dict[int, int] = {}  # id of a SimpleCommand → its index in packages
        runs = reached(segment.commands) if segment.flags is not None else ()
        for index, command in enumerate(segment.commands):
            span = segment.span(location.path, command)
            found = _package_command(command, location, mapping, cache)
            if found is not None:
                masked = None
                if segment.flags is not None:
                    errexit, pipefail = segment.flags
                    masked = masking(segment.commands, index, errexit=errexit, pipefail=pipefail)
                by_command[id(command)] = len(packages)
                taken = runs[index] if runs else True
                packages.append(
                    replace(found, command=len(commands), span=span, masked=masked, reached=taken)
                )
            commands.append(command)
            spans.append(span)
        for position, package in enumerate(packages):
            fallback = package.masked.by if package.masked else None
            if package.masked and package.masked.kind == "fallback" and fallback is not None:
                later = by_command.get(id(fallback))
                if later is not None and packages[later].fallback_of is None:
                    packages[later] = replace(packages[later], fallback_of=position)
    return Run(location, tuple(commands), tuple(spans), mounts, shell, tuple(packages))


def _shell_flags(argv: Sequence[str]) -> tuple[bool, bool]:
    """``set -e`` and ``pipefail`` as a shell's own command line sets them (``bash -eo
    pipefail -c``): the options read as if given to ``set``."""
    options = tuple(a for a in argv[1:] if a != "-c")
    return errexit_at((SimpleCommand(("set", *options), (), ()),), 1)


def _mount(flag: str) -> Mount:
    """``--mount=type=cache,target=/root/.cache/pip,sharing=locked`` as BuildKit reads it."""
    options: list[tuple[str, str]] = []
    for item in flag.partition("=")[2].split(","):
        key, _, value = item.partition("=")
        options.append((key.strip().lower(), value.strip()))
    values = dict(options)
    target = values.get("target") or values.get("dst") or values.get("destination")
    return Mount(values.get("type", "bind"), target, tuple(options))


def _split(
    text: str, location: Location, mapping: _Raw | None, env: Mapping[str, str]
) -> tuple[SimpleCommand, ...]:
    try:
        return split_commands(text, location, env)
    except ShellSyntaxError as e:
        if mapping is None:
            raise
        where = Location(location.path, mapping.line_at(e.offset))
        raise ShellSyntaxError(where, e.message, offset=e.offset) from None


def _heredoc_shell(commands: Sequence[SimpleCommand]) -> tuple[str, ...] | None:
    """The shell that runs a heredoc body as its script (`RUN <<EOF`: ``sh``; `RUN bash -e
    <<EOF`: that command line), or None when the body is not a script."""
    for command in commands:
        if any(r.op in ("<<", "<<-") for r in command.redirects):
            if not command.argv:
                return ()  # the stage's SHELL runs it
            if command.argv[0].rsplit("/", 1)[-1] in _SHELLS:
                return command.argv
            return None
    return None


_PYTHON = re.compile(r"python(\d+(\.\d+)?)?")
_PIP = re.compile(r"pip(\d+(\.\d+)?)?")
_PIP_GENERAL_VALUED = frozenset(
    [
        "--proxy",
        "--retries",
        "--timeout",
        "--exists-action",
        "--trusted-host",
        "--cert",
        "--client-cert",
        "--cache-dir",
        "--log",
        "--python",
        "--keyring-provider",
    ]
)


# Commands that run the command after them (`sudo -H pip install x`): skipped with their options
# (those that take a value listed), their `NAME=value` words and, for timeout, the duration.
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "--user", "-g", "--group", "-C", "-D", "-h", "-p", "-U"}),
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "exec": frozenset({"-a"}),
    "command": frozenset(),
    "nice": frozenset({"-n", "--adjustment"}),
    "nohup": frozenset(),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
}


def _command_start(argv: Sequence[str]) -> int:
    """Index of the command a wrapper (``sudo``, ``env``, ``timeout`` ...) runs, else 0."""
    i = 0
    while i < len(argv) and argv[i].rsplit("/", 1)[-1] in _WRAPPERS:
        valued = _WRAPPERS[argv[i].rsplit("/", 1)[-1]]
        wrapper = argv[i].rsplit("/", 1)[-1]
        i += 1
        while i < len(argv) and (argv[i].startswith("-") or (wrapper == "env" and "=" in argv[i])):
            i += 2 if argv[i] in valued else 1
        if wrapper == "timeout" and i < len(argv):
            i += 1  # the duration
    return i


def _pip_action(argv: Sequence[str]) -> tuple[str, str, int] | None:
    """``(tool, subcommand, index after it)`` when ``argv`` runs pip (or ``uv pip``)."""
    k = _command_start(argv)
    if k >= len(argv):
        return None
    base = argv[k].rsplit("/", 1)[-1]
    i: int
    tool = "pip"
    if _PIP.fullmatch(base):
        i = k + 1
    elif _PYTHON.fullmatch(base):
        i = k + 1
        while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-m", "-c"):
            i += 1  # interpreter flags such as -u, -I
        if tuple(argv[i : i + 2]) != ("-m", "pip"):
            return None
        i += 2
    elif base == "uv" and len(argv) > k + 1 and argv[k + 1] == "pip":
        i, tool = k + 2, "uv"
    else:
        return None
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in _PIP_GENERAL_VALUED else 1
    return (tool, argv[i], i + 1) if i < len(argv) else None


def _install_start(argv: Sequence[str]) -> int | None:
    """Index of the first argument after ``install`` when ``argv`` is a pip install."""
    found = _pip_action(argv)
    return found[2] if found is not None and found[1] == "install" else None


# Options with a PipInstall field: option → (field, takes a value).
_FIELD_OPTIONS: dict[str, tuple[str, bool]] = {
    "-r": ("requirement_files", True),
    "--requirement": ("requirement_files", True),
    "-c": ("constraint_files", True),
    "--constraint": ("constraint_files", True),
    "-i": ("index_url", True),
    "--index-url": ("index_url", True),
    "--extra-index-url": ("extra_index_urls", True),
    "-f": ("find_links", True),
    "--find-links": ("find_links", True),
    "-e": ("editable", True),
    "--editable": ("editable", True),
    "--no-deps": ("no_deps", False),
    "--require-hashes": ("require_hashes", False),
    "--no-cache-dir": ("no_cache_dir", False),
    "-U": ("upgrade", False),
    "--upgrade": ("upgrade", False),
    "--no-index": ("no_index", False),
}
# Options kept raw in PipInstall.options; knowing which take a value keeps `--target /x`
# from being read as a requirement `/x`.
_RAW_FLAGS = frozenset(
    [
        "--force-reinstall",
        "--pre",
        "--user",
        "-q",
        "--quiet",
        "-v",
        "--verbose",
        "--break-system-packages",
        "--system",
        "--ignore-installed",
        "-I",
        "--no-build-isolation",
        "--prefer-binary",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-warn-script-location",
    ]
)
_RAW_VALUED = frozenset(
    [
        "--only-binary",
        "--no-binary",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--root-user-action",
        "--progress-bar",
        "--src",
        "--upgrade-strategy",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "-C",
        "--config-settings",
        "--global-option",
        "--report",
        "--trusted-host",
        "--cache-dir",
        "--timeout",
        "--retries",
        "--proxy",
        "--python",
        "--index-strategy",
        "--torch-backend",
    ]
)
_INSTALL_OPTIONS: dict[str, tuple[str, bool]] = {
    **_FIELD_OPTIONS,
    **{name: ("", False) for name in _RAW_FLAGS},
    **{name: ("", True) for name in _RAW_VALUED},
}


@dataclass
class _Install:
    fields: dict[str, list[str]] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    options: list[str] = field(default_factory=list)
    args: list[tuple[str, int, bool]] = field(default_factory=list)  # (word, argv index, -e)


def _read_install_args(argv: Sequence[str], start: int) -> _Install:
    out = _Install()
    i = start
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            out.args += [(w, j, False) for j, w in enumerate(argv[i:], start=i)]
            break
        if not word.startswith("-") or word == "-":
            out.args.append((word, i - 1, False))
            continue
        name, value = _split_option(word)
        known = _INSTALL_OPTIONS.get(name)
        if known is None:
            out.options.append(word)  # unknown: kept raw, taken as a flag unless `--x=y`
            continue
        target, valued = known
        if valued and value is None:
            if i >= len(argv):
                out.options.append(name)  # pip would stop here: no value to use
                continue
            value = argv[i]
            i += 1
        if target == "editable" and value is not None:
            out.args.append((value, i - 1, True))
        elif target in ("index_url",) or (valued and target):
            out.fields.setdefault(target, []).append(value or "")
        elif target:
            out.flags.add(target)
        else:
            out.options.append(f"{name}={value}" if valued and value is not None else name)
    return out


def _split_option(word: str) -> tuple[str, str | None]:
    if word.startswith("--"):
        name, eq, value = word.partition("=")
        return name, value if eq else None
    head = word[:2]
    known = _INSTALL_OPTIONS.get(head)
    if known is not None and known[1] and len(word) > 2:
        return head, word[2:]  # `-rfile`
    return word, None


def _pip_install(
    command: SimpleCommand, location: Location, mapping: _Raw | None, cache: bool
) -> PipInstall | None:
    start = _install_start(command.argv)
    if start is None:
        return None
    parsed = _read_install_args(command.argv, start)

    def line_of(index: int) -> int:
        if mapping is not None and index < len(command.word_offsets):
            return mapping.line_at(command.word_offsets[index])
        if mapping is None and index < len(command.word_lines):
            return command.word_lines[index]
        return location.line

    requirements: list[RequirementLine] = []
    local: list[str] = []
    unparsed: list[tuple[str, str]] = []
    unnamed: list[tuple[str, Location]] = []
    for word, index, editable in parsed.args:
        if is_local_path(word):
            local.append(word)
            continue
        where = Location(location.path, line_of(index))
        try:
            line = parse_requirement_string(word, where)
        except InputError as e:
            if is_direct_url(word):  # `git+https://…` without a name: pip builds to learn it
                unnamed.append((word, where))
                continue
            if not any("$" in raw for raw in command.raw_words):
                raise
            unparsed.append((word, e.message))  # built from variables: data, not a crash
            continue
        requirements.append(line if not editable else _editable(line))
    values = parsed.fields
    return PipInstall(
        location=Location(location.path, line_of(0)),
        argv=command.argv,
        requirements=tuple(requirements),
        local_args=tuple(local),
        requirement_files=tuple(values.get("requirement_files", ())),
        constraint_files=tuple(values.get("constraint_files", ())),
        index_url=values["index_url"][-1] if values.get("index_url") else None,
        extra_index_urls=tuple(values.get("extra_index_urls", ())),
        find_links=tuple(values.get("find_links", ())),
        no_deps="no_deps" in parsed.flags,
        require_hashes="require_hashes" in parsed.flags,
        no_cache_dir="no_cache_dir" in parsed.flags,
        upgrade="upgrade" in parsed.flags,
        no_index="no_index" in parsed.flags,
        redirects=command.redirects,
        raw_words=command.raw_words,
        cache_mount=cache,
        options=tuple(parsed.options),
        unknown_vars=command.unknown_vars,
        unparsed=tuple(unparsed),
        unnamed=tuple(unnamed),
    )


_CONDAS = frozenset({"conda", "mamba", "micromamba"})
_CONDA_VALUED = frozenset(
    {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "--override-channels-file"}
)
_APTS = frozenset({"apt-get", "apt"})
_APT_VALUED = frozenset({"-o", "--option", "-t", "--target-release", "-c", "--config-file"})
_PIP_UNINSTALL_VALUED = frozenset({"-r", "--requirement", "--root-user-action", "--python"})


def _package_command(
    command: SimpleCommand, location: Location, mapping: _Raw | None, cache: bool
) -> PackageCommand | None:
    """The install or uninstall ``command`` runs, if it runs one (see :class:`PackageCommand`).

    ``command``/``span``/``masked`` are filled in by the caller, which knows the whole RUN.
    """
    argv = command.argv
    where = Location(location.path, command.line or location.line)
    if mapping is not None and command.word_offsets:
        where = Location(location.path, mapping.line_at(command.word_offsets[0]))
    pip = _pip_action(argv)
    if pip is not None and pip[1] in ("install", "uninstall"):
        tool, action, start = pip
        if action == "install":
            install = _pip_install(command, location, mapping, cache)
            assert install is not None  # the same test as _pip_action's
            names = tuple(str(line.requirement) for line in install.requirements)
            return PackageCommand(
                tool,
                action,
                names + install.local_args,
                install.location,
                -1,
                None,
                pip=install,
                redirects=command.redirects,
            )
        packages = _operands(argv[start:], _PIP_UNINSTALL_VALUED)
        return PackageCommand(tool, action, packages, where, -1, None, redirects=command.redirects)
    k = _command_start(argv)
    base = argv[k].rsplit("/", 1)[-1] if k < len(argv) else ""
    if base in _CONDAS:
        verb = next((a for a in argv[k + 1 :] if not a.startswith("-")), "")
        if verb in ("install", "create", "remove", "uninstall"):
            action = "install" if verb in ("install", "create") else "uninstall"
            packages = _operands(argv[argv.index(verb, k + 1) + 1 :], _CONDA_VALUED)
            return PackageCommand(
                base, action, packages, where, -1, None, redirects=command.redirects
            )
    if base in _APTS:
        verb = next((a for a in argv[k + 1 :] if not a.startswith("-")), "")
        if verb in ("install", "remove", "purge"):
            action = "install" if verb == "install" else "uninstall"
            packages = _operands(argv[argv.index(verb, k + 1) + 1 :], _APT_VALUED)
            return PackageCommand(
                base, action, packages, where, -1, None, redirects=command.redirects
            )
    return None


def _operands(args: Sequence[str], valued: frozenset[str]) -> tuple[str, ...]:
    """The non-option arguments, skipping the values of ``valued`` options."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            continue
        elif arg.startswith("-"):
            skip = arg in valued
        else:
            out.append(arg)
    return tuple(out)


def _editable(line: RequirementLine) -> RequirementLine:
    return RequirementLine(
        line.requirement, line.location, line.hashes, True, line.constraint, line.raw, line.options
    )


# -- entry points -------------------------------------------------------------------------------


def parse_dockerfile(
    root: Path, path: str, build_args: Mapping[str, str] | None = None, *, first_line: str = ""
) -> Dockerfile:
    return parse_dockerfile_text(read_text(root, path), path, build_args, first_line=first_line)


def parse_dockerfile_text(
    text: str, path: str, build_args: Mapping[str, str] | None = None, *, first_line: str = ""
) -> Dockerfile:
    """Parse Dockerfile ``text`` as if read from ``path``; ``build_args`` override ARG
    defaults (only for ARGs the file declares, as ``docker build --build-arg`` does).
    ``first_line`` is an instruction the build writes above the file's first line."""
    return _Parser(path, build_args or {}).parse(text, first_line)
