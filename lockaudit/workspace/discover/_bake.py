"""Bake files (``docker-bake.hcl``, ``docker-bake.json``): one fact per target (per matrix
combination of a target with a ``matrix``).

Per target: ``context``, ``dockerfile`` (relative to the context), ``args``, ``tags``,
``target``, ``contexts`` and ``inherits``. ``${VAR}`` takes the default of ``variable "VAR"``;
a function call or a variable without a default is unknown (never a name). A named context
``target:base`` stands for the image the ``base`` target builds.
"""

from __future__ import annotations

import itertools
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lockaudit.errors import Location
from lockaudit.workspace.discover._facts import (
    UNKNOWN,
    BuildFact,
    is_static,
    static_args,
    static_ref,
)

_INTERPOLATION = re.compile(r"\$\{\s*([^}]*?)\s*\}")
_MAX_COMBINATIONS = 256
_Target = dict[str, Any]


@dataclass(frozen=True)
class _Bake:
    variables: dict[str, str]
    targets: dict[str, _Target]
    lines: dict[str, int]  # target name -> the line its block starts on
    text: str


def _read(root: Path, path: str) -> _Bake | None:
    try:
        text = (root / path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    data = _load_json(text) if path.endswith(".json") else _load_hcl(text)
    if data is None:
        return None
    variables = {
        name: str(spec["default"])
        for name, spec in _blocks(data.get("variable")).items()
        if isinstance(spec, dict) and isinstance(spec.get("default"), str | int | float)
    }
    targets = {n: t for n, t in _blocks(data.get("target")).items() if isinstance(t, dict)}
    lines = {name: _block_line(text, name) for name in targets}
    return _Bake(variables, targets, lines, text)


def _load_json(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _load_hcl(text: str) -> dict[str, Any] | None:
    import hcl2  # imported here: only a repository with a bake file pays for the parser
    from hcl2.utils import SerializationOptions

    try:
        data = hcl2.loads(text, serialization_options=SerializationOptions(
            with_comments=False, strip_string_quotes=True,
        ))
    except Exception:  # the parser raises many kinds: any of them means unreadable
        return None
    return data if isinstance(data, dict) else None


def _blocks(value: Any) -> dict[str, Any]:
    """HCL gives a list of ``{name: body}``; JSON a mapping ``{name: body}``."""
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict):
            for name, body in item.items():
                out[str(name).strip('"')] = body
    return out


def _block_line(text: str, name: str) -> int:
    match = re.search(rf'^\s*(?:target\s+"{re.escape(name)}"|"{re.escape(name)}"\s*:)', text,
                      re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 + (match.group(0).count("\n")) if match else 1


def _line_after(text: str, start: int, key: str) -> int:
    """The first line at or after ``start`` that sets ``key`` (an arg of a target)."""
    for number, line in enumerate(text.splitlines()[start - 1 :], start=start):
        if re.match(rf'^\s*"?{re.escape(key)}"?\s*[=:]', line):
            return number
    return start


def _value(text: object, env: Mapping[str, str]) -> str:
    """``${VAR}`` interpolated; a function call or an unset variable becomes unknown."""
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        return UNKNOWN
    return _INTERPOLATION.sub(lambda m: env.get(m.group(1), UNKNOWN), str(text))


def _inherited(targets: dict[str, _Target], name: str, seen: frozenset[str]) -> _Target:
    own = targets.get(name, {})
    merged: _Target = {}
    for base in own.get("inherits", []) if isinstance(own.get("inherits"), list) else []:
        if isinstance(base, str) and base not in seen:
            merged.update(_inherited(targets, base, seen | {name}))
    return {**merged, **own}


def _combinations(target: _Target) -> list[dict[str, str]]:
    matrix = target.get("matrix")
    if not isinstance(matrix, dict):
        return [{}]
    axes = [[(k, str(v)) for v in values] for k, values in matrix.items()
            if isinstance(values, list)]
    combos = [dict(c) for c in itertools.islice(itertools.product(*axes), _MAX_COMBINATIONS)]
    return combos or [{}]


def scan_bake(root: Path, path: str) -> list[BuildFact]:
    bake = _read(root, path)
    if bake is None:
        return []
    facts: list[BuildFact] = []
    first_tags: dict[str, str] = {}
    for name in bake.targets:
        target = _inherited(bake.targets, name, frozenset())
        for combo in _combinations(target):
            for fact in _target_facts(path, bake, name, target, {**bake.variables, **combo}):
                facts.append(fact)
                if fact.ref is not None:
                    first_tags.setdefault(name, fact.ref.text)
    return [_named_contexts(fact, first_tags) for fact in facts]


def _target_facts(
    path: str, bake: _Bake, name: str, target: _Target, env: dict[str, str]
) -> list[BuildFact]:
    base = posixpath.dirname(path)
    context = _value(target.get("context", "."), env)
    dockerfile = _value(target.get("dockerfile", "Dockerfile"), env)
    if not is_static(context + dockerfile) or "://" in context:
        return []
    context = posixpath.normpath(posixpath.join(base, context))
    line = bake.lines.get(name, 1)
    raw_args = target.get("args") if isinstance(target.get("args"), dict) else {}
    args, arg_lines = static_args([
        (str(k), _value(v, env), _line_after(bake.text, line, str(k)))
        for k, v in (raw_args or {}).items()
    ])
    raw_contexts = target.get("contexts") if isinstance(target.get("contexts"), dict) else {}
    contexts = tuple(
        (str(k), value) for k, v in (raw_contexts or {}).items()
        if is_static(value := _value(v, env))
    )
    tags = target.get("tags") if isinstance(target.get("tags"), list) else []
    fact = BuildFact(
        dockerfile=posixpath.normpath(posixpath.join(context, dockerfile)),
        ref=None,
        context=context,
        location=Location(path, line),
        build_args=args,
        arg_lines=arg_lines,
        source=f"bake target {name}",
        name=_static_or_none(_value(target.get("name", name), env) if "matrix" in target else name),
        target=_value(target["target"], env) if "target" in target else None,
        contexts=contexts,
    )
    refs = [ref for tag in tags or [] if (ref := static_ref(_value(tag, env))) is not None]
    return [replace(fact, ref=ref) for ref in refs] or [fact]


def _static_or_none(text: str) -> str | None:
    return text if text and is_static(text) else None


def _named_contexts(fact: BuildFact, first_tags: Mapping[str, str]) -> BuildFact:
    """``contexts = {base = "target:base"}``: the image the ``base`` target is tagged with."""
    contexts = tuple(
        (key, f"docker-image://{first_tags[value[7:]]}")
        if value.startswith("target:") and value[7:] in first_tags else (key, value)
        for key, value in fact.contexts
    )
    return replace(fact, contexts=contexts) if contexts != fact.contexts else fact
