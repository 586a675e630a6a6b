"""Shell words as POSIX ``sh`` would split a ``RUN`` line, for the parts an audit needs.

Nothing is executed. Quotes, backslash escapes, ``$VAR`` / ``${VAR}`` / ``${VAR:-default}``
expansion (from a caller's mapping; unknown names expand to the empty string, as ``sh`` does,
and are recorded), command separators and redirections are understood. Command substitution
(``$(...)``, backticks) is kept as literal text: its output cannot be known statically.

A redirection operator inside an unquoted word splits it, exactly as ``sh`` does: ``pkg>=2.0``
becomes the argument ``pkg`` plus a redirection to a file named ``=2.0``. That is the hazard
the check rules report, so redirections are kept as data (:class:`Redirect`).

Each :class:`SimpleCommand` records how it is chained (``separator``: ``&&``, ``||``, ``;``,
``|``, ``&``, newline), its nesting ``depth`` in ``( )``/``{ }``/``if``/loops, and where it is
in the text (``offset``..``end``). :func:`masking` applies the shell's exit-status rules to say
whether a command's failure fails the script (``|| true``, ``| tee``, ``;`` without ``set -e``,
and ``set -e`` not applying inside ``&&`` lists); the tests check it against the real ``sh``.

Decision: our own lexer, not bashlex (the maintained Python bash parser). Measured on the
91 shell-form RUN lines of the workspace's, the examples' and the tests' Dockerfiles and 27
edge cases: bashlex 0.18 parsed 90/91 and 24/27 (``case ... esac`` and ``$((...))`` raise
NotImplementedError, ``[[ ... ]]`` a ParsingError; its here-document value keeps the delimiter
line) at 0.41 ms a line; this module parsed 91/91 and 27/27 at 0.09 ms. On the 924 RUN lines of
the real-world corpus's Dockerfiles: bashlex 915/924 (4 NotImplementedError, 5 ParsingError)
at 2.8 ms a line, this module 924/924 at 0.6 ms (a loaded machine). bashlex also expands no
variables (ARG/ENV values are needed to read ``pip install torch==$TORCH``), and it is GPLv3+
while lockaudit is MIT. Compound commands are therefore flattened here (their inner commands in
order, the reserved words dropped, ``depth`` kept); that is all an audit of installs needs.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from lockaudit.errors import InputError, Location

__all__ = [
    "LIST_ENDS",
    "Masking",
    "Redirect",
    "ShellSyntaxError",
    "SimpleCommand",
    "always_succeeds",
    "and_or_list",
    "errexit_at",
    "expand_words",
    "masking",
    "reached",
    "split_commands",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SPECIAL_PARAMS = frozenset("@*#?-$!0123456789")
_BLANKS = " \t"
# Words that open or close compound commands: dropped from the front of a command so that
# `if true; then pip install x; fi` still shows `pip install x`.
_RESERVED = frozenset(
    {"!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"}
)
_OPENERS = frozenset({"{", "if", "do"})
_CLOSERS = frozenset({"}", "fi", "done"})
# Longest first: the lexer takes the longest operator that matches.
_CONTROL_OPS = ("&&", "||", ";;", ";", "|", "&", "(", ")", "\n")
# Operators that end an and-or list, and those that chain commands inside one.
LIST_ENDS = frozenset({";", ";;", "&", "(", ")", "\n", ""})
_CHAINING = frozenset({"&&", "||", "|"})
_REDIRECT_OPS = ("&>>", "<<-", ">>", "<<", ">&", "<&", "<>", ">|", "&>", ">", "<")


class ShellSyntaxError(InputError):
    """A shell command cannot be split (an unterminated quote or expansion).

    ``offset`` is the character offset in the text given to :func:`split_commands`, so a caller
    that joined continuation lines can name the physical line.
    """

    def __init__(self, location: Location, message: str, *, offset: int = 0) -> None:
        super().__init__(location, message, hint="check the quoting of this command")
        self.offset = offset


@dataclass(frozen=True)
class Redirect:
    """One redirection: ``op`` with its io number when written (``2>``, ``2>&``), its target
    word after expansion, and ``word_index``, the position in ``argv`` where it occurred."""

    op: str
    target: str
    word_index: int


@dataclass(frozen=True)
class SimpleCommand:
    """One simple command: its argument vector after expansion and quote removal.

    ``raw_words`` are the blank-separated chunks as written, quotes kept (``pkg>=2.0`` stays one
    chunk). ``word_offsets`` give the offset in the input text where each ``argv`` word starts,
    ``word_lines`` its line (the caller's line plus the newlines before it). ``assignments`` are
    leading ``NAME=value`` words, removed from ``argv``. ``unknown_vars`` are names expanded to
    the empty string because the mapping had no value for them.
    """

    argv: tuple[str, ...]
    redirects: tuple[Redirect, ...]
    raw_words: tuple[str, ...]
    word_offsets: tuple[int, ...] = ()
    word_lines: tuple[int, ...] = ()
    assignments: tuple[tuple[str, str], ...] = ()
    unknown_vars: tuple[str, ...] = ()
    offset: int = 0
    line: int = 0
    end: int = 0  # offset just past the command's last word or redirection
    separator: str = ""  # the control operator after it: && || ; | & ;; ( ) newline, or ""
    depth: int = 0  # nesting in ( ), { }, if/fi, do/done where the command starts
    reserved: tuple[str, ...] = ()  # reserved words dropped before it (`then`, `else` ...)


@dataclass
class _Word:
    """A word being built: pieces of text, each marked splittable when it came from an
    unquoted expansion (subject to field splitting)."""

    start: int
    pieces: list[tuple[str, bool]] = field(default_factory=list)
    quoted: bool = False
    unknown: list[str] = field(default_factory=list)

    def add(self, text: str, *, splittable: bool = False) -> None:
        self.pieces.append((text, splittable))

    def fields(self) -> list[str]:
        """Field splitting of unquoted expansions on blanks; a word made only of an empty
        unquoted expansion disappears, as in ``sh``."""
        out: list[str] = []
        current: list[str] = []
        have = self.quoted
        for text, splittable in self.pieces:
            if not splittable:
                current.append(text)
                have = have or bool(text)
                continue
            parts = re.split(r"[ \t\n]+", text)
            for i, part in enumerate(parts):
                if i > 0 and (have or current):
                    out.append("".join(current))
                    current, have = [], False
                if part:
                    current.append(part)
                    have = True
        if have or current:
            out.append("".join(current))
        return out

    def literal(self) -> str:
        return "".join(text for text, _ in self.pieces)


@dataclass
class _Command:
    start: int = -1
    words: list[tuple[str, int]] = field(default_factory=list)  # (text, offset)
    redirects: list[Redirect] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    end: int = 0


class _Lexer:
    """A single pass over the text; one instance per call."""

    def __init__(
        self, text: str, location: Location, env: Mapping[str, str], *, operators: bool
    ) -> None:
        self.text = text
        self.location = location
        self.env = dict(env)
        self.operators = operators
        self.pos = 0
        self.commands: list[SimpleCommand] = []
        self.command = _Command()
        self.pending_redirect: tuple[str, int] | None = None
        self.heredocs: list[tuple[str, bool]] = []
        self.raw_start: int | None = None
        self.depth = 0
        self.opened = False  # a `(` was just read: the next command starts a subshell

    # -- errors and positions ------------------------------------------------------------------

    def line_of(self, offset: int) -> int:
        return self.location.line + self.text.count("\n", 0, offset)

    def error(self, message: str, offset: int) -> ShellSyntaxError:
        return ShellSyntaxError(
            Location(self.location.path, self.line_of(offset)), message, offset=offset
        )

    # -- driver --------------------------------------------------------------------------------

    def run(self) -> tuple[SimpleCommand, ...]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in _BLANKS:
                self.end_raw()
                self.pos += 1
            elif ch == "\\" and text.startswith("\\\n", self.pos):
                self.end_raw()
                self.pos += 2  # a line continuation between words
            elif ch == "#":
                self.end_raw()
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif self.operators and self.take_operator():
                continue
            else:
                self.read_word()
        self.end_raw()
        self.finish_command()
        if self.pending_redirect is not None:
            op, offset = self.pending_redirect
            raise self.error(f"redirection '{op}' has no target", offset)
        return tuple(self.commands)

    def take_operator(self) -> bool:
        text, pos = self.text, self.pos
        if text.startswith("&>", pos):  # bash's `&>file`, before `&` is taken as a separator
            op = "&>>" if text.startswith("&>>", pos) else "&>"
            self.start_redirect(op, pos, pos)
            self.pos += len(op)
            return True
        for op in _CONTROL_OPS:
            if text.startswith(op, pos):
                self.end_raw()
                self.pos += len(op)
                self.finish_command(op)
                self.depth += {"(": 1, ")": -1}.get(op, 0)
                self.opened = self.opened or op == "("
                if op == "\n":
                    self.read_heredoc_bodies()
                return True
        for op in _REDIRECT_OPS:
            if text.startswith(op, pos):
                self.start_redirect(op, pos, pos)
                self.pos += len(op)
                return True
        return False

    def start_redirect(self, op: str, op_start: int, raw_from: int) -> None:
        if self.pending_redirect is not None:
            raise self.error(f"redirection '{self.pending_redirect[0]}' has no target", op_start)
        self.mark_raw(raw_from)
        self.pending_redirect = (op, op_start)

    # -- raw words (as written, split only on blanks) -------------------------------------------

    def mark_raw(self, offset: int) -> None:
        if self.raw_start is None:
            self.raw_start = offset

    def end_raw(self) -> None:
        if self.raw_start is not None:
            raw = self.text[self.raw_start : self.pos].replace("\\\n", "")
            if raw:
                self.command.raw.append(raw)
            self.raw_start = None

    # -- words ---------------------------------------------------------------------------------

    def read_word(self) -> None:
        text = self.text
        start = self.pos
        self.mark_raw(start)
        word = _Word(start)
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in _BLANKS or (self.operators and ch in ";&|()\n"):
                break
            if self.operators and ch in "<>":
                # An io number: digits alone right before the operator (`2>`), unquoted.
                literal = word.literal()
                if literal.isdigit() and not word.quoted and len(word.pieces) >= 1:
                    op = next(o for o in _REDIRECT_OPS if text.startswith(o, self.pos))
                    self.start_redirect(literal + op, start, start)
                    self.pos += len(op)
                    return
                break
            if ch == "\n":  # only reached without operators: a plain blank
                break
            self.read_piece(word)
        self.finish_word(word)

    def read_piece(self, word: _Word) -> None:
        text = self.text
        ch = text[self.pos]
        if ch == "\\":
            if self.pos + 1 >= len(text):
                word.add("\\")
                self.pos += 1
            elif text[self.pos + 1] == "\n":
                self.pos += 2
            else:
                word.add(text[self.pos + 1])
                word.quoted = True
                self.pos += 2
        elif ch == "'":
            end = text.find("'", self.pos + 1)
            if end < 0:
                raise self.error("unterminated single quote", self.pos)
            word.add(text[self.pos + 1 : end])
            word.quoted = True
            self.pos = end + 1
        elif ch == '"':
            self.read_double_quoted(word)
        elif ch == "$":
            self.read_dollar(word, quoted=False)
        elif ch == "`":
            word.add(self.read_backticks())
        else:
            word.add(ch)
            self.pos += 1

    def read_double_quoted(self, word: _Word) -> None:
        text = self.text
        open_at = self.pos
        self.pos += 1
        word.quoted = True
        while True:
            if self.pos >= len(text):
                raise self.error("unterminated double quote", open_at)
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return
            if ch == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in '$`"\\\n':
                if text[self.pos + 1] != "\n":
                    word.add(text[self.pos + 1])
                self.pos += 2
            elif ch == "$":
                self.read_dollar(word, quoted=True)
            elif ch == "`":
                word.add(self.read_backticks())
            else:
                word.add(ch)
                self.pos += 1

    def read_backticks(self) -> str:
        text = self.text
        open_at = self.pos
        pos = self.pos + 1
        while pos < len(text) and text[pos] != "`":
            pos += 2 if text[pos] == "\\" else 1
        if pos >= len(text):
            raise self.error("unterminated command substitution '`'", open_at)
        self.pos = pos + 1
        return text[open_at : self.pos]

    def read_dollar(self, word: _Word, *, quoted: bool) -> None:
        text = self.text
        start = self.pos
        nxt = text[start + 1] if start + 1 < len(text) else ""
        if nxt == "(":
            word.add(self.read_parenthesised(start))
        elif nxt == "{":
            self.read_braced(word, quoted=quoted)
        elif nxt and (nxt in _SPECIAL_PARAMS):
            self.pos = start + 2
            self.expand(word, nxt, None, quoted=quoted)
        elif match := _NAME.match(text, start + 1):
            self.pos = match.end()
            self.expand(word, match.group(), None, quoted=quoted)
        else:
            word.add("$")  # a lone dollar is literal
            self.pos = start + 1

    def read_parenthesised(self, start: int) -> str:
        """``$(...)`` or ``$((...))``: kept literally, with nesting and quotes respected."""
        text = self.text
        depth = 0
        pos = start + 1
        while pos < len(text):
            ch = text[pos]
            if ch == "\\":
                pos += 2
                continue
            if ch == "'":
                end = text.find("'", pos + 1)
                if end < 0:
                    raise self.error("unterminated single quote", pos)
                pos = end + 1
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    self.pos = pos + 1
                    return text[start : self.pos]
            pos += 1
        raise self.error("unterminated command substitution '$('", start)

    def read_braced(self, word: _Word, *, quoted: bool) -> None:
        text = self.text
        start = self.pos
        end = self.find_closing_brace(start + 2)
        body = text[start + 2 : end]
        self.pos = end + 1
        match = re.fullmatch(
            r"([A-Za-z_][A-Za-z0-9_]*|[@*#?$!0-9-])(?:(:?[-=+?])(.*))?", body, re.DOTALL
        )
        if match is None:
            if not body:
                raise self.error("bad substitution '${}'", start)
            trim = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(##?|%%?)(.*)", body, re.DOTALL)
            value = self.env.get(trim.group(1)) if trim else None
            if trim is None or value is None or "\x00" in value:  # NUL: a caller's unknown
                # Length and substring operators, a pattern on an unset variable: kept
                # literally, not evaluated.
                word.add(text[start : self.pos])
                return
            pattern = self.expand_argument(trim.group(3), word)
            word.add(_trim(value, trim.group(2), pattern), splittable=not quoted)
            return
        name, op, arg = match.group(1), match.group(2), match.group(3)
        self.expand(word, name, (op, arg) if op else None, quoted=quoted)

    def find_closing_brace(self, pos: int) -> int:
        text = self.text
        depth = 1
        open_at = pos - 2
        while pos < len(text):
            ch = text[pos]
            if ch == "\\":
                pos += 2
                continue
            if ch == "'" or ch == '"':
                end = text.find(ch, pos + 1)
                if end < 0:
                    break
                pos = end + 1
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return pos
            pos += 1
        raise self.error("unterminated parameter expansion '${'", open_at)

    def expand(
        self, word: _Word, name: str, operation: tuple[str, str] | None, *, quoted: bool
    ) -> None:
        value = self.env.get(name)
        if operation is not None:
            op, arg = operation
            unset = value is None or (op.startswith(":") and value == "")
            arg_value = self.expand_argument(arg, word)
            if op.endswith("-") or op.endswith("="):
                if unset:
                    value = arg_value
                    if op.endswith("="):
                        self.env[name] = arg_value
            elif op.endswith("+"):
                value = "" if unset else arg_value
            elif unset:  # `?`: sh would abort; treat as unknown
                value = None
        if value is None:
            word.unknown.append(name)
            value = ""
        if value or quoted:
            word.add(value, splittable=not quoted)
        elif not quoted:
            word.add("", splittable=True)

    def expand_argument(self, arg: str, word: _Word) -> str:
        """The word of ``${X:-word}``: quotes removed and variables expanded."""
        if not arg:
            return ""
        inner = _Lexer(arg, self.location, self.env, operators=False)
        inner_word = _Word(0)
        while inner.pos < len(arg):
            inner.read_piece(inner_word)
        word.unknown.extend(inner_word.unknown)
        return inner_word.literal()

    def finish_word(self, word: _Word) -> None:
        self.command.unknown.extend(word.unknown)
        self.command.end = self.pos
        if self.pending_redirect is not None:
            op, _ = self.pending_redirect
            self.pending_redirect = None
            target = word.literal()
            self.command.redirects.append(Redirect(op, target, len(self.command.words)))
            if op in ("<<", "<<-"):
                self.heredocs.append((target, op == "<<-"))
            return
        for text in word.fields():
            if self.command.start < 0:
                self.command.start = word.start
            self.command.words.append((text, word.start))

    # -- commands ------------------------------------------------------------------------------

    def read_heredoc_bodies(self) -> None:
        """Skip the bodies of heredocs opened on the line just ended."""
        text = self.text
        for delimiter, strip_tabs in self.heredocs:
            while self.pos < len(text):
                end = text.find("\n", self.pos)
                end = len(text) if end < 0 else end
                line = text[self.pos : end]
                self.pos = min(end + 1, len(text))
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        self.heredocs = []

    def finish_command(self, separator: str = "") -> None:
        command = self.command
        self.command = _Command()
        if self.pending_redirect is not None:
            op, offset = self.pending_redirect
            raise self.error(f"redirection '{op}' has no target", offset)
        words = command.words
        redirects = command.redirects
        # Leading reserved words and assignments are not part of the argument vector.
        dropped = 0
        assignments: list[tuple[str, str]] = []
        reserved: list[str] = ["("] if self.opened and words else []
        self.opened = self.opened and not words
        while dropped < len(words):
            text = words[dropped][0]
            if text in _RESERVED:
                dropped += 1
                reserved.append(text)
                self.depth += (text in _OPENERS) - (text in _CLOSERS)
            elif _ASSIGNMENT.match(text):
                name, _, value = text.partition("=")
                assignments.append((name, value))
                dropped += 1
            else:
                break
        words = words[dropped:]
        redirects = [Redirect(r.op, r.target, max(0, r.word_index - dropped)) for r in redirects]
        if not words:
            # `NAME=value` alone sets a shell variable for the commands that follow.
            self.env.update(assignments)
            if not redirects:
                self.carry_separator(separator)
                return
        elif words[0][0] == "export":
            for text, _ in words[1:]:
                if _ASSIGNMENT.match(text):
                    name, _, value = text.partition("=")
                    self.env[name] = value
        start = words[0][1] if words else max(command.start, 0)
        self.commands.append(
            SimpleCommand(
                argv=tuple(text for text, _ in words),
                redirects=tuple(redirects),
                raw_words=tuple(command.raw),
                word_offsets=tuple(offset for _, offset in words),
                word_lines=tuple(self.line_of(offset) for _, offset in words),
                assignments=tuple(assignments),
                unknown_vars=tuple(dict.fromkeys(command.unknown)),
                offset=start,
                line=self.line_of(start),
                end=max(command.end, start),
                separator=separator,
                depth=self.depth,
                reserved=tuple(reserved),
            )
        )

    def carry_separator(self, separator: str) -> None:
        """An empty command (``}``, ``fi``, ``)`` ...) passes a chaining operator back to the
        command before it: in ``{ a; } || true`` the ``||`` applies to ``a``'s status."""
        if self.commands and separator in _CHAINING and self.commands[-1].separator in LIST_ENDS:
            self.commands[-1] = replace(self.commands[-1], separator=separator)


