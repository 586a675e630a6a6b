"""YAML read as a node tree (PyYAML's safe composer), so every value keeps its line.

Compose files and CI workflows need line numbers for the facts they give, which plain
``yaml.safe_load`` drops. Anchors are shared nodes already; merge keys (``<<: *base``) are
applied here. Nothing is constructed from tags: unknown tags (``!reference``) stay scalars.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class _Loader(yaml.SafeLoader):
    """The safe loader; the node tree is all we take from it."""


def load(root: Path, path: str) -> Node | None:
    """The document's root node, or None when the file cannot be read as YAML."""
    try:
        text = (root / path).read_text(encoding="utf-8", errors="replace")
        return yaml.compose(text, Loader=_Loader)
    except (OSError, yaml.YAMLError, RecursionError):
        return None


def line(node: Node) -> int:
    """The 1-based line a node starts on; a block scalar (``|``) starts on the next one."""
    start = node.start_mark.line + 1
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        return start + 1
    return start


def mapping(node: Node | None, _seen: frozenset[int] = frozenset()) -> dict[str, Node]:
    """A mapping's entries by key, merge keys applied (explicit keys win), else empty. A
    mapping that merges itself (``x: &x {<<: *x}``) is read without its own merge."""
    if not isinstance(node, MappingNode) or id(node) in _seen:
        return {}
    merged: dict[str, Node] = {}
    own: dict[str, Node] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            continue
        if key.tag == "tag:yaml.org,2002:merge" or key.value == "<<":
            bases = value.value if isinstance(value, SequenceNode) else [value]
            for base in bases:
                for name, item in mapping(base, _seen | {id(node)}).items():
                    merged.setdefault(name, item)
        else:
            own[str(key.value)] = value
    return {**merged, **own}


def scalar(node: Node | None) -> str | None:
    """A scalar's text (numbers and booleans as written), else None."""
    if isinstance(node, ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return str(node.value)
    return None


def sequence(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def strings(node: Node | None) -> list[tuple[str, int]]:
    """A scalar or a list of scalars, each with its line (``profiles``, ``tags``)."""
    text = scalar(node)
    if text is not None and node is not None:
        return [(text, line(node))]
    return [(s, line(item)) for item in sequence(node) if (s := scalar(item)) is not None]


def pairs(node: Node | None) -> list[tuple[str, str, int]]:
    """``KEY: value`` mapping or ``- KEY=value`` list entries, with their lines."""
    out: list[tuple[str, str, int]] = []
    if isinstance(node, MappingNode):
        for key, value in mapping(node).items():
            text = scalar(value)
            if text is not None:
                out.append((key, text, line(value)))
    for item in sequence(node):
        text = scalar(item)
        if text is not None and "=" in text:
            key, _, word = text.partition("=")
            out.append((key.strip(), word, line(item)))
    return out


def key_lines(node: Node | None) -> dict[str, int]:
    """The line of each key of a mapping (where ``api:`` of a compose service is written)."""
    if not isinstance(node, MappingNode):
        return {}
    return {
        str(key.value): key.start_mark.line + 1
        for key, _ in node.value
        if isinstance(key, ScalarNode)
    }
