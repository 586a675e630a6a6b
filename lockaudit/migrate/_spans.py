"""Where a ``RUN`` instruction and each command in it sit in the Dockerfile's own text.

The Dockerfile parser joins continuation lines before the shell splits them; a rewrite must
cut the *physical* text, so this module joins the lines the same way while remembering, for
every joined character, the offset it came from. Comment and blank lines inside a
continuation are dropped from the joined text (as BuildKit does) and so never cut in half:
an edit spans them only when it removes the lines around them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from lockaudit.errors import Location
from lockaudit.parsing.dockerfile import Instruction
from lockaudit.parsing.shell import ShellSyntaxError, SimpleCommand, split_commands

_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Lines:
    """A file's text with the offset where each physical line starts and ends."""

    text: str
    starts: tuple[int, ...]  # offset of line n (1-based) at index n - 1
    ends: tuple[int, ...]  # offset just past its line break (or the text's end)
    newline: str  # the file's line break, for inserted lines

    @classmethod
    def of(cls, text: str) -> Lines:
        starts, ends = [0], []
        for match in _BREAK.finditer(text):
            ends.append(match.end())
            starts.append(match.end())
        if starts[-1] == len(text):
            starts.pop()
        else:
            ends.append(len(text))
        first = _BREAK.search(text)
        return cls(text, tuple(starts), tuple(ends), first.group() if first else "\n")

    def line(self, number: int) -> str:
        """Line ``number`` without its break."""
        return _BREAK.sub("", self.text[self.starts[number - 1] : self.ends[number - 1]])

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Offsets of lines ``first``..``last``, line break of the last one included."""
        return self.starts[first - 1], self.ends[last - 1]


@dataclass(frozen=True)
class Command:
    """One simple command of a ``RUN``: its words, and its offsets in the file's text."""

    command: SimpleCommand
    start: int
    end: int
    line: int


@dataclass(frozen=True)
class RunText:
    """A shell-form ``RUN``: where it is in the file and the commands in it, in order."""

    start: int  # first character of the instruction's first line
    end: int  # past the line break of its last line
    commands: tuple[Command, ...]
    indent: str  # leading blanks of the instruction's first line
    exec_form: bool = False  # `RUN ["pip", "install", …]`: one command, the whole value


def run_text(lines: Lines, instruction: Instruction, escape: str = "\\") -> RunText | None:
    """The commands of a shell-form ``RUN``, or None (exec form, heredoc, cannot split)."""
    if instruction.heredocs or instruction.value.startswith("["):
        return None
    joined, origins, numbers = _join(lines, instruction.location.line, instruction.end_line, escape)
    at = joined.find(instruction.value, len(instruction.keyword))
    if at < 0:
        return None
    value = joined[at:]
    try:
        commands = split_commands(value, instruction.location)
    except ShellSyntaxError:
        return None
    found = []
    for command in commands:
        if not command.argv:
            continue
        start = _physical(origins, at + command.offset)
        end = _physical(origins, at + max(command.end, command.offset + 1) - 1) + 1
        found.append(Command(command, start, end, numbers[_piece(origins, at + command.offset)]))
    first_line = lines.line(instruction.location.line)
    indent = first_line[: len(first_line) - len(first_line.lstrip(" \t"))]
    start, end = lines.span(instruction.location.line, instruction.end_line)
    return RunText(start, end, tuple(found), indent)


# Per joined piece: (offset of the piece in the joined text, its physical offset).
_Origins = tuple[tuple[int, ...], tuple[int, ...]]


def _join(lines: Lines, first: int, last: int, escape: str) -> tuple[str, _Origins, list[int]]:
    pieces: list[str] = []
    joined_at: list[int] = []
    physical_at: list[int] = []
    numbers: list[int] = []
    size = 0
    for number in range(first, last + 1):
        line = lines.line(number)
        if pieces and (not line.strip() or line.lstrip().startswith("#")):
            continue
        stripped = line.rstrip(" \t")
        continued = stripped.endswith(escape) and not stripped.endswith(escape * 2)
        piece = stripped[:-1] if continued else line
        offset = lines.starts[number - 1]
        if not pieces:
            lead = len(piece) - len(piece.lstrip())
            piece, offset = piece[lead:], offset + lead
        joined_at.append(size)
        physical_at.append(offset)
        numbers.append(number)
        pieces.append(piece)
        size += len(piece)
        if not continued:
            break
    return "".join(pieces), (tuple(joined_at), tuple(physical_at)), numbers


def _piece(origins: _Origins, offset: int) -> int:
    return max(0, bisect_right(origins[0], offset) - 1)


def _physical(origins: _Origins, offset: int) -> int:
    k = _piece(origins, offset)
    return origins[1][k] + offset - origins[0][k]


def escape_of(lines: Lines) -> str:
    """The escape character the parser directives at the top of the file choose."""
    for number in range(1, len(lines.starts) + 1):
        match = re.fullmatch(r"#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*", lines.line(number))
        if match is None:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            return match.group(2)
    return "\\"


def location_of(path: str, lines: Lines, offset: int) -> Location:
    return Location(path, bisect_right(lines.starts, offset))
