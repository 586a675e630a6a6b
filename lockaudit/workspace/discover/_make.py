"""Makefile rules, as far as discovery needs them to read a ``make <goal>`` run.

A CI step or a script often builds through the Makefile (``make build/base DIRECTORY=base``)
and the Makefile builds through a pattern rule (``build/%:`` whose recipe runs ``docker build
-t $(REPO)$(notdir $@) ./images/$(DIRECTORY)``). Read alone, such a recipe builds nothing
known; read for a goal, its stem, its automatic variables and its target-specific variables
(``build/%: DIRECTORY?=``) are known. This module finds the rule a goal runs and rewrites what
make itself expands (``$@``, ``$*``, ``$(notdir …)``); the recipe is then read as shell.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# `targets: prerequisites` (not `A := b`, not a recipe line); `;` starts an inline recipe
_RULE = re.compile(r"^(?P<targets>[^\s:=#][^:=#]*?)\s*(?P<colons>::?)(?!=)\s*(?P<rest>.*)$")
_SPECIFIC = re.compile(r"^(?:export\s+|override\s+)*[A-Za-z_][\w.-]*\s*(?:\?=|:=|::=|\+=|=)")
_FUNCTION = re.compile(r"\$\((notdir|dir|basename|suffix|strip)\s+([^$()]*)\)")
Lines = Sequence[tuple[int, str]]


@dataclass(frozen=True)
class Rule:
    """The rule a goal runs: its recipe lines, the stem a pattern matched (``base`` of
    ``build/base`` on ``build/%``; None for an explicit rule) and the target-specific variable
    assignments that apply, in the Makefile's order."""

    goal: str
    recipe: tuple[tuple[int, str], ...]
    stem: str | None
    specific: tuple[tuple[int, str], ...]
    line: int


def find_rule(lines: Lines, goal: str) -> Rule | None:
    """The rule ``goal`` runs: an explicit rule first, else the pattern rule with the
    shortest stem (GNU make's choice); None when no rule with a recipe matches."""
    explicit: Rule | None = None
    patterns: list[Rule] = []
    specific: list[tuple[int, str]] = []
    for index, (number, text) in enumerate(lines):
        match = None if text.startswith("\t") else _RULE.match(text)
        if match is None:
            continue
        targets = match.group("targets").split()
        stems = [_stem(target, goal) for target in targets]
        if all(stem is None for stem in stems):
            continue
        rest = match.group("rest")
        if _SPECIFIC.match(rest):
            specific.append((number, rest))
            continue
        stem = next(s for s in stems if s is not None)
        recipe = _recipe(lines, index + 1, rest)
        if not recipe:
            continue
        rule = Rule(goal, recipe, stem or None, (), number)
        if rule.stem is None:
            explicit = explicit or rule
        else:
            patterns.append(rule)
    chosen = explicit or min(patterns, key=lambda r: len(r.stem or ""), default=None)
    if chosen is None:
        return None
    return Rule(chosen.goal, chosen.recipe, chosen.stem, tuple(specific), chosen.line)


def _stem(target: str, goal: str) -> str | None:
    """"" for an explicit match, the stem for a pattern match (never empty), else None."""
    if "%" not in target:
        return "" if target == goal else None
    before, _, after = target.partition("%")
    if len(goal) > len(before) + len(after) and goal.startswith(before) and goal.endswith(after):
        return goal[len(before) : len(goal) - len(after)]
    return None


def _recipe(lines: Lines, start: int, rest: str) -> tuple[tuple[int, str], ...]:
    """The recipe lines after a rule line (tab-led; blank and comment lines between them)."""
    out: list[tuple[int, str]] = []
    inline = rest.partition(";")[2]
    if inline.strip():
        out.append((lines[start - 1][0], "\t" + inline.strip()))
    for number, text in lines[start:]:
        if text.startswith("\t"):
            out.append((number, text))
        elif text.strip() and not text.lstrip().startswith("#"):
            break
    return tuple(out)


def automatic(text: str, rule: Rule) -> str:
    """``text`` with what make expands before the shell sees it: ``$@``, ``$*`` (and their
    ``F``/``D`` forms), then ``$(notdir …)`` and its kin over static words."""
    stem = rule.stem or ""
    values = {"@": rule.goal, "*": stem, "@F": posixpath.basename(rule.goal),
              "@D": posixpath.dirname(rule.goal) or ".", "*F": posixpath.basename(stem)}
    text = re.sub(r"(?<!\$)\$\(([@*][FD]?)\)|(?<!\$)\$([@*])",
                  lambda m: values[m.group(1) or m.group(2)], text)
    previous = None
    while previous != text:  # innermost first: $(notdir $(basename x))
        previous, text = text, _FUNCTION.sub(_apply, text)
    return text


def _apply(match: re.Match[str]) -> str:
    words = match.group(2).split()
    functions: dict[str, Callable[[str], str]] = {
        "notdir": posixpath.basename,
        "dir": lambda w: (posixpath.dirname(w) or ".") + "/",
        "basename": lambda w: posixpath.splitext(w)[0],
        "suffix": lambda w: posixpath.splitext(w)[1],
        "strip": lambda w: w,
    }
    return " ".join(functions[match.group(1)](word) for word in words)