# -- what a failure does ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Masking:
    """Why a command's failure does not fail the script (``sh -c``'s exit status stays 0).

    ``kind`` is ``fallback`` (``|| cmd`` runs instead), ``pipe`` (``| cmd``: a pipeline's
    status is its last command's unless ``pipefail``), ``sequence`` (a later command's status is
    the script's: no ``set -e``, or the command is not the last of an ``&&`` list, where
    ``set -e`` does not apply), ``background`` (``&``). ``by`` is the command whose status wins.
    ``rethrows`` is True for a fallback that fails the script anyway (``|| exit 1``).
    """

    kind: str
    operator: str
    by: SimpleCommand | None
    rethrows: bool = False


_SUCCEEDS = frozenset({"true", ":", "echo", "printf"})


def _trim(value: str, op: str, pattern: str) -> str:
    """``${X#p}``, ``${X##p}``, ``${X%p}``, ``${X%%p}``: the shortest (one sign) or longest
    (two) prefix (``#``) or suffix (``%``) matching the glob ``pattern`` removed."""
    cuts = range(len(value) + 1)
    ordered = reversed(cuts) if len(op) == 2 else cuts
    for cut in ordered:
        if op[0] == "#" and fnmatch.fnmatchcase(value[:cut], pattern):
            return value[cut:]
        if op[0] == "%" and fnmatch.fnmatchcase(value[len(value) - cut :], pattern):
            return value[: len(value) - cut]
    return value


