"""The one rule registry of ``check`` and ``audit``: codes, names, severities, selectors.

A rule is a small function over its command's context, registered with :func:`rule`, which
turns it into a :class:`Rule` carrying its name, default severity, one-line description and
the stable code of :mod:`lockaudit.rules.catalog`::

    @rule("from-mismatch", Severity.ERROR, "the final FROM is not the declared parent")
    def from_mismatch(ctx: CheckContext) -> Iterator[Finding]:
        ...
        yield from_mismatch.finding("FROM names ...", location, image=image.key, hint="...")

Inside the body the rule's own name is the :class:`Rule` object, so ``.finding()`` fills in
the name, the code and the default severity (pass ``severity=`` to override it for one
finding). ``check`` rules take a :class:`~lockaudit.rules.context.CheckContext` and run in
:func:`~lockaudit.rules.runner.run_checks`; ``audit`` rules (``command="audit"``) take the
audit's context and are run by :mod:`lockaudit.audit`.

A selector (``--select``, ``--ignore``, ``[tool.lockaudit.audit]``, an inline ignore) is a
code (``LA401``), a code prefix (``LA4``), a name (``install-conflict``) or a name prefix
(``lock-``): :func:`matches`.

Decisions:

* This module stays light (the catalogue and the finding types only): the workspace model
  imports severities from below, and a warm ``check`` answers from its cache without loading a
  rule. :class:`CheckContext`, :func:`run_checks` and the install tracing are loaded on first
  use of their names here (they live in ``context.py``, ``runner.py``, ``installs.py``).
* Built-in rule modules are imported on first use (:func:`registered_rules`), not at import
  time, so rule modules may import from here.
* A rule the catalogue does not know yet registers without a code (a new rule lands before its
  number is assigned); ``docs/rules.md`` lists it as such.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lockaudit.rules.findings import Finding, RuleSpec, Severity

if TYPE_CHECKING:
    from lockaudit.rules.context import CheckContext, Unchecked, distinct_dockerfiles
    from lockaudit.rules.installs import ImageInstalls, Install
    from lockaudit.rules.runner import run_checks

__all__ = [
    "CheckContext",
    "Finding",
    "ImageInstalls",
    "Install",
    "Rule",
    "RuleFunction",
    "RuleSpec",
    "Severity",
    "Unchecked",
    "distinct_dockerfiles",
    "find_rule",
    "matches",
    "register_spec",
    "registered_rules",
    "rule",
    "rule_specs",
    "run_checks",
    "selects_any",
]

C = TypeVar("C")
O = TypeVar("O")  # noqa: E741 - the item type a rule yields (Finding, or the audit's Saving too)

# Modules whose import registers the built-in rules, per command (absolute names).
_BUILTIN_MODULES = {
    "check": (
        "lockaudit.rules.dockerfile",
        "lockaudit.rules.pins",
        "lockaudit.rules.graph",
        "lockaudit.rules.locks",
        "lockaudit.rules.lockroots",
        "lockaudit.rules.coverage",
        "lockaudit.rules.direct",
        "lockaudit.rules.unread",
        "lockaudit.rules.ignores",
        "lockaudit.rules.copies",
    ),
    "audit": (
        "lockaudit.audit.rules",
        "lockaudit.audit.shellrules",
        "lockaudit.audit.baserules",
        "lockaudit.audit.confusion",
        "lockaudit.rules.sources",
    ),
    "build": ("lockaudit.builder.smoke",),
}

# Names re-exported lazily (see the module docstring), with the module that defines them.
_LAZY = {
    "CheckContext": "lockaudit.rules.context",
    "Unchecked": "lockaudit.rules.context",
    "distinct_dockerfiles": "lockaudit.rules.context",
    "ImageInstalls": "lockaudit.rules.installs",
    "Install": "lockaudit.rules.installs",
    "run_checks": "lockaudit.rules.runner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Rule(RuleSpec, Generic[C, O]):
    """A registered rule: its spec and the function that yields its findings."""

    function: Callable[[C], Iterable[O]]

    def __call__(self, ctx: C) -> Iterable[O]:
        return self.function(ctx)


RuleFunction = Callable[["CheckContext"], Iterable[Finding]]

_REGISTRY: dict[str, RuleSpec] = {}


def register_spec(spec: RuleSpec) -> RuleSpec:
    """Register ``spec`` under its name; a name is registered once (by one function)."""
    known = _REGISTRY.get(spec.id)
    if known is not None and known != spec:
        same_function = (
            isinstance(known, Rule) and isinstance(spec, Rule) and known.function is spec.function
        )
        if not same_function:
            raise ValueError(f"rule {spec.id!r} is registered twice")
    _REGISTRY[spec.id] = spec
    return spec


def rule(
    id: str, severity: Severity, description: str, *, command: str = "check"
) -> Callable[[Callable[[C], Iterable[O]]], Rule[C, O]]:
    """Register the decorated function as the rule named ``id``, its code from the catalogue."""

    def register(function: Callable[[C], Iterable[O]]) -> Rule[C, O]:
        from lockaudit.rules.catalog import code_of  # only once rules load, not for a warm check

        made: Rule[C, O] = Rule(
            id, severity, description, function, code=code_of(id), command=command
        )
        register_spec(made)
        return made

    return register


def registered_rules(command: str = "check") -> tuple[Rule[Any, Any], ...]:
    """Every rule function of ``command``, built-in modules loaded, in name order."""
    _load(command)
    found = (s for s in _REGISTRY.values() if s.command == command and isinstance(s, Rule))
    return tuple(sorted(found, key=lambda r: r.id))


def rule_specs() -> tuple[RuleSpec, ...]:
    """Every rule of every command (functions and spec-only rules), in code order; uncoded last."""
    for command in _BUILTIN_MODULES:
        _load(command)
    return tuple(sorted(_REGISTRY.values(), key=lambda s: (not s.code, s.code, s.id)))


def find_rule(name_or_code: str) -> RuleSpec | None:
    """The registered rule with this name or code (built-in modules of both commands loaded)."""
    for spec in rule_specs():
        if name_or_code in (spec.id, spec.code):
            return spec
    return None


def _load(command: str) -> None:
    import importlib.util

    for name in _BUILTIN_MODULES.get(command, ()):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def matches(spec: RuleSpec | Finding, selectors: Iterable[str]) -> bool:
    """Whether a selector names this rule: its code, a code prefix, its name or a name prefix.

    A code prefix is matched case-insensitively (``la4`` is ``LA4``); names are lower case.
    """
    name = spec.id if isinstance(spec, RuleSpec) else spec.rule
    code = spec.code
    for selector in selectors:
        if name == selector or name.startswith(selector):
            return True
        if code and code.startswith(selector.upper()) and _looks_like_code(selector):
            return True
    return False


def selects_any(selector: str, specs: Sequence[RuleSpec]) -> bool:
    return any(matches(spec, (selector,)) for spec in specs)


def _looks_like_code(selector: str) -> bool:
    return len(selector) >= 2 and selector[:2].upper() == "LA" and selector[2:].isdigit()
