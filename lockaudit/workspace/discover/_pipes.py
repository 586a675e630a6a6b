"""The one kind of command substitution discovery evaluates: ``echo VALUE | sed 's/a/b/' …``.

Build files tidy a static value before they paste it into a tag: ``MLRUN_DOCKER_TAG ?= $(shell
echo "$(MLRUN_VERSION)" | sed -E 's/\\+/\\-/g')``. Only a pipeline of one ``echo`` of static words
and ``sed`` substitutions (``s`` commands, ``g`` or no flag, a regex Python reads the same way)
is evaluated; anything else — another command, a sed feature not translated, an unknown value —
is None, and stays unknown to the caller. Nothing is run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lockaudit.errors import InputError, Location
from lockaudit.parsing.shell import SimpleCommand, split_commands
from lockaudit.workspace.discover._facts import UNKNOWN, is_static

# what BRE escapes to make special, and ERE writes bare (GNU sed)
_BRE_SWAPPED = frozenset("+?|(){}")


def echo_sed(body: str, location: Location, env: Mapping[str, str]) -> str | None:
    """The output of the pipeline ``body`` when it is ``echo`` piped into ``sed``s, else None."""
    known = dict(env)
    for match in re.finditer(r"\$(?:\{([A-Za-z_]\w*)|([A-Za-z_]\w*))", body):
        known.setdefault(match.group(1) or match.group(2), UNKNOWN)
    try:
        commands = split_commands(body, location, known)
    except InputError:
        return None
    if len(commands) < 2 or commands[0].argv[:1] != ("echo",):
        return None
    if any(c.separator != "|" for c in commands[:-1]) or commands[-1].separator:
        return None
    words = commands[0].argv[1:]
    if not words or words[0].startswith("-") or not all(is_static(w) for w in words):
        return None
    value: str | None = " ".join(words)
    for command in commands[1:]:
        value = _sed(command, value) if value is not None else None
    return value


def _sed(command: SimpleCommand, value: str) -> str | None:
    argv = list(command.argv)
    if argv[:1] != ["sed"] or command.redirects:
        return None
    extended, scripts = False, []
    rest = argv[1:]
    while rest:
        word = rest.pop(0)
        if word in ("-E", "-r", "--regexp-extended"):
            extended = True
        elif word in ("-e", "--expression") and rest:
            scripts.append(rest.pop(0))
        elif not word.startswith("-") and not scripts:
            scripts.append(word)
        else:
            return None  # a file to read, -n, -i: not the echo's value
    for script in scripts:
        for part in script.split(";"):
            result = _substitute(part.strip(), value, extended)
            if result is None:
                return None
            value = result
    return value


def _substitute(command: str, value: str, extended: bool) -> str | None:
    """``s/pattern/replacement/flags`` applied to ``value``; None when not read."""
    if len(command) < 4 or command[0] != "s" or UNKNOWN in command:
        return None
    delim = command[1]
    pieces = re.split(rf"(?<!\\){re.escape(delim)}", command[2:])
    if len(pieces) != 3 or pieces[2] not in ("", "g"):
        return None
    pattern = _regex(pieces[0].replace("\\" + delim, delim), extended)
    replacement = _replacement(pieces[1].replace("\\" + delim, delim))
    if pattern is None or replacement is None:
        return None
    try:
        return re.sub(pattern, replacement, value, count=0 if pieces[2] == "g" else 1)
    except (re.error, IndexError):
        return None


def _regex(pattern: str, extended: bool) -> str | None:
    """A sed regex in Python's syntax: ERE as it is, BRE with its escaped operators bare."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if not extended and nxt in _BRE_SWAPPED:
                out.append(nxt)
            elif nxt.isdigit() or nxt in "<>`'bBwW":
                return None  # back-references, word boundaries: not translated
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if not extended and ch in _BRE_SWAPPED:
            out.append("\\" + ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _replacement(text: str) -> str | None:
    """A sed replacement in ``re.sub``'s syntax: ``&`` the match, ``\\1`` a group."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt.isdigit():
                out.append(f"\\g<{nxt}>")
            elif nxt == "n":
                out.append("\n")
            elif nxt in "luLUE":
                return None  # GNU case conversion: not translated
            else:
                out.append(nxt.replace("\\", "\\\\"))
            i += 2
            continue
        out.append("\\g<0>" if ch == "&" else ch.replace("\\", "\\\\"))
        i += 1
    return "".join(out)