def and_or_list(commands: Sequence[SimpleCommand], index: int) -> tuple[int, int]:
    """``(first, last)`` indexes of the and-or list (``a | b && c || d``) holding ``index``."""
    first = index
    while first > 0 and commands[first - 1].separator not in LIST_ENDS:
        first -= 1
    last = index
    while last + 1 < len(commands) and commands[last].separator not in LIST_ENDS:
        last += 1
    return first, last


def errexit_at(
    commands: Sequence[SimpleCommand], index: int, *, errexit: bool = False, pipefail: bool = False
) -> tuple[bool, bool]:
    """Whether ``set -e`` and ``set -o pipefail`` are in effect at ``commands[index]``, given
    the shell's own flags (``SHELL ["/bin/bash", "-eo", "pipefail", "-c"]``)."""
    for command in commands[:index]:
        if command.argv[:1] != ("set",):
            continue
        args = command.argv[1:]
        for position, arg in enumerate(args):
            if arg[:1] in "-+" and arg[1:] and arg[1] != "-" and arg[1:].isalpha():
                on = arg[0] == "-"
                if "e" in arg[1:]:
                    errexit = on
                if "o" in arg[1:] and position + 1 < len(args):
                    option = args[position + 1]
                    errexit = on if option == "errexit" else errexit
                    pipefail = on if option == "pipefail" else pipefail
    return errexit, pipefail


