"""Compose files (``docker-compose*.yml``, ``compose*.yaml``): one fact per service that builds.

Per service: ``build`` (a context, or ``context``, ``dockerfile``, ``args``, ``target``,
``additional_contexts``, ``tags``), ``image``, ``profiles`` and ``extends`` of a service of the
same file. Paths are relative to the compose file's directory, the Dockerfile to the context.
Variables are interpolated as compose does, from the ``.env`` file beside the compose file;
``${VAR:-default}`` without a value gives its default, and a variable nobody sets makes the value
unknown (dropped, never pasted into a name).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from pathlib import Path

from yaml.nodes import Node

from lockaudit.errors import Location
from lockaudit.workspace.discover import _yaml
from lockaudit.workspace.discover._facts import (
    UNKNOWN,
    BuildFact,
    is_static,
    static_args,
    static_ref,
)

_VARIABLE = re.compile(
    r"\$(?:\$|(?P<bare>[A-Za-z_]\w*)|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)
_REMOTE_CONTEXT = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@)|\.git(?:#.*)?$")
_Service = dict[str, Node]


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose interpolation; what cannot be known becomes :data:`UNKNOWN`."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("bare") or match.group("name")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op is None or op.endswith("?"):
            return UNKNOWN if current is None else current
        if op.endswith("-"):
            return interpolate(arg, env) if unset else str(current)
        return "" if unset else interpolate(arg, env)  # `+`: the word when set

    return _VARIABLE.sub(value, text)


def _dotenv(root: Path, directory: str) -> dict[str, str]:
    """``KEY=value`` lines of the ``.env`` beside the compose file (compose reads it)."""
    try:
        text = (root / directory / ".env").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    env: dict[str, str] = {}
    for raw in text.splitlines():
        key, eq, value = raw.strip().removeprefix("export ").partition("=")
        if eq and re.fullmatch(r"[A-Za-z_]\w*", key.strip()) and not raw.lstrip().startswith("#"):
            env[key.strip()] = value.strip().strip("'\"")
    return env


def _extended(
    services: dict[str, Node], name: str, seen: frozenset[str]
) -> tuple[_Service, _Service]:
    """A service's keys and its ``build`` keys, with ``extends: {service: …}`` of the same file
    merged underneath (the service's own keys win, as compose merges them)."""
    own = _yaml.mapping(services.get(name))
    own_build = _build_keys(own.get("build"))
    extends = own.get("extends")
    base_name = _yaml.scalar(extends) or _yaml.scalar(_yaml.mapping(extends).get("service"))
    if base_name is None or base_name in seen or _yaml.mapping(extends).get("file") is not None:
        return own, own_build
    base, base_build = _extended(services, base_name, seen | {name})
    return {**base, **own}, {**base_build, **own_build}


def _build_keys(node: Node | None) -> _Service:
    """``build: ./dir`` is ``build: {context: ./dir}``."""
    if _yaml.scalar(node) is not None and node is not None:
        return {"context": node}
    return _yaml.mapping(node)


def scan_compose(root: Path, path: str) -> list[BuildFact]:
    """One fact per service with a ``build`` (plus one per extra ``build.tags`` entry)."""
    doc = _yaml.mapping(_yaml.load(root, path))
    services_node = doc.get("services")
    services = _yaml.mapping(services_node)
    lines = _yaml.key_lines(services_node)
    base = posixpath.dirname(path)
    env = _dotenv(root, base)
    facts: list[BuildFact] = []
    for name in services:
        service, build = _extended(services, name, frozenset())
        location = Location(path, lines.get(name, 1))
        facts += _service_facts(name, service, build, base, env, location)
    return facts


def _service_facts(
    name: str,
    service: _Service,
    build: _Service,
    base: str,
    env: dict[str, str],
    location: Location,
) -> list[BuildFact]:
    if not build or "dockerfile_inline" in build:
        return []
    context = interpolate(_yaml.scalar(build.get("context")) or ".", env)
    dockerfile = interpolate(_yaml.scalar(build.get("dockerfile")) or "Dockerfile", env)
    if not is_static(context + dockerfile) or _REMOTE_CONTEXT.search(context):
        return []
    context = posixpath.normpath(posixpath.join(base, context))
    args, arg_lines = static_args(
        [(k, interpolate(v, env), n) for k, v, n in _yaml.pairs(build.get("args"))]
    )
    contexts = tuple(
        (k, posixpath.normpath(posixpath.join(base, interpolate(v, env))))
        for k, v, _ in _yaml.pairs(build.get("additional_contexts"))
        if is_static(interpolate(v, env))
    )
    target = interpolate(_yaml.scalar(build.get("target")) or "", env)
    refs = [
        interpolate(text, env)
        for text, _ in [*_yaml.strings(service.get("image")), *_yaml.strings(build.get("tags"))]
    ]
    fact = BuildFact(
        dockerfile=posixpath.normpath(posixpath.join(context, dockerfile)),
        ref=None,
        context=context,
        location=location,
        build_args=args,
        arg_lines=arg_lines,
        source=f"compose service {name}",
        name=name,
        target=target if target and is_static(target) else None,
        contexts=contexts,
        profiles=tuple(p for p, _ in _yaml.strings(service.get("profiles"))),
    )
    known = [ref for text in refs if (ref := static_ref(text)) is not None]
    return [replace(fact, ref=ref) for ref in known] or [fact]
