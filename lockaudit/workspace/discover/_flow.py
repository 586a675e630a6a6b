"""Shell control flow in build scripts and CI steps, as far as static values decide it.

A build script often picks what it builds with ``if``/``elif``/``else`` and ``case``: the
Dockerfile by hardware (``case cuda) dockerfile=Dockerfile ;; rocm) …``), the base and tag by
its own command-line flags (``case $arg in -g|--gpu) BASE_IMAGE=nvidia/cuda:… ;;``). Read line
by line, every branch would run and the last assignment win. :class:`Flow` follows the branches
instead: a condition or a ``case`` word whose value is static takes its branch only; one whose
value only a run knows takes every branch (what a line-by-line reading did before).

A script's flags are its *options*: :func:`option_runs` lists one run per option arm (``-g``)
besides the run without options; an option that takes a value (``-bt "$2"``) runs once per
literal the script compares that variable with (``[ "$BUILD_TYPE" == "dev" ]``), given to the
variable where the arm sets it. Each run is read as its own configuration, so that
``build.sh -g`` is a build of its own.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lockaudit.errors import InputError, Location
from lockaudit.parsing.shell import SimpleCommand, split_commands
from lockaudit.workspace.discover._facts import UNKNOWN, is_static

_MAX_RUNS = 32  # options beyond these are not worth a configuration each

_IF = re.compile(r"^\s*(if|elif)\s+(.*?)\s*(?:;?\s*then)?\s*$", re.DOTALL)
_CASE = re.compile(r"^\s*case\s+(.+?)\s+in\s*$")
_ARM = re.compile(r"^\s*\(?\s*([^()]+?)\s*\)\s*(.*)$", re.DOTALL)
_OPTION_WORD = re.compile(r'^"?\$\{?(\d|[A-Za-z_]\w*)\}?"?$')
_FOR_ARGS = re.compile(r'^\s*for\s+(\w+)\s+in\s+"?\$[@*]"?')
_GETOPTS = re.compile(r"\bgetopts\s+\S+\s+(\w+)")
_VALUE = re.compile(r'^\s*(?:export\s+)?([A-Za-z_]\w*)=["\']?\$\{?(?:2|OPTARG)\}?["\']?\s*$')


@dataclass(frozen=True)
class Run:
    """One configuration of a script: the option arm taken (the ``case`` line and the arm's
    index) and the values its option takes; ``None`` arm: no option given."""

    case_line: int | None = None
    arm: int = -1
    values: tuple[tuple[str, str], ...] = ()
    label: str = ""  # the option, for messages (``-g|--gpu``)
    more: tuple[tuple[int, int], ...] = ()  # further (case line, arm) taken: a given argv

    @property
    def arms(self) -> frozenset[tuple[int, int]]:
        own = ((self.case_line, self.arm),) if self.case_line is not None else ()
        return frozenset((*own, *self.more))


@dataclass
class _Frame:
    kind: str  # "if" or "case"
    active: bool  # lines of the current branch run
    outer: bool  # the enclosing frames let lines run
    done: bool = False  # a branch was taken for sure: the others are skipped
    word: str | None = None  # the case word's value; None when only a run knows it
    options: bool = False  # the case parses the script's options
    arm: int = -1
    line: int = 0  # the case's own line: identifies it for a run
    in_arm: bool = False  # inside an arm's body (until its ``;;``)


@dataclass
class Flow:
    """Which lines of a script run, given the variables known when each is reached."""

    run: Run = field(default_factory=Run)
    option_vars: frozenset[str] = frozenset()
    frames: list[_Frame] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return all(f.active for f in self.frames)

    def step(
        self, number: int, text: str, env: dict[str, str],
        extra: Mapping[str, str] | None = None,
    ) -> str:
        """The part of the line that runs: ``""`` for a control line or a skipped branch.
        The run's option value replaces ``"$2"`` where its arm sets the variable; ``extra``
        holds values known for this line only (an enclosing ``for``)."""
        known = {**env, **(extra or {})}
        stripped = text.strip()
        frame = self.frames[-1] if self.frames else None
        ends_arm = False
        if frame is not None and frame.kind == "case" and stripped not in ("esac", "esac;"):
            if not frame.in_arm:
                match = _ARM.match(stripped)
                if match is None:
                    return ""
                frame.arm += 1
                frame.active = frame.outer and self._takes(frame, match.group(1))
                frame.done = frame.done or (frame.active and frame.word is not None)
                frame.in_arm = True
                stripped = match.group(2).strip()
            if stripped.endswith((";;", ";&")):
                stripped, ends_arm = stripped[:-2].strip(), True
        result = self._line(number, stripped, env, known)
        if ends_arm and self.frames and self.frames[-1] is frame and frame is not None:
            frame.in_arm = False
        return result

    def _line(
        self, number: int, stripped: str, env: dict[str, str], known: Mapping[str, str]
    ) -> str:
        frame = self.frames[-1] if self.frames else None
        first = stripped.split(None, 1)[0] if stripped else ""
        if first in ("if", "elif") and not re.search(r"(^|[;\s])fi\s*;?\s*$", stripped):
            self._if(first, stripped, number, known)
            return ""
        if stripped in ("then", "then;", ""):
            return ""
        if stripped in ("else", "else;"):
            if frame is not None and frame.kind == "if":
                frame.active = frame.outer and not frame.done
            return ""
        if stripped in ("fi", "fi;"):
            if frame is not None and frame.kind == "if":
                self.frames.pop()
            return ""
        case = _CASE.match(stripped)
        if case is not None:
            self._case(case.group(1), number, known)
            return ""
        if stripped in ("esac", "esac;"):
            if frame is not None and frame.kind == "case":
                self.frames.pop()
            return ""
        if not self.active:
            return ""
        value = _VALUE.match(stripped)
        values = dict(self.run.values)
        if value is not None and value.group(1) in values and self._in_run_arm():
            return f"{value.group(1)}={shlex.quote(values[value.group(1)])}"
        return stripped

    def _in_run_arm(self) -> bool:
        return any(f.kind == "case" and f.options and (f.line, f.arm) in self.run.arms
                   for f in self.frames)

    def _if(self, keyword: str, text: str, number: int, env: Mapping[str, str]) -> None:
        match = _IF.match(text)
        condition = match.group(2) if match else ""
        if keyword == "if" or not self.frames or self.frames[-1].kind != "if":
            outer = self.active
            value = evaluate(condition, number, env) if outer else False
            self.frames.append(_Frame("if", outer and value is not False, outer, value is True))
            return
        frame = self.frames[-1]
        if frame.done or not frame.outer:
            frame.active = False
            return
        value = evaluate(condition, number, env)
        frame.active = value is not False
        frame.done = value is True

    def _case(self, word_text: str, number: int, env: Mapping[str, str]) -> None:
        outer = self.active
        word = _value(word_text, number, env)
        options = _is_option_word(word_text, self.option_vars)
        self.frames.append(_Frame("case", False, outer, word=word, options=options, line=number))

    def _takes(self, frame: _Frame, patterns: str) -> bool:
        if frame.options:
            return (frame.line, frame.arm) in self.run.arms
        if frame.word is None:
            return True  # only a run knows the word: every arm may run
        if frame.done:
            return False
        return any(fnmatch.fnmatchcase(frame.word, p.strip().strip("'\""))
                   for p in patterns.split("|"))


def _is_option_word(word_text: str, option_vars: frozenset[str]) -> bool:
    match = _OPTION_WORD.match(word_text.strip())
    return match is not None and (match.group(1) == "1" or match.group(1) in option_vars)


def _value(text: str, number: int, env: Mapping[str, str]) -> str | None:
    try:
        commands = split_commands(text, Location("", number), _with_unknown(text, env))
    except InputError:
        return None
    words = [w for c in commands for w in c.argv]
    if len(words) != 1 or not is_static(words[0]):
        return None
    return words[0]


def _with_unknown(text: str, env: Mapping[str, str]) -> dict[str, str]:
    known = dict(env)
    for match in re.finditer(r"\$(?:\{([A-Za-z_]\w*|\d)|([A-Za-z_]\w*|\d))", text):
        known.setdefault(match.group(1) or match.group(2), UNKNOWN)
    return known


def evaluate(condition: str, number: int, env: Mapping[str, str]) -> bool | None:
    """The value of an ``if`` condition: ``[``/``[[``/``test`` comparisons, ``-z``/``-n``,
    ``true``/``false`` (``$FLAG`` set to either), ``!``, ``&&`` and ``||``; None when only a
    run would know."""
    try:
        commands = split_commands(condition, Location("", number), _with_unknown(condition, env))
    except InputError:
        return None
    result: bool | None = None
    pending_op = ""
    for command in commands:  # [[ a && b ]] is split at its && too: each part is a test
        value = _test(command)
        if not pending_op:
            result = value
        elif pending_op == "&&":
            result = _and(result, value)
        else:
            result = _or(result, value)
        pending_op = command.separator if command.separator in ("&&", "||") else ""
    return result


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return True if a is True and b is True else None


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return False if a is False and b is False else None


def _test(command: SimpleCommand) -> bool | None:
    argv = list(command.argv)
    negate = command.reserved.count("!") % 2 == 1  # `! cmd`: the lexer keeps `!` apart
    while argv[:1] == ["!"]:
        negate, argv = not negate, argv[1:]
    if not argv:
        return None
    bracketed = argv[0] in ("[", "[[", "test") or argv[-1] in ("]", "]]")
    if argv[0] in ("[", "[[", "test"):
        argv = argv[1:]
    if argv[-1:] in (["]"], ["]]"]):
        argv = argv[:-1]
    while argv[:1] == ["!"]:
        negate, argv = not negate, argv[1:]
    value = _compare(argv, bracketed=bracketed)
    return None if value is None else value != negate


def _compare(argv: list[str], *, bracketed: bool) -> bool | None:
    if not all(is_static(word) for word in argv):
        return None  # a variable nobody sets, a command substitution: only a run knows
    if not bracketed:
        if argv == ["true"]:
            return True
        if argv == ["false"]:
            return False
        return None  # another command: only a run knows whether it succeeds
    if len(argv) == 3 and argv[1] in ("=", "==", "!="):
        equal = fnmatch.fnmatchcase(argv[0], argv[2]) if argv[1] != "=" else argv[0] == argv[2]
        return equal if argv[1] != "!=" else not equal
    if len(argv) == 2 and argv[0] in ("-z", "-n"):
        return (argv[1] == "") == (argv[0] == "-z")
    if len(argv) == 1:
        return argv[0] != ""
    return None


def option_runs(lines: Sequence[tuple[int, str]]) -> tuple[Run, ...]:
    """The runs of a script that parses its own options: none given, then each option arm
    (an option taking a value: once per literal the script compares its variable with)."""
    option_vars = option_variables(lines)
    text = "\n".join(t for _, t in lines)
    runs: list[Run] = [Run()]
    index = 0
    while index < len(lines):
        number, line = lines[index]
        case = _CASE.match(line.strip())
        index += 1
        if case is None or not _is_option_word(case.group(1), option_vars):
            continue
        arms, index = _arms(lines, index)
        for arm, (label, body) in enumerate(arms):
            if _exits(body):
                continue  # --help and the like: no build
            valued = [m.group(1) for b in body if (m := _VALUE.match(b)) is not None]
            if not valued:
                runs.append(Run(number, arm, (), label))
                continue
            for value in compared_values(text, valued[0]):
                runs.append(Run(number, arm, ((valued[0], value),), f"{label} {value}"))
    return tuple(runs[:_MAX_RUNS])


def argv_run(lines: Sequence[tuple[int, str]], argv: Sequence[str]) -> Run:
    """The run of a script called with ``argv`` (a CI step's ``./build_image.sh -bt ci -t
    x:ci``): each word takes the option arm whose patterns it matches, an arm that sets a
    variable from ``"$2"`` takes the next word as its value when that is static."""
    option_vars = option_variables(lines)
    arms: list[tuple[int, int]] = []
    values: list[tuple[str, str]] = []
    index = 0
    while index < len(lines):
        number, line = lines[index]
        case = _CASE.match(line.strip())
        index += 1
        if case is None or not _is_option_word(case.group(1), option_vars):
            continue
        parsed, index = _arms(lines, index)
        position = 0
        while position < len(argv):
            word = argv[position]
            position += 1
            for arm, (patterns, body) in enumerate(parsed):
                if not any(fnmatch.fnmatchcase(word, p.strip().strip("'\""))
                           for p in patterns.split("|")):
                    continue
                arms.append((number, arm))
                valued = [m.group(1) for b in body if (m := _VALUE.match(b)) is not None]
                if valued and position < len(argv):
                    if is_static(argv[position]):
                        values.append((valued[0], argv[position]))
                    position += 1
                break
    return Run(values=tuple(values), label=" ".join(argv), more=tuple(arms))


def _exits(body: Sequence[str]) -> bool:
    """The arm's own body (not a branch of an ``if`` in it) runs ``exit``."""
    depth = 0
    for line in body:
        first = line.split(None, 1)[0] if line.split() else ""
        if first == "if" and not re.search(r"(^|[;\s])fi\s*;?\s*$", line):
            depth += 1
        elif first in ("fi", "fi;"):
            depth -= 1
        elif depth == 0 and re.search(r"(^|[;\s])exit\b", line):
            return True
    return False


def option_variables(lines: Sequence[tuple[int, str]]) -> frozenset[str]:
    """Variables that hold the script's arguments: ``for arg in "$@"``, ``getopts … opt``."""
    found = set()
    for _, line in lines:
        match = _FOR_ARGS.match(line) or _GETOPTS.search(line)
        if match is not None:
            found.add(match.group(1))
    return frozenset(found)


def _arms(
    lines: Sequence[tuple[int, str]], index: int
) -> tuple[list[tuple[str, list[str]]], int]:
    """The arms of a ``case`` (patterns and body lines) and the index after its ``esac``."""
    arms: list[tuple[str, list[str]]] = []
    depth = 0
    in_arm = False
    while index < len(lines):
        text = lines[index][1].strip()
        index += 1
        if _CASE.match(text):
            depth += 1
        if text in ("esac", "esac;"):
            if depth == 0:
                break
            depth -= 1
        if depth == 0 and not in_arm:
            match = _ARM.match(text)
            if match is None:
                continue
            arms.append((match.group(1).strip(), []))
            text, in_arm = match.group(2), True
        if arms:
            arms[-1][1].append(text)
        if depth == 0 and text.rstrip().endswith((";;", ";&")):
            in_arm = False
    return arms, index


def compared_values(text: str, name: str) -> list[str]:
    """Literals ``text`` compares variable ``name`` with (``[ "$X" == "dev" ]``), in order."""
    pattern = re.compile(
        rf'\$\{{?{re.escape(name)}\}}?"?\s*(?:==|=|!=)\s*"?([A-Za-z0-9_][\w.:/+-]*)"?'
    )
    return list(dict.fromkeys(m.group(1) for m in pattern.finditer(text)))