def masking(
    commands: Sequence[SimpleCommand], index: int, *, errexit: bool = False, pipefail: bool = False
) -> Masking | None:
    """Why a failure of ``commands[index]`` would not fail the script, or None if it would.

    The rules of ``sh`` (POSIX 2.9): a pipeline's status is its last command's (``pipefail``
    aside); ``a || b`` runs ``b`` when ``a`` fails; ``set -e`` does not exit for a command of an
    ``&&``/``||`` list other than the last; without ``set -e`` the script's status is its last
    command's. ``errexit``/``pipefail`` are the shell's flags; ``set`` in the script is read.
    """
    errexit, pipefail = errexit_at(commands, index, errexit=errexit, pipefail=pipefail)
    here = commands[index]
    if here.separator == "|" and not pipefail and index + 1 < len(commands):
        return Masking("pipe", "|", commands[index + 1])
    position = index
    while commands[position].separator == "|" and position + 1 < len(commands):
        position += 1  # the end of this pipeline
    depth, j, last_of_list = here.depth, position, True
    while True:
        # Along the and-or list at `depth`; a compound command in it (`&& if ...; fi`) is
        # stepped over to its last command, which carries the compound's operator.
        while commands[j].separator in _CHAINING and j + 1 < len(commands):
            if commands[j].separator == "||":
                return _fallback(commands, j + 1, depth)
            if commands[j].separator == "|" and not pipefail:
                return Masking("pipe", "|", commands[j + 1])
            last_of_list = False
            j += 1
            while j + 1 < len(commands) and _inside(commands[j + 1], depth):
                j += 1
        group = _group_end(commands, j, depth)
        if group is None:
            break
        j, depth = group, depth - 1  # the list ended its branch: the compound goes on
    end = commands[j].separator
    if end == "&":
        return Masking("background", "&", None)
    later = _later(commands[j + 1 :], depth)
    if end == ";;" or not later:
        return None
    if errexit and last_of_list:
        return None
    return Masking("sequence", end or ";", later[-1])


