"""Image names: valid Docker references, unique in the proposal, stable across runs.

A name the repository gives (a static tag, a compose service, a bake target) is kept when it
is valid. Several Dockerfiles that would get the same name from their folders (``api/`` in
every agent) are told apart by their paths (``smarthome/api``, ``weather/api``): the fewest
trailing path components that make them unique, so that adding an unrelated Dockerfile does not
rename the others.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_NAME = re.compile(rf"{_COMPONENT.pattern}(?:/{_COMPONENT.pattern})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)


def component(text: str) -> str:
    """``text`` as one valid path component of a name (``My_App`` → ``my_app``)."""
    text = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    text = re.sub(r"[._-]*([._-])[._-]*", r"\1", text).strip("._-")
    return text or "image"


def valid_name(name: str) -> str:
    """A valid image name for ``name``, component by component."""
    if _NAME.fullmatch(name):
        return name
    return "/".join(component(part) for part in name.split("/") if part) or "image"


def valid_tag(tag: str) -> str:
    if _TAG.fullmatch(tag):
        return tag
    fixed = re.sub(r"[^\w.-]+", "-", tag, flags=re.ASCII).lstrip(".-")[:128]
    return fixed or "latest"


_GENERIC = frozenset({".", "", "docker", "dockerfiles", "images", "image", "containers"})


def _parts(dockerfile: str) -> list[str]:
    """The path components that can tell a Dockerfile apart (the file's own name counts when
    it is not just ``Dockerfile``)."""
    directory, name = posixpath.split(dockerfile)
    parts = [p for p in directory.split("/") if p not in _GENERIC]
    if name != "Dockerfile":
        stem = re.sub(r"(^Dockerfile[._-]?|[._-]?Dockerfile$)", "", name, flags=re.IGNORECASE)
        if stem:
            parts.append(stem)
    return [component(p) for p in parts] or ["image"]


def by_path(dockerfiles: Iterable[str]) -> dict[str, str]:
    """For Dockerfiles that would share a name: the shortest distinct trailing paths."""
    files = sorted(set(dockerfiles))
    parts = {f: _parts(f) for f in files}
    names: dict[str, str] = {}
    for depth in range(1, max((len(p) for p in parts.values()), default=1) + 1):
        tails = {f: "/".join(parts[f][-depth:]) for f in files if f not in names}
        counts: dict[str, int] = {}
        for tail in [*tails.values(), *names.values()]:
            counts[tail] = counts.get(tail, 0) + 1
        for f, tail in tails.items():
            if counts[tail] == 1:
                names[f] = tail
    for f in files:  # still equal (a/x/Dockerfile and b/a/x/Dockerfile): the whole path
        names.setdefault(f, "/".join(parts[f]) + "/" + component(posixpath.basename(f)))
    return names