_COMPOUND_STARTS = frozenset({"{", "(", "if"})


def _inside(command: SimpleCommand, depth: int) -> bool:
    """Whether ``command`` continues a compound command entered from ``depth`` (rather than
    starting the next one)."""
    starts = bool(command.reserved) and command.reserved[0] in _COMPOUND_STARTS
    return command.depth > depth and not (command.depth == depth + 1 and starts)


def _group_end(commands: Sequence[SimpleCommand], last: int, depth: int) -> int | None:
    """When the list ending at ``last`` is the last of its ``if`` branch, the index of the
    compound's last command (it carries the compound's operator); None otherwise."""
    past = False  # in a later branch of the same `if`
    for j in range(last + 1, len(commands)):
        command = commands[j]
        if command.depth < depth:
            return j - 1 if past else None
        if command.depth == depth and {"else", "elif"} & set(command.reserved):
            past = True
        elif not past:
            return None
    return None


def _later(commands: Sequence[SimpleCommand], depth: int) -> list[SimpleCommand]:
    """The commands that run after a list at ``depth``: an ``else``/``elif`` branch of the same
    ``if`` does not (the ``if``'s status is the branch's), what follows the ``fi`` does."""
    out: list[SimpleCommand] = []
    other_branch = False
    for command in commands:
        if command.depth < depth:
            other_branch = False
            depth = command.depth
        if command.depth == depth and {"else", "elif"} & set(command.reserved):
            other_branch = True
        if not other_branch and command.argv:
            out.append(command)
    return out


def _fallback(commands: Sequence[SimpleCommand], start: int, depth: int) -> Masking:
    """``|| ...``: the commands run instead; they rethrow when one of them fails on purpose."""
    region: list[SimpleCommand] = []
    for command in commands[start:]:
        if command.depth < depth or (
            command.depth == depth and region and region[-1].separator in LIST_ENDS
        ):
            break
        region.append(command)
    rethrows = any(_fails_on_purpose(c) for c in region)
    first = next((c for c in region if c.argv), None)
    return Masking("fallback", "||", first, rethrows=rethrows)


def _fails_on_purpose(command: SimpleCommand) -> bool:
    argv = command.argv
    if argv[:1] in (("exit",), ("return",)):
        return len(argv) < 2 or argv[1] != "0"  # bare `exit` keeps the failed status
    return argv[:1] == ("false",)


def always_succeeds(command: SimpleCommand | None) -> bool:
    """``true``, ``:``, ``echo``, ``printf``: a fallback that turns any failure into success."""
    return command is not None and bool(command.argv) and command.argv[0] in _SUCCEEDS


# -- which branch of an `if` runs -----------------------------------------------------------------


def reached(commands: Sequence[SimpleCommand]) -> tuple[bool, ...]:
    """For each command, whether ``sh`` would run it, as far as ``if`` branches go.

    A condition that is a ``[``/``test`` of known words (``[ "$VARIANT" = cpu ]`` with VARIANT
    from an ARG) is evaluated: only the branch it takes runs. A condition that cannot be known
    statically takes the first branch (``then``): replaying every branch would install
    packages that exclude each other. Loops and ``case`` are not evaluated (every command runs).
    """
    frames: list[_Branching] = []
    out: list[bool] = []
    for command in commands:
        words = command.reserved
        depth = command.depth - sum((w in _OPENERS) - (w in _CLOSERS) for w in words)
        while frames and frames[-1].depth > depth:
            frames.pop()  # that `if` ended (its `fi` is no command of its own)
        condition: _Branching | None = None
        for word in words:
            depth += (word in _OPENERS) - (word in _CLOSERS)
            if word == "if":
                frames.append(_Branching(depth))
                condition = frames[-1]
                continue
            frame = frames[-1] if frames and frames[-1].depth == depth else None
            if frame is None:
                continue
            if word == "then":
                frame.enter(frame.condition)
            elif word == "else":
                frame.enter(True)
            elif word == "elif":
                frame.running, frame.condition = not frame.taken, None
                condition = frame
        if condition is not None:
            condition.condition = _test(command)
        out.append(all(f.running for f in frames))
    return tuple(out)


@dataclass
class _Branching:
    """An ``if`` being walked: which branch is running, and whether one already ran."""

    depth: int  # of the commands inside it
    condition: bool | None = None  # the value of the condition just read
    taken: bool = False
    running: bool = True  # the condition itself runs while no earlier branch was taken

    def enter(self, condition: bool | None) -> None:
        take = not self.taken and condition is not False
        self.running = take
        self.taken = self.taken or take


def _test(command: SimpleCommand) -> bool | None:
    """``[ a = b ]``, ``[ a != b ]``, ``[ -n a ]``, ``[ -z a ]``, ``test ...``: True/False, or
    None when it cannot be known (an unknown variable, another operator)."""
    argv = list(command.argv)
    if command.unknown_vars or not argv:
        return None
    if argv in (["true"], [":"], ["false"]):
        return argv[0] != "false"
    if argv[0] in ("[", "[["):
        if argv[-1] not in ("]", "]]"):
            return None
        argv = argv[1:-1]
    elif argv[0] == "test":
        argv = argv[1:]
    else:
        return None
    negate = bool(argv) and argv[0] == "!"
    argv = argv[1:] if negate else argv
    result: bool | None = None
    if len(argv) == 3 and argv[1] in ("=", "==", "!="):
        result = (argv[0] == argv[2]) == (argv[1] != "!=")
    elif len(argv) == 2 and argv[0] in ("-n", "-z"):
        result = bool(argv[1]) == (argv[0] == "-n")
    elif len(argv) == 1:
        result = bool(argv[0])
    return None if result is None else result != negate


def split_commands(
    text: str, location: Location, env: Mapping[str, str] | None = None
) -> tuple[SimpleCommand, ...]:
    """Split ``text`` into simple commands as ``sh`` would, expanding variables from ``env``.

    ``location`` is where ``text`` starts; lines of words and errors count from it.
    Raises :class:`ShellSyntaxError` for an unterminated quote or expansion.
    """
    return _Lexer(text, location, env or {}, operators=True).run()


def expand_words(
    text: str, location: Location, env: Mapping[str, str] | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words of ``text`` with quotes removed and variables expanded, no operators or field
    splitting (as Dockerfile ``ENV``/``ARG``/``FROM`` values are processed).

    Returns the words and the names of variables that had no value.
    """
    lexer = _Lexer(text, location, env or {}, operators=False)
    words: list[str] = []
    unknown: list[str] = []
    while lexer.pos < len(text):
        if text[lexer.pos] in " \t\n":
            lexer.pos += 1
            continue
        word = _Word(lexer.pos)
        while lexer.pos < len(text) and text[lexer.pos] not in " \t\n":
            lexer.read_piece(word)
        words.append(word.literal())
        unknown.extend(word.unknown)
    return tuple(words), tuple(dict.fromkeys(unknown))
